"""The self-test's window step (ageapp/selftest.py): the QApplication as `ageapp` sets it up, the main window with
all its pages, a project opened through it. Offscreen, with settings in a temporary folder; a dialog that would
wait for a click is recorded and fails the step instead of blocking it."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox


class StepFailed(Exception):
    """The window step failed for a reason worth a sentence (ageapp/selftest.py reports it as a FAIL). Its own
    class here: the self-test calls into the ui, never the other way round."""


def check_main_window(folder: Path, project: Path) -> str:
    qt_warnings: list[str] = []

    def keep(kind, context, message):  # noqa: ARG001 (Qt's signature); the offscreen platform's notices are not ours
        if "This plugin does not support" not in message:
            qt_warnings.append(message)

    dialogs: list[str] = []
    original = QMessageBox.exec, QDialog.exec

    def record_message(box: QMessageBox) -> int:
        dialogs.append(f"{box.windowTitle()}: {box.text()} {box.informativeText()}".strip())
        return int(QMessageBox.StandardButton.Ok.value)

    def record_dialog(dialog: QDialog) -> int:
        dialogs.append(f"dialog {dialog.windowTitle()!r}")
        return int(QDialog.DialogCode.Rejected.value)

    previous = qInstallMessageHandler(keep)
    QMessageBox.exec, QDialog.exec = record_message, record_dialog
    try:
        detail = _open_project_in_window(folder, project)
    finally:
        QMessageBox.exec, QDialog.exec = original
        qInstallMessageHandler(previous)
    if dialogs:
        raise StepFailed(f"the window asked instead of opening the project: {' | '.join(dialogs)}")
    return detail + (f"; Qt said: {' | '.join(qt_warnings[:3])}" if qt_warnings else "")


def _open_project_in_window(folder: Path, project: Path) -> str:
    from ageapp.ui.shell.app import configure_application

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "ageapp"])
    QStandardPaths.setTestModeEnabled(True)  # never the user's folders
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder / "qsettings"))
    configure_application(app)
    if app.windowIcon().isNull():
        raise StepFailed("the application icon did not load (resources/icons/ageapp.png)")
    if "QPushButton" not in app.styleSheet():
        raise StepFailed("the style sheet did not load (resources/style.qss)")

    from ageapp.ui.estimate.page import install_estimate_page
    from ageapp.ui.label.page import install_label_page
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.shell.settings import AppSettings
    from ageapp.ui.study.page import install_study_page
    from ageapp.ui.train.page import install_train_page

    AppSettings().set_annotator("selftest")  # the label page would otherwise ask who is labelling
    window = MainWindow()
    pages = [install(window) for install in (install_label_page, install_estimate_page, install_train_page,
                                             install_study_page)]
    window.show()
    app.processEvents()
    opened = window.open_project_path(project)
    title = window.windowTitle()
    app.processEvents()
    window.session.close()
    for page in pages:
        if hasattr(page, "shutdown"):
            page.shutdown()
    window.hide()
    window.deleteLater()
    app.processEvents()
    if not opened:
        raise StepFailed(f"the window could not open {project}")
    if not title.startswith(project.name):
        raise StepFailed(f"window title {title!r} does not name the project")
    return f"Qt {app.platformName()}: main window with {len(pages) + 1} pages opened the project ({title})"
