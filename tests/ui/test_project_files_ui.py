"""The window and odd project files: a pipe named as a project (also from the recent projects) is refused at
once instead of freezing the window, a journal set aside is reported, and File ▸ Restore from backup… puts a
backup back."""

from __future__ import annotations

import os

import pytest

from ageapp.annotation.session import AnnotationSession
from ageapp.store.backup import copy_project
from ageapp.store.db import open_project
from ageapp.store.journal import wal_path
from ageapp.ui.shell.main_window import MainWindow
from tests.factories import foreign_journal, make_project


@pytest.fixture
def window(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    return window


def _comparisons(db) -> int:
    return db.execute("SELECT count(*) FROM comparisons").fetchone()[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("route", ["open", "recent projects"])
def test_a_pipe_named_as_the_project_is_refused_without_freezing(window, tmp_path, message_boxes, route):
    fifo = tmp_path / "study.ageproj"
    os.mkfifo(fifo)
    if route == "open":
        assert not window.open_project_path(fifo)
    else:
        window.settings.add_recent_project(fifo)
        window.start_page.open_project_requested.emit(str(fifo))  # a click on the recent project
    (title, text), = message_boxes
    assert title == "Could not open the project" and "is a pipe (FIFO), not a regular" in text
    assert not window.session.is_open()


def test_a_journal_that_is_not_the_projects_own_is_set_aside_and_reported(window, tmp_path, message_boxes):
    project = tmp_path / "study.ageproj"
    make_project(project, references=4, queries=2)[0].close()
    wal_path(project).write_bytes(foreign_journal(tmp_path / "other"))
    assert window.open_project_path(project)
    (title, text), = message_boxes
    assert title == "About this project" and "was not merged because" in text
    assert len(list(tmp_path.glob("study.set-aside-*"))) == 1


def test_restore_from_backup_puts_it_back_and_reopens_the_project(window, tmp_path, message_boxes):
    project = tmp_path / "study.ageproj"
    db = make_project(project, references=10, queries=4)[0]
    session = AnnotationSession(db, "ann", seed=0)
    for _ in range(3):
        session.answer(session.next_task(), "left", response_ms=1)
    backup = copy_project(project, tmp_path / "backup.ageproj")
    for _ in range(4):
        session.answer(session.next_task(), "left", response_ms=1)
    db.close()
    assert window.open_project_path(project) and window.restore_action.isEnabled()
    assert _comparisons(window.session.db) == 7
    assert window.restore_backup_path(backup)
    assert window.session.is_open() and _comparisons(window.session.db) == 3
    (title, text), = message_boxes
    assert title == "Backup restored" and "The project as it was, with its journal, is in" in text
    window.close_project()
    (aside,) = tmp_path.glob("study.set-aside-*")
    with open_project(aside / project.name, read_only=True) as old:
        assert _comparisons(old) == 7


def test_a_journal_deleted_while_labelling_stops_the_labelling_and_says_so(qtbot, tmp_path, message_boxes):
    from PySide6.QtCore import Qt

    from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
    from ageapp.core.selection import Protocol
    from ageapp.ui.label.page import install_label_page
    from ageapp.ui.shell.settings import AppSettings

    project = tmp_path / "study.ageproj"
    db = make_project(project, references=40, queries=6)[0]
    save_labelling_settings(db, LabellingSettings(Protocol("active"), gold_rate=0.0))
    db.close()
    AppSettings().set_annotator("alice")
    window = MainWindow()
    page = install_label_page(window)
    qtbot.addWidget(window)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    assert window.open_project_path(project)
    for _ in range(5):
        qtbot.keyClick(page.panel, Qt.Key.Key_Left)
    wal_path(project).unlink()  # a cleaner
    qtbot.keyClick(page.panel, Qt.Key.Key_Left)
    (title, text), = message_boxes
    assert title == "Labelling stopped" and "was deleted by another program" in text
    assert "everything answered before was saved into the project file" in text and "open it again" in text
    window.close_project()
    with open_project(project, read_only=True) as reopened:
        assert _comparisons(reopened) == 5
