"""After a crash: the project opens again with a notice that says ageapp did not close properly and how many answers
of that session are in the project, and the log says what happened (opens, the recovery, merges, errors)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from ageapp.store.progress import answer_counts
from ageapp.ui.label.page import install_label_page
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from tests.factories import make_project

REPO = Path(__file__).resolve().parents[2]

# A window opens the project, seven answers are given, and the process dies without closing anything (os._exit:
# no atexit, no close event), as a crash or a kill -9 would leave it.
CRASH = r"""
import os, sys
sys.path.insert(0, {repo!r})
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {settings!r})
app = QApplication([])
app.setOrganizationName("ageapp"); app.setApplicationName("ageapp")
from ageapp.ui.label.page import install_label_page
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
AppSettings().set_annotator("alice")
window = MainWindow()
page = install_label_page(window)
assert window.open_project_path({project!r})
for _ in range(7):
    page._on_answered("left")
os._exit(9)
"""


def test_a_crash_is_said_with_the_answers_kept_and_logged(tmp_path, isolated_qt_settings, message_boxes, qtbot, caplog):
    path = tmp_path / "p.ageproj"
    db = make_project(path, references=71, queries=5)[0]
    db.close()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "AGEAPP_CONFIG_DIR": os.environ["AGEAPP_CONFIG_DIR"]}
    crashed = subprocess.run([sys.executable, "-c", CRASH.format(repo=str(REPO), settings=str(isolated_qt_settings),
                                                                  project=str(path))], env=env, capture_output=True)
    assert crashed.returncode == 9, crashed.stderr.decode()[-2000:]

    AppSettings().set_annotator("alice")
    window = MainWindow()
    install_label_page(window)
    qtbot.addWidget(window)
    with caplog.at_level(logging.INFO, logger="ageapp"):
        assert window.open_project_path(path)
    kept = sum(answer_counts(window.session.db))
    assert kept == 7  # each answer was committed before the next pair
    title, text = message_boxes[0]
    assert title == "Answers recovered"
    assert "did not close properly" in text and "the 7 answers given in that session are in the project" in text
    assert any("was not closed properly" in record.message for record in caplog.records)
    assert any(record.message.startswith(f"opened {path}") for record in caplog.records)
    # closed properly this time: the next open says nothing
    window.close_project()
    message_boxes.clear()
    assert window.open_project_path(path)
    assert message_boxes == []
