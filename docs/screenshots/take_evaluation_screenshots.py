"""Regenerate evaluation.png (Train ▸ Runs… ▸ Evaluate… on held-out faces) and weak_face.png (a photo page with a
face too poor to judge) in this folder (a developer tool, not shipped).

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/take_evaluation_screenshots.py [--faces 400]

The evaluation is the shipped model's (resources/models/default.pt, standing in as a run's best.pt) on --faces
UTKFace chips spread over its own validation split (resources/models/default.split.json), as `python -m trainer
evaluate --aligned` would make it. The photo is three UTKFace chips side by side: as they are, blurred
(Gaussian, sigma 6), far too dark (x0.15), and the first again behind a veil of fog. Needs ../shared (UTKFace,
the YuNet detector). Settings go to a throw-away folder, never the user's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared"
UTKFACE = SHARED / "data" / "utkface" / "images"
DETECTOR = SHARED / "models" / "face_detection_yunet.onnx"
PHOTO_FACES = ["26_1_0_20170103180546928.jpg.chip.jpg", "61_0_0_20170104185715382.jpg.chip.jpg",
               "8_1_0_20161220223020578.jpg.chip.jpg"]
sys.path.insert(0, str(REPO))


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(condition, timeout_ms: int = 600000) -> None:
    waited = 0
    while not condition():
        wait(100)
        waited += 100
        if waited > timeout_ms:
            raise TimeoutError("the window did not get there in time")


def held_out_chips(folder: Path, count: int) -> Path:
    """`count` UTKFace chips spread evenly over the default model's validation split, linked into `folder`."""
    split = json.loads((REPO / "resources" / "models" / "default.split.json").read_text())
    folder.mkdir(parents=True)
    rows = [row for row in split["val"] if row["path"].startswith("utkface/")]
    rows = rows[:: max(1, len(rows) // count)][:count]
    for row in rows:
        source = SHARED / "data" / row["path"]
        try:
            (folder / source.name).symlink_to(source)
        except OSError:
            shutil.copy(source, folder / source.name)
    return folder


def weak_face_photo(path: Path) -> Path:
    """Four chips on grey: as they are, blurred, underexposed far below what the model can judge, and seen
    through a veil (I = J t + A (1 - t), t = 0.3, the veil A brightening from left to right): fog."""
    chips = [cv2.imread(str(UTKFACE / name)) for name in PHOTO_FACES]
    chips[1] = cv2.GaussianBlur(chips[1], (0, 0), 6)
    chips[2] = (chips[2].astype(np.float32) * 0.15).astype(np.uint8)
    veil = np.linspace(90, 230, chips[0].shape[1], dtype=np.float32)[None, :, None]
    chips.append(np.clip(chips[0].astype(np.float32) * 0.3 + veil * 0.7, 0, 255).astype(np.uint8))
    canvas = np.full((320, 1010, 3), 96, np.uint8)
    for index, chip in enumerate(chips):
        canvas[60:260, 30 + 250 * index:230 + 250 * index] = chip
    cv2.imwrite(str(path), canvas)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=400)
    parser.add_argument("--only", choices=("evaluation", "weak-face"), help="take one of the two pictures")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ageapp-evaluation-shots-"))
    os.environ["AGEAPP_CONFIG_DIR"] = str(work / "config")
    os.environ["AGEAPP_CACHE_DIR"] = str(work / "cache")
    os.environ["AGEAPP_DETECTOR"] = str(DETECTOR)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
    app = QApplication(sys.argv[:1])
    from ageapp.ui.shell.app import configure_application

    configure_application(app)

    if args.only != "weak-face":
        evaluation_picture(work, args.faces)
    if args.only != "evaluation":
        weak_face_picture(work)
    return 0


def evaluation_picture(work: Path, count: int) -> None:
    from ageapp.ui.train.evaluation_dialog import EvaluationDialog
    from ageapp.ui.train.run_details import EvaluationRequest

    run_folder = work / "run"
    run_folder.mkdir()
    shutil.copy(REPO / "resources" / "models" / "default.pt", run_folder / "best.pt")
    faces = held_out_chips(work / "utkface-held-out", count)
    run = {"id": 3, "config": {"out": str(run_folder), "net": "mobilefacenet", "detector": str(DETECTOR)},
           "evaluation": None, "epochs": []}
    dialog = EvaluationDialog(run)
    dialog.resize(1180, 760)
    dialog.folder_edit.setText(str(faces))
    dialog.aligned_check.setChecked(True)
    dialog.show()
    dialog.start(EvaluationRequest(model=str(run_folder / "best.pt"), data=str(faces), aligned=True,
                                   detector=str(DETECTOR)))
    wait_until(lambda: dialog.worker is None)
    wait(500)
    dialog.grab().save(str(HERE / "evaluation.png"))
    metrics = dialog.result.metrics if dialog.result else {}
    print(json.dumps({key: metrics.get(key) for key in ("n", "mae", "coverage90", "nll")}
                     | {"raw_coverage90": (metrics.get("uncalibrated") or {}).get("coverage90")}))
    dialog.close()


def weak_face_picture(work: Path) -> None:
    from ageapp.ui.estimate.page import install_estimate_page
    from ageapp.ui.shell.main_window import MainWindow

    window = MainWindow()
    page = install_estimate_page(window)
    window.resize(1240, 820)
    window.show()
    window.show_page("estimate")
    photo = weak_face_photo(work / "four_faces.jpg")
    finished = []
    page.photos.batch_finished.connect(lambda: finished.append(True))
    page.photos.estimate([photo])
    wait_until(lambda: finished)
    estimates = page.photos.results[0].estimates
    poor = next((i for i, e in enumerate(estimates) if e.quality is not None and e.quality.too_poor), 0)
    page.photos.faces_list.setCurrentRow(poor)
    wait(500)
    window.grab().save(str(HERE / "weak_face.png"))
    print(json.dumps([{"x": round(e.face.box[0]), "quality": e.quality.describe() if e.quality else None,
                       "age": round(e.summary.mean, 1)} for e in estimates]))
    page.shutdown()
    window.close()


if __name__ == "__main__":
    sys.exit(main())
