"""Qt tests: QSettings, the preferences file and QStandardPaths point at temporary places, never at the
user's real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(autouse=True)
def isolated_qt_settings(qapp, tmp_path: Path, monkeypatch):
    """Every test gets empty settings (QSettings and the preferences file) in its own temporary folder."""
    monkeypatch.setenv("AGEAPP_CONFIG_DIR", str(tmp_path / "config"))
    QStandardPaths.setTestModeEnabled(True)
    qapp.setOrganizationName("ageapp")
    qapp.setApplicationName("ageapp")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield tmp_path / "settings"


@pytest.fixture
def message_boxes(monkeypatch) -> list[tuple[str, str]]:
    """Records (title, text + informative text) of every QMessageBox instead of blocking on exec()."""
    shown: list[tuple[str, str]] = []

    def record(box: QMessageBox) -> int:
        shown.append((box.windowTitle(), f"{box.text()}\n{box.informativeText()}"))
        return int(QMessageBox.StandardButton.Ok.value)

    monkeypatch.setattr(QMessageBox, "exec", record)
    return shown


# The label page's window, shared by the label page's test files (tests/ui/test_label_page.py: new_project).
@pytest.fixture
def make_window(qtbot):
    from ageapp.ui.label.page import install_label_page
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.shell.settings import AppSettings

    def make(annotator: str | None = "alice"):
        if annotator:
            AppSettings().set_annotator(annotator)
        window = MainWindow()
        page = install_label_page(window)
        qtbot.addWidget(window)
        with qtbot.waitActive(window):
            window.show()
            window.activateWindow()
        return window, page

    return make


@pytest.fixture
def labelling(make_window, tmp_path):
    """A window labelling a six-query project (paper protocol, 3 comparisons, no gold pairs) as alice."""
    window, page = make_window()
    assert window.open_project_path(_label_page_tests().new_project(tmp_path))
    return window, page


def _label_page_tests():
    from tests.ui import test_label_page

    return test_label_page
