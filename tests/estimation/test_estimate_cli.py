"""`ageapp estimate`: a JSON line per face and a summary line; with --out the faces go to the file (the listed
columns) and stdout carries only the summary; --project uses the project's active model and detector; the
posteriors apart with --posteriors; YuNet, and the Haar fallback with a notice."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np

from ageapp.__main__ import main
from ageapp.store.runs import activate_model, add_model
from ageapp.store.settings import set_setting
from tests.factories import make_project

LISTED = ["box_x", "box_y", "box_w", "box_h", "score", "age_mean", "age_mode", "ci90_low", "ci90_high", "gender",
          "female_probability", "quality", "model", "detector"]


def _utk_folder(tmp_path, utkface_images, count=3):
    folder = tmp_path / "utk"
    folder.mkdir()
    for name in sorted(utkface_images.iterdir())[::1500][:count]:
        shutil.copy(name, folder / name.name)
    return folder


def test_estimate_with_yunet(tmp_path, utkface_images, yunet_model, untrained_checkpoint, capsys):
    folder = _utk_folder(tmp_path, utkface_images)
    status = main(["estimate", str(folder), "--model", str(untrained_checkpoint), "--detector", str(yunet_model)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    faces = [json.loads(line) for line in lines if line.startswith('{"path"')]
    summary = json.loads(lines[-1])
    assert summary["faces"] == len(faces) >= 3 and summary["detector"] == "yunet" and summary["errors"] == []
    assert all(0 <= face["age_mean"] <= 100 and len(face["posterior"]) == 101 for face in faces)
    assert all(face["ci90_low"] <= face["age_mode"] <= face["ci90_high"] and 0 <= face["quality"] <= 1
               and face["quality_label"] in ("good", "fair", "poor", "too poor") for face in faces)
    assert all(face["model"] == str(untrained_checkpoint) and face["detector"] == "yunet" for face in faces)


def test_out_gets_the_faces_and_stdout_only_the_summary(tmp_path, utkface_images, yunet_model, untrained_checkpoint,
                                                        capsys):
    folder = _utk_folder(tmp_path, utkface_images)
    out, posteriors = tmp_path / "faces.csv", tmp_path / "faces.npz"
    status = main(["estimate", str(folder), "--model", str(untrained_checkpoint), "--detector", str(yunet_model),
                   "--out", str(out), "--posteriors", str(posteriors)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0 and len(lines) == 2  # the summary sentence and its JSON line, nothing per face
    summary = json.loads(lines[-1])
    assert lines[0].startswith(f"{summary['faces']} face(s) in 3 of 3 image(s) (yunet detector); saved to {out}")
    assert summary["out"] == str(out) and summary["posteriors"] == str(posteriors)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == summary["faces"] >= 3 and all(name in rows[0] for name in LISTED)
    stored = np.load(posteriors)
    assert stored["posterior"].shape == (len(rows), 101)
    assert [str(p) for p in stored["path"]] == [row["path"] for row in rows]
    means = stored["posterior"] @ np.arange(101)
    np.testing.assert_allclose(means, [float(row["age_mean"]) for row in rows], atol=0.006)  # rounded to 0.01


def test_the_projects_model_and_detector_are_used(tmp_path, fgnet_images, yunet_model, untrained_checkpoint,
                                                  capsys, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    project = tmp_path / "p.ageproj"
    db, *_ = make_project(project, references=3, queries=1)
    set_setting(db, "detector_path", str(yunet_model))  # as the new-project wizard stores it
    activate_model(db, add_model(db, "run 1", str(untrained_checkpoint)))
    db.close()
    faces = tmp_path / "faces"
    faces.mkdir()
    for name in ("009A14.JPG", "010A15.JPG"):
        shutil.copy(fgnet_images / name, faces / name)

    assert main(["estimate", str(faces), "--project", str(project), "--no-posterior"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert (summary["detector"], summary["detector_source"]) == ("yunet", "project")
    assert (summary["model"], summary["model_source"]) == (str(untrained_checkpoint), "project")
    assert "YuNet" in captured.err and "run 1" in captured.err
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith('{"path"')]
    assert lines and all(line["detector"] == "yunet" and 0.8 <= line["score"] <= 1 for line in lines)

    assert main(["estimate", str(faces), "--project", str(project), "--detector", "haar"]) == 0  # named wins
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["detector"] == "haar"
    assert main(["estimate", str(faces), "--model", str(untrained_checkpoint)]) == 0  # no project: Haar
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["detector"] == "haar"


def test_a_project_that_cannot_be_opened_is_refused(tmp_path, untrained_checkpoint, fgnet_images, capsys):
    status = main(["estimate", str(fgnet_images / "009A14.JPG"), "--project", str(tmp_path / "none.ageproj")])
    assert status == 1 and "--project:" in capsys.readouterr().err


def test_estimate_falls_back_to_haar_with_a_notice(tmp_path, fgnet_images, untrained_checkpoint, capsys, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    status = main(["estimate", str(fgnet_images / "009A14.JPG"), "--model", str(untrained_checkpoint)])
    captured = capsys.readouterr()
    assert status == 0 and "Haar cascade (fallback" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["faces"] >= 1
    face = json.loads(captured.out.strip().splitlines()[0])
    assert face["score"] is None and face["detector"] == "haar"  # the Haar cascade has no confidence


def test_estimate_without_images_fails_clearly(tmp_path, untrained_checkpoint, capsys):
    status = main(["estimate", str(tmp_path), "--model", str(untrained_checkpoint)])
    assert status == 1 and "no images found" in capsys.readouterr().err
