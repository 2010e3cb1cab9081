"""The log file and the global exception hook: an unexpected error shows a dialog, the app keeps running.

An exception escaping a Qt slot (or a worker thread's run()) reaches `sys.excepthook`. The hook writes
the traceback to the log file and asks the main thread, through a queued signal, to show an
`ErrorDialog` that says where the log is. Widgets are never touched from the hook's own thread.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, QStandardPaths, Qt, QtMsgType, QUrl, Signal, Slot, qInstallMessageHandler
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger("ageapp")

LOG_FILE_NAME = "ageapp.log"


def log_directory() -> Path:
    """The user's data folder for ageapp (QStandardPaths.AppDataLocation)."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location) if location else Path.home() / ".ageapp"


def setup_logging(directory: Path | None = None, level: int = logging.INFO) -> Path:
    """Log `ageapp.*` records to `<directory>/ageapp.log` (rotated at 1 MB, 3 kept); returns the path."""
    directory = Path(directory) if directory is not None else log_directory()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOG_FILE_NAME
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    for old in [h for h in log.handlers if getattr(h, "_ageapp_file", False)]:
        log.removeHandler(old)
        old.close()
    handler._ageapp_file = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(level)
    return path


def forward_qt_messages():
    """Send Qt's own warnings to the log file too; returns the previous handler (pass it back to
    qInstallMessageHandler to undo). The app only: pytest-qt installs its own in tests."""
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(kind, context, message):  # noqa: ARG001 (Qt's signature)
        logging.getLogger("ageapp.qt").log(levels.get(kind, logging.WARNING), message)

    return qInstallMessageHandler(handler)


class ErrorDialog(QMessageBox):
    """Says what went wrong, that the app is still running, and where the details were written."""

    def __init__(self, summary: str, details: str, log_path: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Critical)
        self.setWindowTitle("ageapp: unexpected error")
        self.setText(f"Something went wrong: {summary}")
        where = f"The details were written to:\n{log_path}" if log_path else "The details are below."
        self.setInformativeText(
            "ageapp is still running. Try the action again; if the error comes back, report it and attach "
            f"the log file.\n\n{where}"
        )
        self.setDetailedText(details)
        self.log_path = log_path
        self.setStandardButtons(QMessageBox.StandardButton.Ok)
        if log_path is not None:
            open_folder = self.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
            open_folder.clicked.connect(self._open_log_folder)

    def _open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_path.parent)))


class ExceptionHook(QObject):
    """Install with `install()`; `uninstall()` restores the previous hooks (tests use both)."""

    exception_caught = Signal(str, str)  # summary, formatted traceback

    def __init__(self, log_path: Path | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.log_path = log_path
        self.dialogs_shown: list[str] = []
        self._showing = False
        self._previous_hook = None
        self._previous_thread_hook = None
        # Always queued: the dialog opens from the event loop once the failing slot has unwound, never
        # inside the hook (PySide may still be handling the error there) nor in a worker thread.
        self.exception_caught.connect(self._show_dialog, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        if self._previous_hook is not None:
            sys.excepthook = self._previous_hook
            threading.excepthook = self._previous_thread_hook
            self._previous_hook = self._previous_thread_hook = None

    def handle(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            app = QApplication.instance()
            if app is not None:
                app.quit()
            return
        details = "".join(traceback.format_exception(kind, value, tb))
        log.error("Unhandled exception\n%s", details)
        summary = f"{kind.__name__}: {value}" if str(value) else kind.__name__
        self.exception_caught.emit(summary, details)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(str, str)
    def _show_dialog(self, summary: str, details: str) -> None:
        if self._showing:  # an error while the dialog is open: logged, not stacked
            return
        self._showing = True
        try:
            self.dialogs_shown.append(summary)
            dialog = ErrorDialog(summary, details, self.log_path, QApplication.activeWindow())
            dialog.exec()
        finally:
            self._showing = False
