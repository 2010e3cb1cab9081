"""Face crops for training: a folder's crops come from the one face pipeline (ageapp.faces): known landmarks
-> aligned; face chips (`--aligned`, and always for formats whose images are chips, such as UTKFace) ->
`face_from_aligned_crop`; photos -> the largest detected face. Crops (112 x 96 BGR uint8, on the run's face
template) are cached in a .npz keyed by the folder, format, detector and template, and indexed by each file's
content hash, so a second run skips detection. A project's stored crops are decoded (and converted to the
template) instead, never cached.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from trainer.samples import Sample


CROP_H, CROP_W = 112, 96


PIPELINE_VERSION = 2  # bump when the crops a given file produces change (2: chips cropped from the chip itself)


_WORKER_DETECTOR = None


def _init_worker(detector_path):
    global _WORKER_DETECTOR
    from ageapp.faces.detection import make_detector

    _WORKER_DETECTOR = make_detector(detector_path)


def _crop_one(job) -> np.ndarray | None:
    """The aligned crop of one file, or None (no face / unreadable)."""
    path, landmarks, aligned, template = job
    from ageapp.faces.alignment import detect_faces, face_from_aligned_crop, face_from_landmarks
    from ageapp.faces.images import ImageError, load_image

    try:
        image = load_image(path)
    except ImageError:
        return None
    if landmarks is not None:
        return face_from_landmarks(image, landmarks, "annotation", template).crop
    if aligned:
        return face_from_aligned_crop(image, _WORKER_DETECTOR, template).crop
    faces = detect_faces(image, _WORKER_DETECTOR, template)
    return faces[0].crop if faces else None


def default_cache_dir() -> Path:
    return Path(os.environ.get("AGEAPP_CACHE_DIR", Path.home() / ".cache" / "ageapp" / "crops"))


def detector_identity(detector_path: str | None) -> str:
    from ageapp.faces.detection import make_detector

    detector = make_detector(detector_path)
    return f"{detector.name}:{getattr(detector, 'model_path', '')}", detector.notice


def cache_file(cache_dir: Path, source_identity: str, detector_id: str, template: str) -> Path:
    key = hashlib.sha1(f"{source_identity}|{detector_id}|{template}|v{PIPELINE_VERSION}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"crops-{key}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray | None]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            crops = data["crops"]
            found = {str(k): crops[i] for i, k in enumerate(data["keys"])}
            found.update({str(k): None for k in data["no_face"]})
            return found
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache is rebuilt


def _write_cache(path: Path, table: dict[str, np.ndarray | None]) -> None:
    keys = sorted(k for k, v in table.items() if v is not None)
    crops = np.stack([table[k] for k in keys]) if keys else np.zeros((0, CROP_H, CROP_W, 3), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, keys=np.array(keys, dtype="U40"), crops=crops,
             no_face=np.array(sorted(k for k, v in table.items() if v is None), dtype="U40"))
    os.replace(tmp, path)


@dataclass
class CropSet:
    """Samples with a face, their crops (N, 112, 96, 3) uint8 BGR, and the samples without one."""

    samples: list[Sample]
    crops: torch.Tensor
    no_face: list[Sample]


def build_crops(samples: Sequence[Sample], source_identity: str, detector_path: str | None = None,
                aligned: bool = False, cache_dir: str | Path | None = None, workers: int = 0,
                progress: Callable = lambda it, **kw: it, log: Callable[[str], None] = print,
                template: str | None = None) -> CropSet:
    """Crops for the samples, on the named face template (default: the current one): stored ones (a
    project's) decoded, and converted where they were made with another template; the others from the
    cache where present, computed (and cached) otherwise."""
    from ageapp.faces.alignment import CURRENT_TEMPLATE

    template = template or CURRENT_TEMPLATE
    table = stored_crops([s for s in samples if s.crop_bytes is not None], template)
    files = [s for s in samples if s.crop_bytes is None]
    if files:
        table.update(_file_crops(files, source_identity, detector_path, aligned, cache_dir, workers, progress, log,
                                 template))
    with_face = [s for s in samples if table.get(s.key) is not None]
    crops = np.stack([table[s.key] for s in with_face]) if with_face else np.zeros((0, CROP_H, CROP_W, 3), np.uint8)
    return CropSet(with_face, torch.from_numpy(np.ascontiguousarray(crops)),
                   [s for s in samples if table.get(s.key) is None])


def stored_crops(samples: Sequence[Sample], template: str) -> dict[str, np.ndarray]:
    """Decode stored crops (112 x 96 BGR; another size is resized; another template converted). A crop that
    does not decode stops the run with the image named: the project is damaged there, and `ageapp check
    --repair` crops it again."""
    import cv2

    from ageapp.faces.alignment import LEGACY_TEMPLATE, convert_crop, decode_crop

    table = {}
    for sample in samples:
        try:
            crop = decode_crop(sample.crop_bytes)
        except ValueError:
            raise ValueError(
                f"the stored face crop of {sample.path} is damaged and cannot be decoded: run "
                f"`ageapp check --repair {sample.project or 'PROJECT'}` to crop it again from its image file, "
                "then train again"
            ) from None
        if crop.shape[:2] != (CROP_H, CROP_W):
            crop = cv2.resize(crop, (CROP_W, CROP_H), interpolation=cv2.INTER_AREA)
        table[sample.key] = convert_crop(crop, sample.crop_template or LEGACY_TEMPLATE, template)
    return table


def _file_crops(samples, source_identity, detector_path, aligned, cache_dir, workers, progress, log, template):
    detector_id, notice = detector_identity(detector_path)
    log(notice)
    path = cache_file(Path(cache_dir) if cache_dir else default_cache_dir(), source_identity, detector_id, template)
    table = _read_cache(path)
    todo = list({s.key: s for s in samples if s.key not in table}.values())
    if table:
        log(f"crop cache {path}: {len(samples) - len(todo)} of {len(samples)} crops found")
    if todo:
        jobs = [(s.path, s.landmarks, aligned or s.aligned, template) for s in todo]
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers, _init_worker, (detector_path,)) as pool:
                results = list(progress(pool.imap(_crop_one, jobs, chunksize=16), total=len(jobs),
                                        desc="face crops"))
        else:
            _init_worker(detector_path)
            results = [_crop_one(job) for job in progress(jobs, total=len(jobs), desc="face crops")]
        for sample, crop in zip(todo, results):
            table[sample.key] = crop
        try:
            _write_cache(path, table)
            log(f"crop cache written: {path}")
        except OSError as error:
            log(f"could not write the crop cache {path}: {error}")
    return table
