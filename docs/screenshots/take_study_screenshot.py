"""Regenerate user_study.png: the study page's results for a simulated volunteer (a developer tool, not shipped).

    Xvfb :96 -screen 0 1280x900x24 &  DISPLAY=:96 .venv/bin/python docs/screenshots/take_study_screenshot.py

FG-NET faces (every third image) are imported as references into a throw-away project, as `ageapp import`
does; a person simulated with the paper's model (guesses: the true age plus 6 years of Gaussian noise; pairs:
the older face picked with probability σ(0.36 · gap)) takes 100 guesses and 300 pairs through the study's own
code (plan_study, record_answer), and the results view is captured. Prints the numbers shown.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"
FGNET = SHARED / "data" / "fgnet" / "images"
DETECTOR = SHARED / "models" / "face_detection_yunet.onnx"
PERSON = "Volunteer 1"


def build_project(folder: Path) -> Path:
    from ageapp.datasets.scan import scan
    from ageapp.store.db import open_project
    from ageapp.store.importing import import_records

    path = folder / "fgnet-study.ageproj"
    subset = folder / "fgnet"
    subset.mkdir()
    for image in sorted(FGNET.iterdir())[::3]:
        (subset / image.name).symlink_to(image)
    db = open_project(path, create=True)
    report = import_records(db, scan(subset), subset, role="reference",
                            detector_path=DETECTOR if DETECTOR.is_file() else None)
    print(f"imported {report.imported} FG-NET references, {report.faces_found} with a face", file=sys.stderr)
    db.close()
    return path


def simulate(path: Path, guesses: int = 100, pairs: int = 300, seed: int = 2017) -> None:
    from ageapp.annotation.simulated_person import SimulatedPerson
    from ageapp.annotation.study import new_sitting, plan_study, record_answer
    from ageapp.store.db import open_project

    db = open_project(path)
    plan = plan_study(db, guesses, pairs, seed=seed)
    person, sitting = SimulatedPerson(beta=0.36, guess_sd=6.0, seed=seed), new_sitting()
    rng_ms = __import__("numpy").random.default_rng(seed)
    for trial in plan.trials:
        typical = 3500 if trial.test == "guess" else 1400  # typing an age takes longer than a key press
        record_answer(db, PERSON, sitting, trial, person.answer(trial), int(rng_ms.gamma(4.0, typical / 4.0)))
    db.close()


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="ageapp-study-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder / "settings"))
    app = QApplication(sys.argv[:1])
    from ageapp.annotation.study import study_results
    from ageapp.ui.shell.app import configure_application
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.study.page import STUDY, install_study_page

    configure_application(app)
    try:
        path = build_project(folder)
        simulate(path)
        window = MainWindow()
        page = install_study_page(window)
        window.resize(1180, 760)
        window.show()
        QTest.qWaitForWindowExposed(window)
        window.open_project_path(path)
        window.show_page(STUDY)
        page.show_results(PERSON)
        window.statusBar().clearMessage()  # not the temporary folder's path
        QTest.qWait(400)
        window.grab().save(str(HERE / "user_study.png"))
        print(json.dumps(study_results(page.db, PERSON).summary()))
        window.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
