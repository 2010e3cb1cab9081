"""Face detector files that are not YuNet, and a detector named by a pipe: refused when loaded with what the file
is (a command exits 1, `import` before importing anything), or, where a fallback is the rule (the window, a
detector from the environment), replaced by the Haar cascade with a notice saying why. Also: an import where
every image failed exits non-zero, and `trainer evaluate` on a folder without labelled faces says so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.faces.detection import DetectorError, make_detector
from ageapp.resources import resource_path
from ageapp.store.db import open_project
from tests.factories import make_project
from tests.trainer.conftest import write_utkface_folder

NOT_YUNET = "it is not a YuNet face detector: OpenCV could not run it on a test image"


@pytest.fixture
def age_model_onnx() -> Path:
    """An ONNX file that OpenCV loads but that is not a face detector: the shipped age model."""
    return resource_path("models/default.onnx")


@pytest.fixture
def fifo(tmp_path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("FIFOs are POSIX")
    path = tmp_path / "detector.onnx"
    os.mkfifo(path)
    return path


def _last(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _photo(tmp_path: Path) -> Path:
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((120, 100, 3), 90, np.uint8))
    return photo


def test_an_onnx_model_that_is_not_yunet_is_caught_when_loaded(age_model_onnx, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    with pytest.raises(DetectorError) as refused:
        make_detector(age_model_onnx, strict=True)
    assert NOT_YUNET in str(refused.value) and "face_detection_yunet_2023mar.onnx" in str(refused.value)
    fallback = make_detector(age_model_onnx)  # where a fallback is the rule: Haar, and why
    assert fallback.name == "haar" and NOT_YUNET in fallback.notice
    assert fallback.detect(np.full((200, 200, 3), 128, np.uint8)) == []  # it runs, unlike the file it replaced
    monkeypatch.setenv("AGEAPP_DETECTOR", str(age_model_onnx))
    with pytest.raises(DetectorError, match=r"\(from \$AGEAPP_DETECTOR\) cannot be used.*unset \$AGEAPP_DETECTOR"):
        make_detector(None, strict=True)


def test_a_real_yunet_still_loads(yunet_model):
    assert make_detector(yunet_model, strict=True).name == "yunet"


def test_estimate_with_a_detector_that_is_not_yunet_exits_1(age_model_onnx, tmp_path, capsys):
    assert ageapp_main(["estimate", "--detector", str(age_model_onnx), str(_photo(tmp_path))]) == 1
    assert NOT_YUNET in _last(capsys)["error"]


def test_trainer_predict_with_a_detector_that_is_not_yunet_says_so(age_model_onnx, tmp_path, capsys):
    from trainer.__main__ import main as trainer_main

    code = trainer_main(["predict", "--model", str(resource_path("models/default.pt")), "--detector",
                         str(age_model_onnx), "--quiet", str(_photo(tmp_path))])
    assert code == 1 and NOT_YUNET in _last(capsys)["error"]


def test_import_with_a_detector_that_is_not_yunet_refuses_before_importing(age_model_onnx, tmp_path, capsys):
    project = tmp_path / "p.ageproj"
    make_project(project, references=4, queries=0)[0].close()
    folder = write_utkface_folder(tmp_path / "utk", n=12)
    code = ageapp_main(["import", str(project), str(folder), "--role", "query", "--detector", str(age_model_onnx),
                        "--no-gender"])
    error = _last(capsys)["error"]
    assert code == 1 and NOT_YUNET in error and "nothing was imported" in error
    with open_project(project, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM images WHERE role = 'query'").fetchone()[0] == 0


@pytest.mark.parametrize("command", ["import", "estimate"])
def test_a_detector_named_by_a_pipe_says_it_is_a_pipe(fifo, tmp_path, capsys, command):
    if command == "import":
        project = tmp_path / "p.ageproj"
        make_project(project, references=4, queries=0)[0].close()
        argv = ["import", str(project), str(write_utkface_folder(tmp_path / "utk", n=3)), "--role", "query",
                "--no-gender", "--detector", str(fifo)]
    else:
        argv = ["estimate", "--detector", str(fifo), str(_photo(tmp_path))]
    assert ageapp_main(argv) == 1
    error = _last(capsys)["error"]
    assert "it is a pipe (FIFO), not a model file" in error and "not found" not in error


def test_an_import_whose_detector_fails_on_every_image_exits_non_zero(tmp_path, capsys, monkeypatch):
    """A detector that passed its test image and then fails on each photo (cv2.error): not 200 errors and exit 0."""
    import ageapp.store.importing as importing

    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)

    def failing(image, record, detector, aligned):
        raise cv2.error("OpenCV(4) net_impl.cpp: error: (-2:Unspecified error) in getLayerShapesRecursively")

    monkeypatch.setattr(importing, "find_faces", failing)
    project = tmp_path / "p.ageproj"
    make_project(project, references=4, queries=0)[0].close()
    folder = write_utkface_folder(tmp_path / "utk", n=6)
    code = ageapp_main(["import", str(project), str(folder), "--role", "query", "--no-gender"])
    out = capsys.readouterr().out
    payload = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and payload["imported"] == 0 and payload["detection_failures"] == 6
    assert "the face detector (haar) failed on every image it was given" in out
    # Files that are not pictures are the files' fault, not the detector's: reported, and the exit stays 0.
    monkeypatch.undo()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "0.jpg").write_bytes(b"not a picture")
    assert ageapp_main(["import", str(project), str(broken), "--role", "query", "--no-gender"]) == 0
    assert _last(capsys)["detection_failures"] == 0


def test_trainer_evaluate_on_a_folder_without_labelled_faces_exits_non_zero(tmp_path, capsys):
    from trainer.__main__ import main as trainer_main

    empty = tmp_path / "empty"
    empty.mkdir()
    code = trainer_main(["evaluate", "--data", str(empty), "--model", str(resource_path("models/default.pt")),
                         "--quiet"])
    payload = _last(capsys)
    assert code == 1 and "no labelled face to evaluate on in" in payload["error"] and "n" not in payload


def test_detectors_made_at_once_leave_opencvs_log_level_as_it_was(yunet_model):
    """The test run silences OpenCV's (global) log while it runs; import workers make their detectors at once,
    and one of them must not restore the silence another set (the camera's warnings would be lost)."""
    import threading

    before = cv2.utils.logging.getLogLevel()
    assert before != cv2.utils.logging.LOG_LEVEL_SILENT
    for _ in range(20):
        workers = [threading.Thread(target=make_detector, args=(yunet_model,)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert cv2.utils.logging.getLogLevel() == before
