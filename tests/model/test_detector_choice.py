"""Which face detector is used, decided in ageapp.model.resolve like the model: named > the project's stored
YuNet file > the preferred one > $AGEAPP_DETECTOR > the Haar cascade; a stored file that is gone is passed over
and said so; the Haar cascade has no score and drops its weak detections."""

from __future__ import annotations

import numpy as np

from ageapp.faces.detection import HaarDetector, drop_weak
from ageapp.faces.images import load_image
from ageapp.model import choose_detector, open_detector
from ageapp.model.resolve import HAAR
from ageapp.store.settings import set_setting
from tests.factories import make_project


def test_named_then_project_then_preference_then_environment_then_haar(tmp_path, yunet_model, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    db, *_ = make_project(tmp_path / "p.ageproj", references=2, queries=1)
    other = tmp_path / "other.onnx"
    other.write_bytes(yunet_model.read_bytes())
    assert (choose_detector(None, db).path, choose_detector(None, db).source) == (None, "default")
    monkeypatch.setenv("AGEAPP_DETECTOR", str(other))
    assert (choose_detector(None, db).path, choose_detector(None, db).source) == (other, "environment")
    assert choose_detector(None, db, preferred=HAAR).kind == "haar"  # the preference outranks the environment
    set_setting(db, "detector_path", str(yunet_model))  # what the new-project wizard stores
    project = choose_detector(None, db, preferred=str(other))
    assert (project.path, project.source, project.kind) == (yunet_model, "project", "yunet")
    assert "the project's" in project.label() and yunet_model.name in project.label()
    assert choose_detector(HAAR, db).kind == "haar" and choose_detector(HAAR, db).source == "named"
    assert choose_detector(other, db).path == other
    assert choose_detector(None, None, preferred=str(other)).source == "preferences"
    db.close()


def test_a_projects_missing_detector_file_is_passed_over_and_said(tmp_path, yunet_model, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    db, *_ = make_project(tmp_path / "p.ageproj", references=2, queries=1)
    set_setting(db, "detector_path", str(tmp_path / "moved.onnx"))
    choice = choose_detector(None, db, preferred=str(yunet_model))
    assert (choice.path, choice.source) == (yunet_model, "preferences")
    assert "moved.onnx is missing" in choice.passed_over
    haar = choose_detector(None, db)
    assert haar.kind == "haar" and "moved.onnx is missing" in open_detector(haar).notice
    assert open_detector(choose_detector(None, db, preferred=str(yunet_model))).name == "yunet"
    db.close()


def test_haar_gives_no_score_and_weak_yunet_rows_are_dropped(fgnet_images):
    rows = HaarDetector("test").detect(load_image(fgnet_images / "009A14.JPG"))
    assert rows and all(score is None for _, _, score in rows)
    box = np.zeros(4, np.float32)
    kept = drop_weak([(box, None, 0.95), (box, None, 0.79), (box, None, None)], 0.8)
    assert [score for _, _, score in kept] == [0.95, None]
