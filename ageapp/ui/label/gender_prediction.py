"""Tools ▸ Predict genders…: the model run over the faces without a gender label, in a worker thread on its own
connection (`GenderPredictionWorker`), with a progress dialog that can stop it (what was done is kept). The
session's reference pool and the views follow through the project's events.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import QProgressDialog

from ageapp.annotation.events import QueriesChanged
from ageapp.annotation.gender import NO_MODEL, GenderModelError, gender_model_path, predict_genders
from ageapp.store.db import ProjectError, open_project
from ageapp.ui.label.page_action import NOT_WRITABLE, PageAction
from ageapp.store.db import project_path
from ageapp.ui.shell.menus import tools_menu
from ageapp.ui.shell.messages import show_information, show_warning


class GenderPredictionWorker(QThread):
    """predict_genders on its own connection; `progress(done, total)`, then `done(summary)` or `failed(text)`."""

    progress = Signal(int, int)
    done = Signal(str)
    failed = Signal(str)

    def __init__(self, project: Path, model: Path, load=None):
        super().__init__()
        self.project, self.model, self._load = project, model, load

    def run(self) -> None:
        try:
            if self._load is None:
                from ageapp.model import open_model as load
            else:
                load = self._load
            estimator = load(self.model)
            db = open_project(self.project)
        except ProjectError as error:
            self.failed.emit(f"The project could not be opened for writing: {error}")
            return
        except Exception as error:  # noqa: BLE001  a missing or broken model file: said, not a crash
            self.failed.emit(f"The model {self.model} could not be loaded ({error}). Choose another active model "
                             "on the Train page, or put a trained model at the path above.")
            return
        try:
            report = predict_genders(db, estimator, progress=self.progress.emit,
                                     should_stop=self.isInterruptionRequested)
            self.done.emit(report.summary())
        except GenderModelError as error:
            self.failed.emit(str(error))
        except sqlite3.Error as error:
            self.failed.emit(f"The predictions could not be saved ({error}). {NOT_WRITABLE}")
        finally:
            db.close()


class GenderPrediction(PageAction):
    def __init__(self, window, page, load_model=None):
        super().__init__(window, page)
        self._load_model = load_model  # tests stand a fake model in
        self.worker: GenderPredictionWorker | None = None
        self.progress_dialog: QProgressDialog | None = None
        self.predict_action = tools_menu(window).addAction("Predict &genders…")
        self.predict_action.setToolTip("Predict the gender of every face without a gender label, with the active "
                                       "model (else the default one): references are then chosen of the same gender")
        self.predict_action.triggered.connect(lambda _checked=False: self.predict_genders())
        self.predict_action.setEnabled(window.session.is_open())
        window.session.project_opened.connect(lambda _db: self.predict_action.setEnabled(True))
        window.session.project_closed.connect(lambda: self.predict_action.setEnabled(False))
        window.session.project_closed.connect(self.wait)

    def predict_genders(self) -> bool:
        """Tools ▸ Predict genders…: start the worker (False if it cannot start; the user was told why)."""
        db = self.page.db or self.window.session.db
        if db is None or self.worker is not None:
            return False
        path = project_path(db)
        model = gender_model_path(db)
        if model is None or path is None:
            show_information(self.window, "Predict genders", NO_MODEL[0].upper() + NO_MODEL[1:] + ".")
            return False
        if getattr(db, "read_only", False):
            show_warning(self.window, "Predict genders", "This project is open read-only.", NOT_WRITABLE)
            return False
        self.worker = GenderPredictionWorker(path, model, self._load_model)
        dialog = QProgressDialog(f"Predicting genders with {model.name}…", "Stop", 0, 0, self.window)
        dialog.setWindowTitle("Predict genders")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(self.worker.requestInterruption)
        self.progress_dialog = dialog
        self.worker.progress.connect(self._on_progress)
        self.worker.done.connect(self._on_predicted)
        self.worker.failed.connect(self._on_failed)
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.start(QThread.Priority.LowPriority)
        return True

    def _on_progress(self, done: int, total: int) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.setMaximum(max(total, 1))
            self.progress_dialog.setValue(done)

    def _on_predicted(self, summary: str) -> None:
        """The session reloads its references and tells the views (the face notes among them)."""
        if self.page.session is not None:
            self.page.session.genders_predicted()
        else:
            self.page.events.emit(QueriesChanged("genders predicted"))
        self._say(summary[0].upper() + summary[1:])

    def _on_failed(self, message: str) -> None:
        show_warning(self.window, "Genders were not predicted", message)

    def _on_worker_finished(self) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.reset()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None
        if self.worker is not None:
            self.worker.deleteLater()
            self.worker = None

    def wait(self) -> None:
        """Before the window goes (and in tests): the worker finishes first."""
        if self.worker is not None:
            self.worker.requestInterruption()
            self.worker.wait()
