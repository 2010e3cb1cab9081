"""Regenerate new_project_wizard.png, new_project_summary.png, team_agreement.png and look_closer.png (a developer
tool, not shipped).

    Xvfb :99 -screen 0 1600x1000x24 &  DISPLAY=:99 .venv/bin/python docs/screenshots/take_team_screenshots.py

Needs ../shared/data: FG-NET (references, every third photo) and UTKFace (queries), imported through the New project
wizard itself with the YuNet detector from ../shared/models when present. The team: the project is split into three
parts (30% overlap), each part is answered by a simulated labeller (the paper's answer model, each with their own β
against the UTKFace ages in the file names; "ben" answers carelessly), the parts are merged back, and Tools ▸ Team
progress and agreement… is shown.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QSettings, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
UTKFACE = SHARED / "data" / "utkface" / "images"
FGNET = SHARED / "data" / "fgnet" / "images"
DETECTOR = SHARED / "models" / "face_detection_yunet.onnx"
LABELLERS = {"amira": 0.36, "ben": 0.08, "chloe": 0.3}  # β: the paper's typical labeller, a careless one, a good one


def subset(source: Path, folder: Path, every: int, limit: int | None) -> Path:
    folder.mkdir()
    for image in sorted(source.iterdir())[every - 1 :: every][:limit]:
        (folder / image.name).symlink_to(image)
    return folder


def wait_until(app, condition, timeout_s: float = 600) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        QTest.qWait(20)


def take_wizard(app, window, folder: Path) -> Path:
    wizard = window.new_project()
    wizard.project.file.set_path(folder / "pilot.ageproj")
    wizard.next()
    wizard.references.fields.set_source(subset(FGNET, folder / "fgnet", 3, None), "fgnet")
    wizard.next()
    wizard.queries.fields.set_source(subset(UTKFACE, folder / "utkface", 40, 450), "utkface", aligned=True)
    wizard.next()
    wizard.detector.detector.set_path(DETECTOR if DETECTOR.is_file() else None)
    page = wizard.importing
    shown = []
    original = page.progress.show_progress

    def show_progress(done, total, step):
        original(done, total, step)
        if not shown and total and done > 0.45 * total and page.progress.time_left.text().endswith("left"):
            app.processEvents()
            wizard.grab().save(str(HERE / "new_project_wizard.png"))
            shown.append(True)

    page.progress.show_progress = show_progress
    wizard.next()
    wait_until(app, lambda: page.worker is None)
    QTest.qWait(200)
    wizard.grab().save(str(HERE / "new_project_summary.png"))
    path = wizard.created
    wizard.reject()  # closing the wizard opens the project in the window
    return path


def simulate_part(path: Path, name: str, beta: float, share: float, seed: int) -> None:
    """The labeller answers 6 references around each of the first `share` of the part's queries."""
    from ageapp.annotation.session import recompute_posterior
    from ageapp.core.names import parse_name
    from ageapp.store.annotators import annotator_id_for
    from ageapp.store.comparisons import record_comparison
    from ageapp.store.db import open_project
    from ageapp.store.images import image_path

    rng = np.random.default_rng(seed)
    with closing(open_project(path)) as db:
        references = db.execute("SELECT id, age FROM images WHERE role = 'reference' AND age IS NOT NULL").fetchall()
        ref_ids, ref_ages = np.array([r[0] for r in references]), np.array([r[1] for r in references])
        queries = [row[0] for row in db.execute("SELECT id FROM images WHERE role = 'query' ORDER BY id")]
        annotator = annotator_id_for(db, name)
        for query in queries[: int(share * len(queries))]:
            parsed = parse_name(image_path(db, query).name, "utkface")
            true_age = float(getattr(parsed, "age", 30) or 30)
            with db.atomic():
                for _ in range(6):
                    target = np.clip(true_age + rng.normal(0, 8), 0, 69)
                    index = int(np.argmin(np.abs(ref_ages - target) + rng.random(len(ref_ages)) * 2))
                    older = rng.random() < 1 / (1 + np.exp(-beta * (true_age - ref_ages[index])))
                    record_comparison(db, query_image_id=query, reference_image_id=int(ref_ids[index]),
                                      answer="older" if older else "younger", annotator_id=annotator,
                                      query_side="left")
                recompute_posterior(db, query, 100)


def take_team(app, window, project: Path, folder: Path) -> None:
    from ageapp.annotation.exchange import merge_projects
    from ageapp.annotation.team import split_project
    from ageapp.store.db import open_project

    window.close_project()
    with closing(open_project(project)) as db:
        report = split_project(db, project, folder / "team", parts=3, overlap=0.3, seed="screenshot")
    for (name, beta), part, share, seed in zip(LABELLERS.items(), report.files, (0.9, 0.6, 0.35), (1, 2, 3)):
        simulate_part(part, name, beta, share, seed)
    with closing(open_project(project)) as db:
        for part in report.files:
            with closing(open_project(part, read_only=True)) as other:
                merge_projects(db, other)
    window.open_project_path(project)
    dialog = window.team_action.show()
    wait_until(app, lambda: dialog.report is not None and dialog.worker is None)
    dialog.resize(900, 460)
    QTest.qWait(300)
    dialog.grab().save(str(HERE / "team_agreement.png"))
    dialog.reject()


def take_closer(app, window) -> None:
    page = window.page("label")
    window.show_page("label")
    QTest.qWait(300)
    QApplication.sendEvent(page.panel, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier))
    QTest.qWait(500)
    window.grab().save(str(HERE / "look_closer.png"))
    QApplication.sendEvent(page.panel, QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_Space,
                                                 Qt.KeyboardModifier.NoModifier))


def main() -> int:
    for needed in (FGNET, UTKFACE):
        if not needed.is_dir():
            raise SystemExit(f"{needed} is absent: these screenshots need the development data in ../shared")
    work = Path(tempfile.mkdtemp(prefix="ageapp-team-shots-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
    app = QApplication(sys.argv[:1])
    from ageapp.ui.shell.app import build_window, configure_application
    from ageapp.ui.shell.settings import AppSettings

    configure_application(app)
    AppSettings().set_annotator("lead")
    window = build_window()
    window.resize(1400, 900)
    window.show()
    QTest.qWaitForWindowExposed(window)
    try:
        project = take_wizard(app, window, work)
        QTest.qWait(500)
        take_closer(app, window)
        take_team(app, window, project, work)
    finally:
        window.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
