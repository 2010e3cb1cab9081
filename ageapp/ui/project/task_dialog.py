"""A dialog that runs one task on the open project: an optional form on top (what to import, how to split), the
progress (bar, step, time left, Cancel), then what happened. The task runs in a ProjectTask on its own
connection; closing the dialog while it runs stops it after the unit of work being written."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from ageapp.ui.project.task import Job, ProjectTask, TaskProgress, WorkerOwner

log = logging.getLogger("ageapp.project")
WARNING_STYLE = "QLabel { background: #fff4d6; border: 1px solid #e6c36a; border-radius: 4px; padding: 6px; }"


class TaskDialog(WorkerOwner, QDialog):
    completed = Signal(object)  # the task's result, once it succeeded

    def __init__(self, title: str, project: Path, form: QWidget | None = None, start_text: str = "Start",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.project = Path(project)
        self.form = form
        self.progress = TaskProgress()
        self.progress.cancel_requested.connect(self.cancel)
        self.warning = QLabel("")
        self.warning.setStyleSheet(WARNING_STYLE)
        self.warning.setWordWrap(True)
        self.warning.hide()
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setMinimumHeight(120)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.start_button = self.buttons.addButton(start_text, QDialogButtonBox.ButtonRole.ActionRole)
        self.start_button.setVisible(form is not None)
        self.start_button.clicked.connect(self.start_requested)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if form is not None:
            layout.addWidget(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.warning)
        layout.addWidget(self.summary, stretch=1)
        layout.addWidget(self.buttons)
        self.worker: ProjectTask | None = None
        self.result_ = None
        self.failure = ""
        self.resize(680, 460 if form is not None else 320)

    def start_requested(self) -> None:
        """The form's Start: a subclass checks the form and calls run()."""

    def run(self, job: Job, *, read_only: bool = False, known_errors: tuple = (), text: str = "Starting…") -> None:
        if self.worker is not None:
            return
        self.result_, self.failure = None, ""
        self.summary.clear()
        self.warning.hide()
        self.worker = ProjectTask(self.project, job, read_only=read_only, known_errors=known_errors)
        self.worker.progress.connect(self.progress.show_progress)
        self.worker.succeeded.connect(self._on_succeeded)
        self.worker.failed.connect(self._on_failed)
        self.worker.finished.connect(self._on_finished)
        if self.form is not None:
            self.form.setEnabled(False)
        self.start_button.setEnabled(False)
        self.progress.started(text)
        log.info("%s on %s started", self.windowTitle(), self.project.name)
        self.worker.start()

    def show_result(self, result) -> None:
        """A subclass says what happened: progress.finished(...), summary text, warning."""
        self.progress.finished("Done.")

    def show_warning_text(self, text: str) -> None:
        self.warning.setText(text)
        self.warning.setVisible(bool(text))

    def done(self, result: int) -> None:
        self.wait()
        super().done(result)

    def _on_succeeded(self, result) -> None:
        self.result_ = result
        self.show_result(result)
        log.info("%s on %s: %s", self.windowTitle(), self.project.name, self.summary.toPlainText().replace("\n", " "))
        self.completed.emit(result)

    def _on_failed(self, message: str) -> None:
        log.warning("%s on %s failed: %s", self.windowTitle(), self.project.name, message)
        self.failure = message
        self.progress.finished("Stopped.")
        self.summary.setPlainText(message)

    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.deleteLater()
            self.worker = None
        if self.form is not None:
            self.form.setEnabled(True)
        self.start_button.setEnabled(True)
