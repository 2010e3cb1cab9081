"""A long task on a project in a worker thread, and the bar that follows it.

`ProjectTask` (labelme's download worker, in shape): a QThread that opens its own connection to the project (one
connection per thread), runs a domain function `job(db, progress, should_stop)` from ageapp.annotation, and
reports through typed signals: `progress(done, total, step)`, then `succeeded(result)` or `failed(message)`.
`requestInterruption()` is the Cancel: the domain function stops between two committed units of work, so what
was done is kept and nothing is half written. An exception becomes `failed`, never a crash.

`TaskProgress` is the bar, the step, the time left (`Eta`) and the Cancel button.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ageapp.store.db import ProjectError, open_project
from ageapp.ui.train.progress import PROGRESS_STYLE, format_duration

log = logging.getLogger("ageapp.task")
ETA_AFTER_S = 1.0  # no estimate before the current step has run this long (its first items cost more)

Job = Callable[[object, Callable[[int, int, str], None], Callable[[], bool]], object]


class ProjectTask(QThread):
    progress = Signal(int, int, str)  # done, total (0: not known yet), what is being done
    succeeded = Signal(object)  # what the job returned
    failed = Signal(str)  # what went wrong and what to do, for the user

    def __init__(self, project: Path, job: Job, *, read_only: bool = False, known_errors: tuple = ()):
        super().__init__()
        self.project, self.job, self.read_only = Path(project), job, read_only
        self.known_errors = known_errors  # exceptions whose message is already worded for the user

    def run(self) -> None:
        try:
            db = open_project(self.project, read_only=self.read_only)
        except ProjectError as error:
            self.failed.emit(f"The project could not be opened: {error}")
            return
        try:
            result = self.job(db, self.progress.emit, self.isInterruptionRequested)
        except (ProjectError, *self.known_errors) as error:
            self.failed.emit(_sentence(str(error)))
        except Exception as error:  # noqa: BLE001  a worker never takes the window down
            log.exception("task on %s failed", self.project)
            self.failed.emit(f"The task stopped: {type(error).__name__}: {error}. What was done before is kept; the "
                             "log file (Help ▸ Show log file path) has the details.")
        else:
            self.succeeded.emit(result)
        finally:
            db.close()


class WorkerOwner:
    """A dialog or page that runs one worker thread (`self.worker`, None when none ran): Cancel asks it to stop;
    `wait` asks and waits (before the window closes)."""

    worker: QThread | None = None

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.requestInterruption()

    def wait(self) -> None:
        if self.worker is not None:
            self.worker.requestInterruption()
            self.worker.wait()


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


class Eta:
    """Time left from the pace of the current step: a step (finding faces, predicting genders) has its own cost
    per item, so the rate is measured afresh whenever the step changes; the items of later steps are assumed to
    cost what the current ones do (the estimate firms up as each step starts)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._step, self._since, self._done_at_start = None, 0.0, 0

    def update(self, done: int, total: int, step: str) -> float | None:
        """Seconds left, or None while there is nothing to go on yet."""
        now = self.clock()
        if step != self._step:
            self._step, self._since, self._done_at_start = step, now, done
            return None
        elapsed, advanced = now - self._since, done - self._done_at_start
        if total <= 0 or advanced <= 0 or elapsed < ETA_AFTER_S:
            return None
        return max(0.0, (total - done) * elapsed / advanced)


class TaskProgress(QWidget):
    """One bar over every step of a task, what it is doing, the time left, and Cancel."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(parent)
        self.eta = Eta(clock)
        self.step = QLabel("")
        self.step.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setStyleSheet(PROGRESS_STYLE)
        self.time_left = QLabel("")
        self.time_left.setObjectName("hint")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the item being written: what was done is kept")
        self.cancel_button.clicked.connect(self._cancel)
        row = QHBoxLayout()
        row.addWidget(self.bar, stretch=1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.step)
        layout.addLayout(row)
        layout.addWidget(self.time_left)
        self.reset()

    def reset(self) -> None:
        self.eta = Eta(self.eta.clock)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.step.setText("")
        self.time_left.setText("")
        self.cancel_button.setEnabled(False)

    def started(self, text: str = "Starting…") -> None:
        self.reset()
        self.bar.setRange(0, 0)  # busy until the first figures come
        self.step.setText(text)
        self.cancel_button.setEnabled(True)

    def show_progress(self, done: int, total: int, step: str) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
            self.bar.setFormat(f"{done:,} / {total:,}  (%p%)")
        else:
            self.bar.setRange(0, 0)
        self.step.setText(step[:1].upper() + step[1:] + "…")
        seconds = self.eta.update(done, total, step)
        self.time_left.setText(format_duration(-1 if seconds is None else seconds))

    def finished(self, text: str) -> None:
        """The task ended (done, cancelled or failed): the bar stays where it got to, `text` says how it ended."""
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
        self.step.setText(text)
        self.time_left.setText("")
        self.cancel_button.setEnabled(False)

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.step.setText("Cancelling after the item being written…")
        self.cancel_requested.emit()
