"""Regenerate webcam.png and image_mode.png in this folder (a developer tool, not shipped).

    Xvfb :98 -screen 0 1280x900x24 &  DISPLAY=:98 .venv/bin/python docs/screenshots/take_estimate_screenshots.py [--model CKPT]

Uses resources/models/default.pt, or --model; when neither exists it writes an UNTRAINED checkpoint of the
shipped architecture (ages are then meaningless: retake once the default model is there). Needs ../shared:
FG-NET photos for image mode, UTKFace crops for the video standing in for a camera, the YuNet detector.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared"
FGNET = SHARED / "data" / "fgnet" / "images"
UTKFACE = SHARED / "data" / "utkface" / "images"
DETECTOR = SHARED / "models" / "face_detection_yunet.onnx"
PHOTOS = ["033A30.JPG", "007A22.JPG", "039A35.JPG", "046A08.JPG", "060A19.JPG", "013A19.JPG"]
VIDEO_FACES = ["26_1_0_20170103180546928.jpg.chip.jpg", "61_0_0_20170104185715382.jpg.chip.jpg",
               "8_1_0_20161220223020578.jpg.chip.jpg"]
sys.path.insert(0, str(REPO))


def untrained_checkpoint(folder: Path) -> Path:
    from trainer.checkpoint import make_checkpoint, save_checkpoint
    from trainer.heads import AgeNet

    model = AgeNet(net="mobilefacenet", age_max=100, pretrained=False)
    path = folder / "untrained.pt"
    config = {"net": "mobilefacenet", "age_max": 100, "head": "paper", "size": 112}
    save_checkpoint(make_checkpoint(model, None, None, config, 0, 0, [], 0, None), path)
    return path


def wait(ms: int) -> None:
    """Run the event loop for `ms` (QTest.qWait would hold the GIL and starve the worker threads)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(condition, timeout_ms: int = 60000) -> None:
    waited = 0
    while not condition():
        wait(50)
        waited += 50
        if waited > timeout_ms:
            raise TimeoutError("the page did not get there in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ageapp-estimate-shots-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
    os.environ["AGEAPP_DETECTOR"] = str(DETECTOR)
    from ageapp.resources import default_model_path

    model = args.model or (default_model_path() if default_model_path().is_file() else None)
    if model is None:
        model = untrained_checkpoint(work)
        print(f"NOTE: {default_model_path()} is missing; using an UNTRAINED checkpoint ({model})", file=sys.stderr)

    app = QApplication(sys.argv[:1])
    from ageapp.ui.shell.app import configure_application
    from ageapp.ui.estimate.page import install_estimate_page
    from ageapp.ui.shell.main_window import MainWindow

    configure_application(app)
    window = MainWindow()
    page = install_estimate_page(window)
    window.resize(1240, 820)
    window.show()
    window.show_page("estimate")
    QTest.qWaitForWindowExposed(window)
    page.choose_checkpoint(str(model))
    wait_until(lambda: page.engine.model is not None)

    photos = work / "photos"
    photos.mkdir()
    for name in PHOTOS:
        (photos / name).write_bytes((FGNET / name).read_bytes())
    (photos / "scan_0042.jpg").write_bytes((FGNET / PHOTOS[0]).read_bytes()[:2500])  # a damaged file
    finished = []
    page.photos.batch_finished.connect(lambda: finished.append(True))
    page.photos.estimate([photos])
    wait_until(lambda: finished)
    page.photos.results_list.setCurrentRow(0)
    wait(400)
    window.grab().save(str(HERE / "image_mode.png"))

    from benchmarks.face_video import write_face_video

    faces = [cv2.imread(str(UTKFACE / name)) for name in VIDEO_FACES]
    video = write_face_video(work / "three_faces.avi", faces, frames=240)
    page.tabs.setCurrentIndex(1)
    page.camera.start_source(str(video))
    wait_until(lambda: page.camera.frames_drawn >= 60)
    window.grab().save(str(HERE / "webcam.png"))
    result = page.camera.last_result
    print({"fps": round(result.fps, 1), "stage_ms": {k: round(v, 1) for k, v in result.stage_ms.items()},
           "frames_processed": page.camera.worker.frames_processed, "frames_read": result.frame_index})
    page.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
