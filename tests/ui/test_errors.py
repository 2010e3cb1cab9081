"""The global exception hook: an exception in a slot is logged and shown in a dialog; the app runs on."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread, QTimer

from ageapp.ui.shell import errors
from ageapp.ui.shell.errors import ErrorDialog, ExceptionHook, setup_logging


@pytest.fixture
def dialogs(monkeypatch) -> list[dict]:
    """Records each ErrorDialog instead of blocking on exec()."""
    shown: list[dict] = []

    def record(dialog: ErrorDialog) -> int:
        shown.append(
            {
                "text": dialog.text(),
                "informative": dialog.informativeText(),
                "details": dialog.detailedText(),
                "main_thread": threading.current_thread() is threading.main_thread(),
            }
        )
        return 0

    monkeypatch.setattr(ErrorDialog, "exec", record)
    return shown


@pytest.fixture
def hook(tmp_path):
    log_path = setup_logging(tmp_path / "logs")
    installed = ExceptionHook(log_path)
    installed.install()
    yield installed
    installed.uninstall()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_the_dialog_and_the_app_keeps_running(qtbot, hook, dialogs, tmp_path):
    def broken_slot():
        raise ValueError("the reference image is missing")

    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=2000)
    shown = dialogs[0]
    assert shown["text"] == "Something went wrong: ValueError: the reference image is missing"
    assert str(tmp_path / "logs" / "ageapp.log") in shown["informative"]
    assert "still running" in shown["informative"]
    assert "broken_slot" in shown["details"]

    log_text = (tmp_path / "logs" / "ageapp.log").read_text(encoding="utf-8")
    assert "Unhandled exception" in log_text and "the reference image is missing" in log_text

    later = []  # the event loop still runs after the error
    QTimer.singleShot(0, lambda: later.append("ran"))
    qtbot.waitUntil(lambda: later == ["ran"], timeout=2000)


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_worker_thread_is_shown_on_the_main_thread(qtbot, hook, dialogs):
    class Worker(QThread):
        def run(self):
            raise RuntimeError("decoder crashed")

    worker = Worker()
    worker.start()
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=3000)
    worker.wait(2000)
    assert dialogs[0]["text"].endswith("RuntimeError: decoder crashed")
    assert dialogs[0]["main_thread"]


def test_uninstall_restores_the_previous_hook(tmp_path):
    import sys

    before = sys.excepthook
    hook = ExceptionHook(setup_logging(tmp_path))
    hook.install()
    assert sys.excepthook == hook.handle
    hook.uninstall()
    assert sys.excepthook is before


def test_log_directory_is_the_app_data_folder():
    # Test mode (conftest) moves AppDataLocation under ~/.qttest; the folder ends with the app's name.
    assert errors.log_directory().name == "ageapp"
