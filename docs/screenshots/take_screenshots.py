"""Regenerate the screenshots in this folder (a developer tool, not shipped).

    Xvfb :99 -screen 0 1600x1000x24 &  DISPLAY=:99 .venv/bin/python docs/screenshots/take_screenshots.py

Needs ../shared/data: FG-NET (references) and UTKFace (queries) for the labelling window, imported into a
throw-away project as `ageapp import` does; the YuNet detector from ../shared/models when present.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"
UTKFACE = SHARED / "data" / "utkface" / "images"
FGNET = SHARED / "data" / "fgnet" / "images"
DETECTOR = SHARED / "models" / "face_detection_yunet.onnx"


def main() -> int:
    settings_dir = tempfile.mkdtemp(prefix="ageapp-shots-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication(sys.argv[:1])
    from ageapp.ui.shell.app import configure_application
    from ageapp.ui.shell.main_window import MainWindow

    configure_application(app)
    window = MainWindow()
    projects = Path(settings_dir) / "projects"
    projects.mkdir()
    for name in ("megaage-asian-pilot", "fgnet-study", "family-photos"):
        window.create_project_path(projects / name)
    window.close_project()
    window.resize(1000, 700)
    window.show()
    QTest.qWaitForWindowExposed(window)
    QTest.qWait(300)
    window.grab().save(str(HERE / "start_page.png"))

    window.close()
    window.deleteLater()
    try:
        take_labelling(Path(settings_dir))
    finally:
        shutil.rmtree(settings_dir, ignore_errors=True)
    return 0


def build_labelling_project(folder: Path) -> Path:
    """FG-NET references (every third image) and 300 UTKFace queries, imported as `ageapp import` does."""
    from ageapp.datasets.scan import scan
    from ageapp.store.db import open_project
    from ageapp.store.importing import import_records

    path = folder / "megaage-pilot.ageproj"
    db = open_project(path, create=True)
    for role, source, every, limit, aligned in (("reference", FGNET, 3, None, False),
                                                ("query", UTKFACE, 60, 300, True)):
        subset = folder / role
        subset.mkdir()
        for image in sorted(source.iterdir())[every - 1 :: every][:limit]:
            (subset / image.name).symlink_to(image)
        scanned = scan(subset)
        import_records(db, scanned, subset, role=role, detector_path=DETECTOR if DETECTOR.is_file() else None,
                       aligned=aligned)
    db.close()
    return path


def simulate_earlier_work(path: Path, queries: int = 60) -> None:
    """Another labeller ("bo") and alice have already finished some queries (answers drawn from the true
    UTKFace ages with the paper's answer model), gold pairs included, so the statistics have something to show."""
    from ageapp.annotation.session import AnnotationSession
    from ageapp.core.selection import Protocol
    from ageapp.store.db import open_project

    db = open_project(path)
    ages = dict(db.execute("SELECT id, age FROM images").fetchall())
    for name, beta, seed, share in (("bo", 0.5, 1, queries // 3), ("alice", 0.9, 2, queries - queries // 3)):
        session = AnnotationSession(db, name, Protocol("active"), gold_rate=0.25, seed=seed)
        rng = np.random.default_rng(seed)
        started: set[int] = set()
        while (task := session.next_task()) is not None:
            if task.kind == "query":
                started.add(task.query_image_id)
                if len(started) > share:
                    break
            first, other = ages[task.query_image_id], ages[task.reference_image_id]
            older = rng.random() < 1 / (1 + np.exp(-beta * (first - other)))
            session.answer(task, task.query_side if older else ("right" if task.query_side == "left" else "left"))
    spread_over_time(db)
    db.close()


def spread_over_time(db) -> None:
    """The simulated answers all carry the same second; give them a labeller's rhythm (about 3 s an answer,
    a coffee break) so the pace reads as it would. Comparisons are append-only: this throw-away project's
    guard trigger is lifted for the rewrite and put back."""
    trigger = db.execute("SELECT sql FROM sqlite_master WHERE name = 'comparisons_no_update'").fetchone()[0]
    rng = np.random.default_rng(3)
    with db.atomic():
        db.execute("DROP TRIGGER comparisons_no_update")
        for (annotator_id,) in db.execute("SELECT id FROM annotators").fetchall():
            ids = [row[0] for row in db.execute(
                "SELECT id FROM comparisons WHERE annotator_id = ? ORDER BY rowid", [annotator_id])]
            gaps = rng.lognormal(np.log(2.8), 0.35, len(ids))
            gaps[len(ids) // 2] += 1200.0
            ends = time.time() - 600.0 * annotator_id - (gaps.sum() - np.cumsum(gaps))
            for comparison_id, end in zip(ids, ends):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end)) + f".{int(end % 1 * 1000):03d}Z"
                db.execute("UPDATE comparisons SET created = ? WHERE id = ?", [stamp, comparison_id])
        db.execute(trigger)


def take_labelling(settings_dir: Path) -> None:
    from ageapp.ui.label.page import install_label_page
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.shell.settings import AppSettings

    folder = settings_dir / "labelling"
    folder.mkdir()
    path = build_labelling_project(folder)
    simulate_earlier_work(path)
    AppSettings().set_annotator("alice")
    window = MainWindow()
    page = install_label_page(window)
    window.resize(1280, 900)
    window.show()
    QTest.qWaitForWindowExposed(window)
    window.activateWindow()
    QTest.qWaitForWindowActive(window)
    window.open_project_path(path)
    ages = dict(page.db.execute("SELECT id, age FROM images").fetchall())
    answered = 0
    while answered < 4:  # a few answers on the query on screen, so the plot has lines
        task = page.task
        if task.kind == "query":
            answered += 1
        query_older = ages[task.query_image_id] > ages[task.reference_image_id]
        QTest.keyClick(page.panel, Qt.Key.Key_Left if query_older == (task.query_side == "left") else Qt.Key.Key_Right)
    page.statistics_panel.refresh_now()
    QTest.qWait(1500)
    window.grab().save(str(HERE / "labelling.png"))
    window.close()



if __name__ == "__main__":
    sys.exit(main())
