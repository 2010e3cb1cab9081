"""Housekeeping while labelling, taken off the key press: rolling backups (ageapp.store.backup) and WAL
checkpoints.

The store's BackupScheduler wants `maybe_backup()` after answers and `close()` when the project closes. A
copy of a MegaAge-sized project takes a second, so the runner calls `maybe_backup()` in a worker thread once
the labeller pauses (most calls return at once: a copy is due every `backup_minutes`), and `close()` when the
project closes. A failed copy never stops the labelling: its message goes out through `failed`.

In the same pause the worker checkpoints the write-ahead log on its own connection (PASSIVE: it never
blocks an answer). Otherwise SQLite does it inside a commit once the log passes 1,000 pages, about every
200 answers, and that answer waits for the database file's fsync (tens of milliseconds on a large project).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from ageapp.store.backup import BackupScheduler, checkpoint

PAUSE_MS = 2000


class _BackupWorker(QThread):
    def __init__(self, scheduler: BackupScheduler):
        super().__init__()
        self.scheduler = scheduler

    def run(self) -> None:
        checkpoint(self.scheduler.project)
        self.scheduler.maybe_backup()


class BackupRunner(QObject):
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.scheduler: BackupScheduler | None = None
        self._worker: _BackupWorker | None = None
        self._unchecked = False  # answers the scheduler has not been told about yet
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PAUSE_MS)
        self._timer.timeout.connect(self._run)

    def set_project(self, path, db=None) -> None:
        """A project opened (its path and connection, for the settings) or closed (None): the previous one's
        last copy is taken first."""
        self.finish()
        self.scheduler = None if path is None else BackupScheduler.for_project(db, path)

    def answered(self) -> None:
        """After each committed answer: a backup check once the labeller pauses."""
        if self.scheduler is not None:
            self._unchecked = True
            self._timer.start()

    def finish(self) -> None:
        """Wait for a running copy, then take the closing one (if anything was answered since the last)."""
        self._timer.stop()
        if self._worker is not None:
            self._collect()
        if self.scheduler is not None:
            if self._unchecked:
                self.scheduler.maybe_backup()  # tells it about the latest answers (and copies if one is due)
            self.scheduler.close()  # copies only if something was answered since the last copy
            self._report()
        self.scheduler, self._unchecked = None, False

    def _run(self) -> None:
        if self.scheduler is None:
            return
        if self._worker is not None:  # a copy is still being written: look again after the next pause
            self._timer.start()
            return
        self._unchecked = False
        self._worker = _BackupWorker(self.scheduler)
        self._worker.finished.connect(self._collect)
        self._worker.start(QThread.Priority.LowPriority)

    def _collect(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:  # already collected by finish()
            return
        worker.wait()
        worker.deleteLater()
        self._report()

    def _report(self) -> None:
        if self.scheduler is not None and self.scheduler.last_error:
            self.failed.emit(self.scheduler.last_error)
