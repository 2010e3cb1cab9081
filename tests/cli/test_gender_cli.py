"""Genders from the command line: `ageapp import` predicts them when a model is there (or says how to get one),
`ageapp genders` predicts them later, and `ageapp estimate` prints each face's gender."""

from __future__ import annotations

import json
import shutil

import pytest

from ageapp.__main__ import main
from ageapp.store.db import open_project
from tests.factories import make_project


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, json.loads(captured.out.strip().splitlines()[-1]), captured.out, captured.err


@pytest.fixture
def checkpoint(untrained_checkpoint):
    return untrained_checkpoint  # the shipped architecture, random weights: its gender head answers


@pytest.fixture
def no_default_model(monkeypatch, tmp_path):
    monkeypatch.setattr("ageapp.model.resolve.default_model_path", lambda backend="auto": tmp_path / "absent.onnx")


def predictions(path):
    db = open_project(path, read_only=True)
    try:
        return db.execute("SELECT faces.gender_predicted, faces.gender_probability, images.gender FROM faces"
                          " JOIN images ON images.id = faces.image_id ORDER BY faces.id").fetchall()
    finally:
        db.close()


def test_genders_command_predicts_unlabelled_faces_only(tmp_path, checkpoint, capsys):
    path = tmp_path / "p.ageproj"
    make_project(path, references=6, queries=4, query_genders=True)[0].close()
    status, payload, out, _ = run(capsys, "genders", path, "--model", checkpoint)
    assert status == 0 and payload["total"] == payload["predicted"] == 6 and payload["model"] == str(checkpoint)
    assert "predicted the gender of 6 of 6 faces without a gender label" in out
    rows = predictions(path)
    assert all((p is None) == (label is not None) for p, _, label in rows)  # labelled faces: no prediction
    assert all(0.5 <= probability <= 1 for p, probability, _ in rows if p is not None)
    assert [label for _, _, label in rows[6:]] == [0, 1, 0, 1]  # the labels as they were
    status, payload, _, _ = run(capsys, "genders", path, "--model", checkpoint)
    assert status == 0 and payload["predicted"] == 0  # nothing left to do
    status, payload, _, _ = run(capsys, "genders", path, "--model", checkpoint, "--all")
    assert payload["predicted"] == 6


def test_genders_command_without_a_model_says_what_to_do(tmp_path, capsys, no_default_model):
    path = tmp_path / "p.ageproj"
    make_project(path, references=2, queries=0)[0].close()
    status, payload, _, err = run(capsys, "genders", path)
    assert status == 1 and "no model to predict genders with" in payload["error"] and "--model" in err


def test_import_predicts_genders_or_says_how(tmp_path, fgnet_images, yunet_model, checkpoint, capsys, monkeypatch,
                                            no_default_model):
    monkeypatch.setenv("AGEAPP_DETECTOR", str(yunet_model))
    folders = []
    for index, name in enumerate(("001A02.JPG", "001A05.JPG", "001A08.JPG")):
        folder = tmp_path / f"f{index}"
        folder.mkdir()
        shutil.copy(fgnet_images / name, folder / name)
        folders.append(folder)
    project = tmp_path / "p.ageproj"
    run(capsys, "new", project)
    # No model anywhere: imported, with a notice saying how to predict them later.
    status, payload, out, err = run(capsys, "import", project, folders[0], "--role", "reference")
    assert status == 0 and payload["imported"] == 1 and payload["genders"]["predicted"] == 0
    assert "genders not predicted: no model" in err and f"ageapp genders {project}" in out
    # --no-gender: not even tried.
    status, payload, _, err = run(capsys, "import", project, folders[1], "--role", "reference", "--no-gender")
    assert status == 0 and payload["genders"] is None and "genders not predicted" not in err
    # --model: every face without a prediction gets one (the earlier imports' too), FG-NET has no gender label.
    status, payload, out, _ = run(capsys, "import", project, folders[2], "--role", "reference", "--model", checkpoint)
    assert status == 0 and payload["genders"]["predicted"] == payload["genders"]["total"] >= 3
    assert "predicted the gender of" in out
    assert all(p in (0, 1) and label is None for p, _, label in predictions(project))


def test_estimate_prints_each_faces_gender(tmp_path, fgnet_images, yunet_model, checkpoint, capsys):
    status = main(["estimate", str(fgnet_images / "001A02.JPG"), "--model", str(checkpoint), "--detector",
                   str(yunet_model), "--no-posterior"])
    lines = capsys.readouterr().out.strip().splitlines()
    faces = [json.loads(line) for line in lines if line.startswith('{"path"')]
    assert status == 0 and faces
    for face in faces:
        assert face["gender"] == ("female" if face["female_probability"] >= 0.5 else "male")


def test_trainer_predict_prints_gender(fgnet_images, yunet_model, checkpoint, capsys):
    from trainer.__main__ import main as trainer_main

    status = trainer_main(["predict", "--model", str(checkpoint), "--detector", str(yunet_model),
                           str(fgnet_images / "001A02.JPG")])
    captured = capsys.readouterr()
    face = json.loads(captured.out.strip().splitlines()[-1])["results"][0]["faces"][0]
    assert status == 0 and face["gender"] in ("male", "female")
    confidence = max(face["p_female"], 1 - face["p_female"])
    assert f"{face['gender']} {confidence:.0%}" in captured.err
