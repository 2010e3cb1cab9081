"""Regenerate beyond_references.png (a developer tool, not shipped): a query older than every reference.

    Xvfb :99 -screen 0 1600x1000x24 &  DISPLAY=:99 .venv/bin/python docs/screenshots/take_beyond_screenshot.py

Needs ../shared/data: FG-NET (references, every second photo: ages 0-69) and UTKFace (queries aged 85 and over,
by their file names), imported as `ageapp import` does, with the YuNet detector from ../shared/models when
present. The labeller answers truthfully (every query is older than every reference) until the page says so.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
UTKFACE = SHARED / "data" / "utkface" / "images"
FGNET = SHARED / "data" / "fgnet" / "images"
DETECTOR = SHARED / "models" / "face_detection_yunet.onnx"


def build_project(folder: Path) -> Path:
    from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
    from ageapp.core.names import parse_utkface_name
    from ageapp.core.selection import Protocol
    from ageapp.datasets.scan import scan
    from ageapp.store.db import open_project
    from ageapp.store.importing import import_records

    old = [p for p in sorted(UTKFACE.iterdir()) if (getattr(parse_utkface_name(p.name), "age", None) or 0) >= 85][:12]
    path = folder / "old-faces.ageproj"
    db = open_project(path, create=True)
    for role, images, aligned in (("reference", sorted(FGNET.iterdir())[1::2], False), ("query", old, True)):
        subset = folder / role
        subset.mkdir()
        for image in images:
            (subset / image.name).symlink_to(image)
        import_records(db, scan(subset), subset, role=role, aligned=aligned,
                       detector_path=DETECTOR if DETECTOR.is_file() else None)
    save_labelling_settings(db, LabellingSettings(Protocol("active"), gold_rate=0.0))
    db.close()
    return path


def main() -> int:
    settings_dir = Path(tempfile.mkdtemp(prefix="ageapp-beyond-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    app = QApplication(sys.argv[:1])
    from ageapp.ui.label.page import install_label_page
    from ageapp.ui.shell.app import configure_application
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.shell.settings import AppSettings

    configure_application(app)
    try:
        path = build_project(settings_dir)
        AppSettings().set_annotator("alice")
        window = MainWindow()
        page = install_label_page(window)
        window.resize(1280, 900)
        window.show()
        QTest.qWaitForWindowExposed(window)
        window.activateWindow()
        window.open_project_path(path)
        first = page.task.query_image_id
        for _ in range(40):  # the truthful answer: the query (85 or over) is older than the reference (69 or under)
            task = page.task
            if task is None or task.query_image_id != first:
                break
            QTest.keyClick(page.panel, Qt.Key.Key_Left if task.query_side == "left" else Qt.Key.Key_Right)
            QTest.qWait(30)
            if "beyond the references" in page.notice.text():
                break
        page.statistics_panel.refresh_now()
        QTest.qWait(1500)
        window.grab().save(str(HERE / "beyond_references.png"))
        print(page.notice.text())
        window.close()
    finally:
        shutil.rmtree(settings_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
