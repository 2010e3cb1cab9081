"""De-duplication by content and seeded splits (by subject where the data has subjects): training, validation
(best.pt is chosen on it) and calibration (the posterior's calibration is fitted on it after training), and
the split file that keeps the held-out parts for `evaluate --split-file` and `calibrate --split-file`.

A checkpoint also keeps its split (a digest of each face's content key and its part): a run started from it
(`--init`) inherits it, so that a fine-tuning never trains on the faces its starting model was validated or
calibrated on, nor validates or calibrates on faces that model trained on (`inherit_split`; but for a subject
it had on both sides, held out whole).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from trainer.samples import Sample


def deduplicate(samples: Sequence[Sample]) -> tuple[list[Sample], int]:
    """Keep the first sample of each content hash; returns (unique, number dropped)."""
    seen, unique = set(), []
    for sample in samples:
        if sample.key not in seen:
            seen.add(sample.key)
            unique.append(sample)
    return unique, len(samples) - len(unique)


def split_samples(samples: Sequence[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Seeded split; samples of one subject (FG-NET style) always land on the same side."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"--val-split must be between 0 and 1, got {val_fraction}")
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        group = f"subject:{sample.subject}" if sample.subject is not None else f"file:{sample.key}"
        groups.setdefault(group, []).append(sample)
    names = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(names))
    wanted = int(round(val_fraction * len(samples)))
    val_groups, count = set(), 0
    for i in order:
        if count >= wanted:
            break
        val_groups.add(names[i])
        count += len(groups[names[i]])
    train = [s for s in samples if _group(s) not in val_groups]
    val = [s for s in samples if _group(s) in val_groups]
    return train, val


def _group(sample: Sample) -> str:
    return f"subject:{sample.subject}" if sample.subject is not None else f"file:{sample.key}"


def split_calibration(held_out: Sequence[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(validation, calibration): a seeded share of the held-out part, by subject like the split itself, kept
    for fitting the posterior's calibration after training (never trained on, never used to pick best.pt)."""
    if fraction <= 0 or len(held_out) < 2:
        return list(held_out), []
    if fraction >= 1:
        raise ValueError(f"--calib-split must be below 1 (a share of the held-out part), got {fraction}")
    validation, calibration = split_samples(held_out, fraction, seed + 1)
    return validation, calibration


SPLIT_PARTS = ("val", "calibration")
TRAIN, VAL, CALIBRATION = 0, 1, 2  # a face's part in a recorded split


def key_digest(key: str) -> bytes:
    """The 20 bytes a recorded split keeps of a face's content key."""
    return hashlib.sha1(key.encode()).digest()


def split_parts(train: Sequence[Sample], val: Sequence[Sample], calibration: Sequence[Sample]) -> dict[bytes, int]:
    """{key digest: TRAIN / VAL / CALIBRATION} of a run's split (what its checkpoints record)."""
    return {key_digest(s.key): part for part, samples in ((TRAIN, train), (VAL, val), (CALIBRATION, calibration))
            for s in samples}


def recorded_parts(samples: Sequence[Sample], recorded: dict[bytes, int]) -> list[int | None]:
    """Each sample's part in a recorded split, by subject: a subject with a face the record held out is held
    out whole (validation before calibration), even its faces the record trained on, so that no face of it
    is ever trained on; None for a subject the record does not know."""
    return _by_subject(samples, [recorded.get(key_digest(s.key)) for s in samples])


def _by_subject(samples: Sequence[Sample], own: list[int | None]) -> list[int | None]:
    """`recorded_parts` from each sample's own recorded part (None: not recorded)."""
    groups: dict[str, set[int]] = {}
    for sample, part in zip(samples, own):
        known = groups.setdefault(_group(sample), set())
        if part is not None:
            known.add(part)
    part_of = {name: (VAL if VAL in known else CALIBRATION if CALIBRATION in known else TRAIN) if known else None
               for name, known in groups.items()}
    return [part_of[_group(sample)] for sample in samples]


def inherit_split(samples: Sequence[Sample], recorded: dict[bytes, int], val_fraction: float, calib_fraction: float,
                  seed: int) -> tuple[list[Sample], list[Sample], list[Sample], dict]:
    """(train, validation, calibration) that keep a starting checkpoint's split: faces it recorded stay in
    their part (by subject: `recorded_parts`), the others (subjects new to it) are split as usual (seeded, by
    subject). The dict counts the faces placed by the record in each part, those of them moved out of their
    recorded part to follow their subject ("moved"), and the new ones ("new")."""
    own = [recorded.get(key_digest(s.key)) for s in samples]
    parts: list[list[Sample]] = [[], [], []]
    new: list[Sample] = []
    placed = _by_subject(samples, own)
    for sample, part in zip(samples, placed):
        (new if part is None else parts[part]).append(sample)
    moved = sum(mine is not None and mine != part for mine, part in zip(own, placed))
    counts = {"train": len(parts[TRAIN]), "val": len(parts[VAL]), "calibration": len(parts[CALIBRATION]),
              "moved": moved, "new": len(new)}
    order = {id(s): i for i, s in enumerate(samples)}  # each part in the data's own order
    if new:
        new_train, new_held_out = split_samples(new, val_fraction, seed)
        new_val, new_calibration = split_calibration(new_held_out, calib_fraction, seed)
        for part, extra in ((TRAIN, new_train), (VAL, new_val), (CALIBRATION, new_calibration)):
            parts[part] += extra
    train, val, calibration = (sorted(part, key=lambda s: order[id(s)]) for part in parts)
    return train, val, calibration, counts


def save_split(path: str | Path, val: Sequence[Sample], calibration: Sequence[Sample] = (), **info) -> None:
    """The held-out part as {key, path} rows, for `evaluate --split-file` ("val") and `calibrate
    --split-file` ("calibration")."""
    rows = lambda samples: [{"key": s.key, "path": s.path} for s in samples]  # noqa: E731
    payload = {"kind": "ageapp-heldout-split", "version": 2, **info, "val": rows(val),
               "calibration": rows(calibration)}
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def load_split_keys(path: str | Path, part: str = "val") -> set[str]:
    """The content keys of one part of a split file ("val" or "calibration")."""
    if part not in SPLIT_PARTS:
        raise ValueError(f"unknown split part {part!r}: choose one of {', '.join(SPLIT_PARTS)}")
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read as a split file ({error})") from None
    if not isinstance(payload, dict) or payload.get("kind") != "ageapp-heldout-split":
        raise ValueError(f"{path} is not a split file written by `python -m trainer train`")
    rows = payload.get(part) or []
    if part == "calibration" and not rows:
        raise ValueError(f"{path} has no calibration part (written before calibration existed): calibrate on "
                         "other labelled faces the model never trained on")
    return {row["key"] for row in rows if isinstance(row, dict) and "key" in row}
