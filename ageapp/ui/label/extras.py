"""The label page's gender and outlier actions, wired onto its widgets from outside (the page stays small):

- G in the comparison panel changes the gender of the face in the query's place (ageapp.annotation.gender
  .next_gender: a prediction becomes the other gender; a label cycles male → female → can't tell), and a
  line under each face says what is known of its gender (label, prediction and its probability, unknown);
- the queue's Gender column is changed with G or its context menu, and "Send flagged back" / the context
  menu's "Send back" put flagged queries back in the session (ageapp.store.requeue);
- Tools ▸ Predict genders… runs the model over the faces without a gender label, in a worker thread on its
  own connection, with a progress dialog that can stop it (what was done is kept).

Every correction is a label from then on, recorded with the annotator's name (table gender_corrections).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QMenu, QProgressDialog

from ageapp.annotation.events import GenderCorrected, QueriesChanged
from ageapp.annotation.gender import (
    NO_MODEL,
    GenderModelError,
    gender_info,
    gender_model_path,
    next_gender,
    predict_genders,
    set_gender_label,
)
from ageapp.store.requeue import send_back, send_flagged_back
from ageapp.store.db import ProjectError, open_project
from ageapp.ui.shell.messages import show_information, show_warning
from ageapp.ui.label.statistics import project_path

STATUS_MS = 6000
NOT_WRITABLE = ("Open the project for writing (not read-only, not held by another program, with space on the "
                "disk) and try again.")


def tools_menu(window) -> QMenu:
    """The window's Tools menu, made (before Help) on first use."""
    bar = window.menuBar()
    for action in bar.actions():
        if action.menu() is not None and action.menu().objectName() == "toolsMenu":
            return action.menu()
    menu = QMenu("&Tools", bar)
    menu.setObjectName("toolsMenu")
    help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_action is not None:
        bar.insertMenu(help_action, menu)
    else:
        bar.addMenu(menu)
    return menu


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


class LabelExtras(QObject):
    def __init__(self, window, page, load_model=None):
        super().__init__(page)
        self.window, self.page = window, page
        self._load_model = load_model  # tests stand a fake model in
        self.worker: GenderPredictionWorker | None = None
        self.progress_dialog: QProgressDialog | None = None
        self.last_message = ""
        page.panel.gender_requested.connect(self.correct_query_gender)
        page.pair_shown.connect(self.show_face_genders)
        queue = page.queue_panel
        queue.gender_change_requested.connect(self.set_gender)
        queue.send_back_requested.connect(self.send_back)
        queue.send_flagged_back_requested.connect(self.send_flagged_back)
        self.predict_action = tools_menu(window).addAction("Predict &genders…")
        self.predict_action.setToolTip("Predict the gender of every face without a gender label, with the active "
                                       "model (else the default one): references are then chosen of the same gender")
        self.predict_action.triggered.connect(lambda _checked=False: self.predict_genders())
        self.predict_action.setEnabled(window.session.is_open())
        window.session.project_opened.connect(lambda _db: self.predict_action.setEnabled(True))
        window.session.project_closed.connect(lambda: self.predict_action.setEnabled(False))
        window.session.project_closed.connect(self.wait)

    # Gender corrections --------------------------------------------------------------------------------------

    def _annotator_id(self) -> int | None:
        return None if self.page.session is None else self.page.session.annotator_id

    def show_face_genders(self) -> None:
        """The line under each face of the pair on screen: what is known of its gender."""
        task, db = self.page.task, self.page.db
        if task is None or db is None:
            return
        query, reference = (gender_info(db, task.query_image_id).describe(),
                            gender_info(db, task.reference_image_id).describe())
        left, right = (query, reference) if task.query_side == "left" else (reference, query)
        self.page.panel.set_face_notes(left, right)

    def correct_query_gender(self) -> None:
        """G on the pair: the face in the query's place gets its next gender (a label from now on)."""
        task, db = self.page.task, self.page.db
        if task is None or db is None:
            return
        self.set_gender(task.query_image_id, next_gender(gender_info(db, task.query_image_id)))
        self.page.panel.setFocus()

    def set_gender(self, image_id: int, gender: int | None) -> bool:
        db = self.page.db
        if db is None:
            return False
        try:
            if self.page.session is not None:
                info = self.page.session.correct_gender(image_id, gender)
            else:
                info = set_gender_label(db, image_id, gender, None)
                self.page.events.emit(GenderCorrected(image_id, info))
        except sqlite3.Error as error:
            show_warning(self.window, "The gender was not changed", f"The project file refused it: {error}.",
                         NOT_WRITABLE)
            return False
        self.show_face_genders()
        self._say(f"Face #{image_id}: {info.describe()}. References of the other gender are no longer chosen for it"
                  if info.gender is not None else
                  f"Face #{image_id}: gender unknown (can't tell): it is compared with references of either gender")
        return True

    # Outliers back in the queue ---------------------------------------------------------------------------------

    def send_flagged_back(self) -> int:
        return self._send(None)

    def send_back(self, query_ids: list) -> int:
        return self._send([int(q) for q in query_ids])

    def _send(self, query_ids: list[int] | None) -> int:
        page, db = self.page, self.page.db
        if db is None:
            return 0
        try:
            if query_ids is None:
                count = send_flagged_back(db, page.labelling.protocol, annotator_id=self._annotator_id())
            else:
                count = send_back(db, query_ids, annotator_id=self._annotator_id())
        except sqlite3.Error as error:
            show_warning(self.window, "Nothing was sent back", f"The project file refused it: {error}.", NOT_WRITABLE)
            return 0
        if count == 0:
            show_information(self.window, "Send flagged back",
                             "No flagged query is waiting to be sent back.",
                             "A query is flagged once it is finished with a 90% interval wider than 15 years "
                             "(“Flagged only” in the queue lists them); one already sent back is served until it "
                             "is resolved or has had its extra comparisons.")
            return 0
        page.events.emit(QueriesChanged("sent back", None if query_ids is None else tuple(query_ids)))
        noun = "query" if count == 1 else "queries"
        self._say(f"Sent {count} flagged {noun} back: they are served again (to another labeller first, where "
                  "there is one) until the 90% interval is at most 15 years")
        return count

    # Predicting genders --------------------------------------------------------------------------------------------

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
        if self.page.session is not None:
            self.page.session.genders_predicted()
        else:
            self.page.events.emit(QueriesChanged("genders predicted"))
        self.show_face_genders()
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

    def _say(self, text: str) -> None:
        self.last_message = text
        self.window.statusBar().showMessage(text, STATUS_MS)


def install_label_extras(window, page, load_model=None) -> LabelExtras:
    extras = LabelExtras(window, page, load_model)
    page.extras = extras
    return extras
