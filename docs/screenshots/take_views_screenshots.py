"""Regenerate beyond_references.png and beta_adopted.png at 1280×800 (a developer tool, not shipped): the labelling
window with both docks on screen, on a query beyond the references, and after a study's β was adopted.

    Xvfb :99 -screen 0 1280x800x24 &  DISPLAY=:99 .venv/bin/python docs/screenshots/take_views_screenshots.py

Needs ../shared/data: FG-NET (references, every second photo: ages 0-69) and UTKFace (queries: a few aged 85 and
over by their file names, and some of every age), imported as `ageapp import` does, with the YuNet detector from
../shared/models when present. A simulated labeller answers truthfully (from the file names' ages, which the
window never shows) with the paper's noise; then takes the user study's Test II and adopts its β.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
UTKFACE = SHARED / "data" / "utkface" / "images"
FGNET = SHARED / "data" / "fgnet" / "images"
DETECTOR = SHARED / "models" / "face_detection_yunet.onnx"
SIZE = (1280, 800)


def build_project(folder: Path) -> tuple[Path, dict[str, int]]:
    from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
    from ageapp.core.names import parse_utkface_name
    from ageapp.core.selection import Protocol
    from ageapp.datasets.scan import scan
    from ageapp.store.db import open_project
    from ageapp.store.importing import import_records

    def age(path: Path) -> int:
        return getattr(parse_utkface_name(path.name), "age", None) or 0

    utk = sorted(UTKFACE.iterdir())
    old = [p for p in utk if age(p) >= 85][:3]
    others = [p for p in utk[::400] if 3 <= age(p) < 80][:40]
    path = folder / "pilot.ageproj"
    db = open_project(path, create=True)
    for role, images, aligned in (("reference", sorted(FGNET.iterdir())[1::2], False), ("query", old + others, True)):
        subset = folder / role
        subset.mkdir()
        for image in images:
            (subset / image.name).symlink_to(image)
        import_records(db, scan(subset), subset, role=role, aligned=aligned,
                       detector_path=DETECTOR if DETECTOR.is_file() else None)
    save_labelling_settings(db, LabellingSettings(Protocol("active"), gold_rate=0.1))
    db.close()
    return path, {p.name: age(p) for p in old + others}


def answer_truthfully(page, ages: dict[str, int], rng, presses: int, stop=None) -> None:
    """Answer as a person would (σ(0.36 (query − reference)) of saying older), from the names' ages."""
    from ageapp.store.images import get_image

    for _ in range(presses):
        task = page.task
        if task is None:
            return
        query, reference = (get_image(page.db, task.query_image_id), get_image(page.db, task.reference_image_id))
        query_age = query["age"] if query["age"] is not None else ages[Path(query["relative_path"]).name]
        older = rng.random() < 1 / (1 + np.exp(-0.36 * (query_age - reference["age"])))
        left_older = older == (task.query_side == "left")
        QTest.keyClick(page.panel, Qt.Key.Key_Left if left_older else Qt.Key.Key_Right)
        QTest.qWait(5)
        if stop is not None and stop():
            return


def shoot(window, name: str) -> None:
    QTest.qWait(400)
    QApplication.processEvents()
    window.grab().save(str(HERE / name))
    print(name, window.width(), window.height(), "minimum", window.minimumSizeHint().width(),
          window.minimumSizeHint().height())


def main() -> int:
    settings_dir = Path(tempfile.mkdtemp(prefix="ageapp-views-shots-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    import os

    os.environ["AGEAPP_CONFIG_DIR"] = str(settings_dir / "config")
    app = QApplication(sys.argv[:1])
    from ageapp.annotation.counts import BEYOND
    from ageapp.annotation.simulated_person import SimulatedPerson
    from ageapp.annotation.study import new_sitting, plan_study, record_answer
    from ageapp.ui.shell.app import build_window, configure_application
    from ageapp.ui.shell.settings import AppSettings
    from ageapp.ui.study.adopt_dialog import AdoptBetaDialog

    configure_application(app)
    AdoptBetaDialog.exec = lambda dialog: QDialog.DialogCode.Accepted
    QMessageBox.exec = lambda box: int(QMessageBox.StandardButton.Ok.value)
    rng = np.random.default_rng(0)
    try:
        path, ages = build_project(settings_dir)
        AppSettings().set_annotator("alice")
        window = build_window()
        window.resize(*SIZE)
        window.move(0, 0)
        window.show()
        QTest.qWaitForWindowExposed(window)
        window.activateWindow()
        window.open_project_path(path)
        page = window.page("label")
        page.shown.plot.setMinimumHeight(160)
        answer_truthfully(page, ages, rng, 400, stop=lambda: page.summary.counts().by_status[BEYOND] >= 1
                          and page.summary.counts().done >= 25)
        beyond = sorted(page.summary.ids_with(BEYOND))
        page.queue_panel.beyond_only.setChecked(True)
        page.queue_panel.select_row(0)
        page.statistics_panel.refresh_now()
        QTest.qWait(1500)
        shoot(window, "beyond_references.png")
        print(page.notice.text(), beyond)

        page.queue_panel.beyond_only.setChecked(False)
        study = window.page("study")
        plan = plan_study(page.db, guesses=0, comparisons=30, seed=3)
        person, sitting = SimulatedPerson(0.2, seed=4), new_sitting()
        with page.db.atomic():
            for trial in plan.trials:
                record_answer(page.db, "alice", sitting, trial, person.answer(trial), 900)
        study.show_results("alice")
        study.adopt_fitted_beta()
        page.statistics_panel.refresh_now()
        window.show_page("label")
        QTest.qWait(1500)
        shoot(window, "beta_adopted.png")
        window.close()
    finally:
        shutil.rmtree(settings_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
