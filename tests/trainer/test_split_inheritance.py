"""A checkpoint records its split, and a run started from it keeps it: a fine-tuning with another --seed never
trains on the faces its starting model was validated or calibrated on (and never holds out what it trained on)."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ageapp.core.model_description import FORMAT
from trainer.__main__ import main
from trainer.checkpoint import CheckpointError, encode_split, recorded_split, safe_load
from trainer.config import TrainConfig
from trainer.samples import make_source
from trainer.samples import Sample
from trainer.splits import CALIBRATION, TRAIN, VAL, inherit_split, key_digest, split_parts
from trainer.train import prepare_samples, starting_split

from .conftest import write_utkface_folder


def faces(n, subjects=None):
    return [Sample(f"key{i}", f"p{i}", age=i, subject=None if subjects is None else str(i % subjects))
            for i in range(n)]


def test_recorded_faces_keep_their_part_and_new_ones_are_split_at_the_fractions():
    samples = faces(60)
    recorded = {key_digest(s.key): part for s, part in zip(samples[:12], [TRAIN, VAL, CALIBRATION] * 4)}
    train, val, calibration, kept = inherit_split(samples, recorded, 0.5, 0.5, seed=7)
    assert kept == {"train": 4, "val": 4, "calibration": 4, "moved": 0, "new": 48}
    for s, part in zip(samples[:12], [TRAIN, VAL, CALIBRATION] * 4):
        assert s in (train, val, calibration)[part]
    # the 48 new faces: half held out (24), half of those for calibration (12), as split_samples rounds
    assert (len(train), len(val), len(calibration)) == (4 + 24, 4 + 12, 4 + 12)
    assert sorted(s.key for s in train + val + calibration) == sorted(s.key for s in samples)
    assert [s.key for s in train] == [s.key for s in samples if s in train]  # the data's own order


def test_a_subject_the_checkpoint_held_out_is_never_trained_on():
    samples = faces(20, subjects=5)  # subject "1": keys 1, 6, 11, 16
    recorded = {key_digest("key1"): TRAIN, key_digest("key6"): CALIBRATION, key_digest("key11"): VAL,
                key_digest("key2"): TRAIN}
    train, val, calibration, _ = inherit_split(samples, recorded, 0.2, 0.25, seed=0)
    assert {s.key for s in val} >= {"key1", "key6", "key11", "key16"}  # validation before calibration
    assert {s.key for s in train} >= {"key2", "key7", "key12", "key17"}  # subject "2" trained on: all of it


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.sampled_from([None, TRAIN, VAL, CALIBRATION]), min_size=2, max_size=40),
       subjects=st.one_of(st.none(), st.integers(1, 8)), seed=st.integers(0, 1000))
def test_no_face_held_out_by_the_record_is_trained_on(parts, subjects, seed):
    samples = faces(len(parts), subjects)
    recorded = {key_digest(s.key): p for s, p in zip(samples, parts) if p is not None}
    train, val, calibration, counts = inherit_split(samples, recorded, 0.3, 0.25, seed)
    assert sorted(s.key for s in train + val + calibration) == sorted(s.key for s in samples)
    held_out_subjects = {s.subject for s, p in zip(samples, parts) if p in (VAL, CALIBRATION)}
    for s, p in zip(samples, parts):
        if subjects is None and p is not None:  # no subjects: every recorded face exactly where it was
            assert s in (train, val, calibration)[p]
        if p in (VAL, CALIBRATION) or (subjects is not None and s.subject in held_out_subjects):
            assert s not in train
    placed = (train, val, calibration)
    assert counts["moved"] == sum(p is not None and s not in placed[p] for s, p in zip(samples, parts))
    assert {s.subject for s in train}.isdisjoint({s.subject for s in val + calibration}) or subjects is None


def test_with_a_val_folder_the_records_held_out_subjects_are_left_out_of_training(tmp_path):
    data = write_utkface_folder(tmp_path / "utk", n=12)
    other = write_utkface_folder(tmp_path / "val", n=6, seed=9)
    for extra in other.iterdir():
        extra.rename(other / extra.name.replace("_20170101", "_20190101"))
    config = TrainConfig(data=str(data), format="utkface", aligned=True, val=str(other))
    names = sorted(p.name for p in data.iterdir())
    samples, _ = make_source(str(data), "utkface", True).samples()
    key_of = {s.path.rsplit("/", 1)[-1]: s.key for s in samples}
    recorded = {key_digest(key_of[names[0]]): VAL, key_digest(key_of[names[1]]): CALIBRATION,
                key_digest(key_of[names[2]]): TRAIN}
    said = []
    train, val, calibration, _, _ = prepare_samples(config, said.append, lambda it, desc="": it, recorded)
    assert sorted(s.path.rsplit("/", 1)[-1] for s in train) == names[2:]
    assert len(val) + len(calibration) == 6 and any("2 training images were held out" in line for line in said)


def test_an_empty_validation_part_is_said_and_a_damaged_record_names_its_file(tmp_path):
    data = write_utkface_folder(tmp_path / "utk", n=8)
    config = TrainConfig(data=str(data), format="utkface", aligned=True)
    samples, _ = make_source(str(data), "utkface", True).samples()
    said = []
    train, val, calibration, _, _ = prepare_samples(config, said.append, lambda it, desc="": it,
                                                    {key_digest(s.key): TRAIN for s in samples})
    assert len(train) == 8 and not val and not calibration
    assert any("no validation images" in line for line in said)
    assert encode_split({})["keys"].shape == (0, 20)
    assert recorded_split({"format": FORMAT, "split": encode_split({})}) == {}
    damaged = {"format": FORMAT, "split": {"keys": torch.zeros((2, 19), dtype=torch.uint8),
                                           "parts": torch.zeros(2, dtype=torch.int8)}}
    with pytest.raises(CheckpointError, match="runs/x/last.pt: its record"):
        recorded_split(damaged, "runs/x/last.pt")
    said = []  # on --resume a damaged record is said, and the split made again from the run's settings
    assert starting_split(config, damaged, said.append) is None and "last.pt: its record" in said[0]


def test_record_round_trip_and_damage_refused():
    parts = split_parts(faces(3), faces(5)[3:4], faces(5)[4:])
    record = encode_split(parts)
    assert record["keys"].shape == (5, 20) and record["keys"].dtype == torch.uint8
    assert recorded_split({"format": FORMAT, "split": record}) == parts
    assert parts[key_digest("key3")] == VAL and parts[key_digest("key4")] == CALIBRATION
    assert recorded_split({"format": FORMAT}) is None and recorded_split({"split": record}) is None
    with pytest.raises(CheckpointError, match="damaged"):
        recorded_split({"format": FORMAT, "split": {**record, "parts": torch.full((5,), 3, dtype=torch.int8)}})


def _train(capsys, data, out, cache, seed, *extra):
    status = main([str(a) for a in ["train", "--data", data, "--format", "utkface", "--aligned", "--out", out,
                                    "--net", "tiny", "--age-max", 60, "--epochs", 1, "--batch", 4, "--size", 56,
                                    "--cache-dir", cache, "--quiet", "--seed", seed, *extra]])
    printed = capsys.readouterr()
    assert status == 0, printed
    return printed.out + printed.err


def _parts(split_file):
    payload = json.loads(split_file.read_text())
    return {part: {row["key"] for row in payload[part]} for part in ("val", "calibration")}


def test_fine_tuning_with_another_seed_keeps_the_starting_split(tmp_path, capsys):
    data = write_utkface_folder(tmp_path / "utk", n=40)
    first, second = tmp_path / "first", tmp_path / "second"
    _train(capsys, data, first, tmp_path / "c", 1)
    for extra in write_utkface_folder(tmp_path / "more", n=10, seed=5).iterdir():  # ten faces new to it
        extra.rename(data / extra.name.replace("_20170101", "_20180101"))
    said = _train(capsys, data, second, tmp_path / "c", 2, "--init", first / "best.pt")
    before, after = _parts(first / "split.json"), _parts(second / "split.json")
    assert after["val"] >= before["val"] and after["calibration"] >= before["calibration"]
    assert "split kept from the starting checkpoint" in said
    recorded = recorded_split(safe_load(second / "best.pt"))
    held_out_before = {key_digest(k) for k in before["val"] | before["calibration"]}
    assert all(recorded[d] != TRAIN for d in held_out_before)
    trained_before = {d for d, p in recorded_split(safe_load(first / "best.pt")).items() if p == TRAIN}
    assert all(recorded[d] == TRAIN for d in trained_before)
    # without inheritance the second seed would have split these faces otherwise (what this guards against)
    _train(capsys, data, tmp_path / "plain", tmp_path / "c", 2)
    assert _parts(tmp_path / "plain" / "split.json") != after


def test_a_checkpoint_without_a_record_warns_when_the_split_settings_differ(tmp_path, capsys):
    data = write_utkface_folder(tmp_path / "utk", n=30)
    first = tmp_path / "first"
    _train(capsys, data, first, tmp_path / "c", 1)
    old = safe_load(first / "best.pt")
    del old["split"]
    torch.save(old, tmp_path / "old.pt")
    said = _train(capsys, data, tmp_path / "second", tmp_path / "c", 3, "--init", tmp_path / "old.pt")
    assert "does not record its split" in said and "--seed 1" in said
    said = _train(capsys, data, tmp_path / "third", tmp_path / "c", 1, "--init", tmp_path / "old.pt")
    assert "does not record its split" not in said
