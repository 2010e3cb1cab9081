"""The application shell: resources found, names, icon and style set, run_app opens the window."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ageapp.ui.shell import app as app_module
from ageapp.ui.shell import errors
from ageapp.ui.shell.about import AboutDialog
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.resources import resource_path


def test_resource_path_from_the_source_tree_and_a_bundle(monkeypatch, tmp_path):
    assert resource_path("style.qss").is_file()
    assert resource_path("icons/ageapp.png").is_file()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("style.qss") == tmp_path / "resources" / "style.qss"


def test_configure_application_sets_names_icon_and_style(qapp):
    before = qapp.styleSheet()
    try:
        app_module.configure_application(qapp)
        assert qapp.organizationName() == "ageapp" and qapp.applicationName() == "ageapp"
        assert not qapp.windowIcon().isNull()
        assert "QPushButton" in qapp.styleSheet()
    finally:
        qapp.setStyleSheet(before)


def test_run_app_opens_the_main_window_and_returns_the_exit_code(qapp, monkeypatch, tmp_path):
    monkeypatch.setattr(errors, "log_directory", lambda: tmp_path / "data")
    before, hook_before = qapp.styleSheet(), sys.excepthook
    seen: list[MainWindow] = []

    def close_window():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen.extend(windows)
        for window in windows:
            window.close()  # the last window closing ends app.exec(), as for a user

    QTimer.singleShot(50, close_window)
    try:
        assert app_module.run_app(None) == 0
    finally:
        qapp.setStyleSheet(before)
    assert len(seen) == 1 and seen[0].windowTitle() == "ageapp"
    assert sys.excepthook == hook_before  # run_app's hook is gone once the app has closed
    log_text = (tmp_path / "data" / "ageapp.log").read_text(encoding="utf-8")
    assert "starting" in log_text and "ageapp closed" in log_text


@pytest.mark.parametrize("card", ["# Default model\n\nMAE 5.1 on MegaAge-Asian.\n", None])
def test_about_shows_the_version_and_the_model_card(qtbot, monkeypatch, tmp_path, card):
    if card is not None:
        (tmp_path / "resources" / "models").mkdir(parents=True)
        (tmp_path / "resources" / "models" / "default.md").write_text(card, encoding="utf-8")
    monkeypatch.setattr("ageapp.ui.shell.about.resource_path", lambda relative: tmp_path / "resources" / relative)
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert "ageapp 0.1.0" in dialog.heading.text()
    if card is None:
        assert "No default model card in this build" in dialog.model_card.toPlainText()
    else:
        assert "MAE 5.1 on MegaAge-Asian." in dialog.model_card.toPlainText()
