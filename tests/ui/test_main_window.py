"""The window and its start page: projects open and fail with a message, recent projects survive a
restart, pages join the Mode menu, the layout is remembered."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import RECENT_LIMIT


@pytest.fixture
def make_window(qtbot):
    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        with qtbot.waitActive(window):
            window.show()
            window.activateWindow()
        return window

    return make


def new_project(tmp_path: Path, name: str) -> Path:
    """A real, empty project file made through a throwaway window."""
    window = MainWindow()
    path = tmp_path / f"{name}.ageproj"
    assert window.create_project_path(path)
    window.close()
    window.deleteLater()
    return path


def test_recent_projects_survive_a_restart_most_recent_first(make_window, tmp_path):
    first, second = tmp_path / "first.ageproj", tmp_path / "second.ageproj"
    window = make_window()
    assert window.create_project_path(first)
    assert window.create_project_path(tmp_path / "second")  # the suffix is added
    assert window.session.path == second
    window.close()

    reopened = make_window()
    assert reopened.start_page.recent_paths() == [str(second), str(first)]
    reopened.recent_menu.aboutToShow.emit()
    assert [a.text() for a in reopened.recent_menu.actions() if a.text()][:2] == ["second.ageproj", "first.ageproj"]
    reopened.close()

    first.unlink()  # a file that vanished is pruned from the list
    again = make_window()
    assert again.start_page.recent_paths() == [str(second)]


def test_recent_list_keeps_the_last_ten(make_window, tmp_path):
    window = make_window()
    paths = [tmp_path / f"p{i}.ageproj" for i in range(RECENT_LIMIT + 2)]
    for path in paths:
        assert window.create_project_path(path)
    assert window.start_page.recent_paths() == [str(p) for p in reversed(paths)][:RECENT_LIMIT]


def test_double_click_on_a_recent_project_opens_it(make_window, qtbot, tmp_path):
    project = new_project(tmp_path, "study")
    window = make_window()
    assert not window.session.is_open()
    recent = window.start_page.recent_list
    rect = recent.visualItemRect(recent.item(0))
    # A real double-click is press, release, then the double-click event (QTest sends only the last).
    qtbot.mouseClick(recent.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(recent.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.session.path == project
    assert window.windowTitle() == "study.ageproj — ageapp"
    assert window.close_project_action.isEnabled()
    window.close_project()
    assert window.windowTitle() == "ageapp" and not window.close_project_action.isEnabled()


def test_a_newer_project_shows_the_message_and_the_app_keeps_running(make_window, message_boxes, tmp_path):
    project = new_project(tmp_path, "future")
    with sqlite3.connect(project) as connection:
        connection.execute("PRAGMA user_version = 999")
    window = make_window()
    assert not window.open_project_path(project)
    assert len(message_boxes) == 1
    title, text = message_boxes[0]
    assert title == "Could not open the project"
    assert "newer ageapp" in text and "update ageapp" in text
    assert window.isVisible() and not window.session.is_open()
    assert window.open_project_path(new_project(tmp_path, "fine"))  # still working


def test_a_file_that_is_not_sqlite_shows_the_message(make_window, message_boxes, tmp_path):
    notes = tmp_path / "notes.ageproj"
    notes.write_text("these are not the droids you are looking for\n")
    window = make_window()
    window.start_page.open_project_requested.emit(str(notes))
    assert len(message_boxes) == 1
    assert "not an ageapp project (not a SQLite database)" in message_boxes[0][1]
    assert window.isVisible() and window.current_page_name() == "start"


def test_a_vanished_recent_project_says_so_and_leaves_the_list(make_window, message_boxes, tmp_path):
    project = new_project(tmp_path, "gone")
    window = make_window()
    assert window.start_page.recent_paths() == [str(project)]
    project.unlink()
    window.start_page.open_project_requested.emit(str(project))
    assert "There is no project at" in message_boxes[0][1] and "Open project" in message_boxes[0][1]
    assert window.start_page.recent_paths() == []


def test_creating_over_an_existing_file_is_refused(make_window, message_boxes, tmp_path):
    project = new_project(tmp_path, "taken")
    window = make_window()
    assert not window.create_project_path(project)
    assert "already exists" in message_boxes[0][1]


def test_pages_join_the_mode_menu_and_hear_about_the_project(make_window, tmp_path):
    window = make_window()
    label_action = window.mode_action("label")
    assert not label_action.isEnabled()

    class LabelPage(QLabel):
        projects: list = []

        def set_project(self, db):
            self.projects.append(db)

    page = LabelPage("label page")
    assert window.add_page("label", page) is label_action
    assert label_action.isEnabled() and label_action.shortcut().toString() == "Ctrl+2"
    assert window.create_project_path(tmp_path / "p.ageproj")
    assert window.current_page_name() == "label"  # a project opens on the labelling page
    assert page.projects[-1] is window.session.db
    window.close_project()
    assert page.projects[-1] is None and window.current_page_name() == "start"
    label_action.trigger()
    assert window.pages.currentWidget() is page
    with pytest.raises(ValueError, match="already exists"):
        window.add_page("label", QWidget())


def test_estimate_buttons_without_an_estimate_page_explain(make_window, message_boxes):
    window = make_window()
    window.start_page.estimate_camera_button.click()
    assert "not available in this build" in message_boxes[0][1]


def test_estimate_buttons_reach_the_estimate_page(make_window):
    window = make_window()
    calls = []

    class EstimatePage(QWidget):
        def estimate_from_image(self):
            calls.append("image")

        def estimate_from_camera(self):
            calls.append("camera")

    window.add_page("estimate", EstimatePage())
    window.start_page.estimate_image_button.click()
    window.start_page.estimate_camera_button.click()
    assert calls == ["image", "camera"] and window.current_page_name() == "estimate"


def test_window_geometry_and_docks_are_remembered(make_window):
    window = make_window()
    window.resize(700, 500)  # within the offscreen screen (800x600)
    dock = window.add_dock("posterior_dock", "Posterior", QLabel("plot"), Qt.DockWidgetArea.LeftDockWidgetArea)
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)  # the user moves it
    window.close()

    again = make_window()
    assert (again.width(), again.height()) == (700, 500)
    restored = again.add_dock("posterior_dock", "Posterior", QLabel("plot"), Qt.DockWidgetArea.LeftDockWidgetArea)
    assert again.dockWidgetArea(restored) == Qt.DockWidgetArea.BottomDockWidgetArea


def test_f1_sheet_lists_the_real_shortcuts(make_window, qtbot):
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window._shortcuts_dialog
    assert dialog is not None and dialog.isVisible()
    rows = dialog.rows()
    assert ("Help", "F1", "Keyboard shortcuts") in rows
    assert ("File", "Ctrl+O", "Open project") in rows
    assert ("Mode", "Ctrl+1", "Start page") in rows
    assert not any(where == "Label" for where, _, _ in rows)  # no label page in this window: none of its keys
