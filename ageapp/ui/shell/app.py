"""`run_app(args) -> int`: the QApplication (name, icon, style sheet), the log file, the exception hook,
the main window."""

from __future__ import annotations

import argparse
import logging
import sys

from PySide6.QtCore import QTimer, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from ageapp import __version__
from ageapp.ui.estimate.page import install_estimate_page
from ageapp.ui.label.page import install_label_page
from ageapp.ui.project.file_actions import install_project_actions
from ageapp.ui.shell.errors import ExceptionHook, forward_qt_messages, setup_logging
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.messages import show_warning
from ageapp.ui.shell.preferences import default_store
from ageapp.ui.shell.resources import APP_ICON_PNG, APP_ICON_SVG, STYLE_SHEET, resource_path
from ageapp.ui.study.page import install_study_page
from ageapp.ui.train.page import install_train_page

log = logging.getLogger("ageapp")


def application_icon() -> QIcon:
    icon = QIcon()
    for relative in (APP_ICON_PNG, APP_ICON_SVG):
        path = resource_path(relative)
        if path.is_file():
            icon.addFile(str(path))
    return icon


def style_sheet() -> str:
    """The style sheet text, or "" (the platform look) when the file is missing or unreadable."""
    path = resource_path(STYLE_SHEET)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        log.warning("style sheet %s not loaded: %s", path, error)
        return ""


def configure_application(app: QApplication) -> None:
    """Names (they place QSettings and the data folder), icon, style; safe to call on an existing app."""
    app.setOrganizationName("ageapp")
    app.setApplicationName("ageapp")
    app.setApplicationDisplayName("ageapp")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("ageapp")
    app.setWindowIcon(application_icon())
    app.setStyle("Fusion")  # the style sheet is written against Fusion, the same on every platform
    app.setStyleSheet(style_sheet())


def build_window(args: argparse.Namespace | None = None) -> MainWindow:
    """The main window with every page and the project commands (what `ageapp` shows; benchmarks build it too)."""
    window = MainWindow()
    install_label_page(window)
    install_estimate_page(window, camera=getattr(args, "camera", None), camera_fps=getattr(args, "camera_fps", None))
    install_train_page(window)
    install_study_page(window)
    install_project_actions(window)
    return window


def run_app(args: argparse.Namespace | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    store = default_store()
    preferences = store.load()
    log_path = setup_logging(level=preferences.log_level_number())
    previous_qt_handler = forward_qt_messages()
    hook = ExceptionHook(log_path, app)
    hook.install()
    log.info("ageapp %s starting; log file %s", __version__, log_path)

    window = build_window(args)
    window.log_path = log_path
    window.show()
    problem = store.take_message()  # a damaged preferences file: said once, once the window is up
    if problem:
        log.warning("%s", problem)
        QTimer.singleShot(0, lambda: show_warning(window, "Preferences reset", problem, logged=True))
    project = getattr(args, "project", None)
    if project:
        window.open_project_path(project)
    try:
        return app.exec()
    finally:
        hook.uninstall()
        qInstallMessageHandler(previous_qt_handler)
        log.info("ageapp closed")
