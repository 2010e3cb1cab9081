"""The "study" page: the paper's user study (section 2.1) on the project's reference faces.

Test I shows one face and the person types its age (Enter submits); Test II shows two faces and the person
presses ← or → for the older one. Ages are never shown; each answer is saved at once with its response time
(ageapp.annotation.study does the sampling, the storing and the statistics; this page only shows and asks).
The results view (results_view.py) plots Test I's guesses against the true ages with the share within ±3 years,
and Test II's share of correct answers by age gap with the fitted curve σ(β·gap); the fitted β can be adopted as
the person's β for labelling, and everything exported as CSV.

The page assembles its four views (setup_view.py, trial_views.py, results_view.py) in a stack and runs the
sitting: which trial is on screen, its answer stored, the next one shown.
"""

from __future__ import annotations

import sqlite3
import time

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QLabel, QStackedWidget, QVBoxLayout, QWidget

from ageapp.annotation.study import (
    COMPARE,
    GUESS,
    StudyError,
    StudyResults,
    Trial,
    face_crop,
    new_sitting,
    parse_guess,
    persons,
    plan_study,
    record_answer,
    reference_faces,
    study_results,
)
from ageapp.annotation.beta import Adoption, adopt, preview_adoption
from ageapp.annotation.events import EventBus
from ageapp.ui.common.keys import document_key, key_shortcut
from ageapp.ui.shell.messages import show_information, show_warning
from ageapp.ui.study.adopt_dialog import AdoptBetaDialog
from ageapp.ui.shell.settings import AppSettings
from ageapp.ui.study.results_view import StudyResultsView
from ageapp.ui.study.setup_view import StudySetupView
from ageapp.ui.study.trial_views import CompareView, GuessView

STUDY = "study"
NOT_SAVED = ("Your answer was not saved: the project file refused it ({error}). Open the project for writing "
             "(not read-only, not held by another program, with space on the disk) and answer again.")


class StudyPage(QWidget):
    trial_shown = Signal()  # a new face or pair is on screen
    answer_saved = Signal()
    results_shown = Signal()

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None,
                 events: EventBus | None = None):
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.events = events if events is not None else EventBus()  # the window's: the label page listens
        self.adoption: Adoption | None = None  # the last β adopted here, until undone or the project changes
        self.db = None
        self.trials: list[Trial] = []
        self.index = 0
        self.person = ""
        self.sitting = ""
        self.shown_at = 0.0
        self.results: StudyResults | None = None
        self.setup_view = StudySetupView()
        self.setup_view.start_button.clicked.connect(lambda: self.start())
        self.setup_view.results_button.clicked.connect(lambda: self.show_results())
        self.guess_view = GuessView()
        self.guess_view.age_edit.returnPressed.connect(self.submit_guess)
        self.compare_view = CompareView()
        self.compare_view.side_chosen.connect(self.answer_pair)
        self.results_view = StudyResultsView()
        self.results_view.person_chosen.connect(self._show_results_of)
        self.results_view.adopt_button.clicked.connect(self.adopt_fitted_beta)
        self.results_view.undo_button.clicked.connect(self.undo_adoption)
        self.results_view.export_button.clicked.connect(self.export_dialog)
        self.results_view.again_button.clicked.connect(lambda: self.stack.setCurrentWidget(self.setup_view))
        self.stack = QStackedWidget()
        for view in (self.setup_view, self.guess_view, self.compare_view, self.results_view):
            self.stack.addWidget(view)
        key_shortcut(self, Qt.Key.Key_Escape, "Study", "Stop the study (answers so far are kept)", self.stop,
                     auto_repeat=True)
        document_key(self.guess_view.age_edit, "Return", "Study", "Test I: submit the typed age")
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        self.set_project(None)

    def sizeHint(self) -> QSize:
        return QSize(900, 600)

    # The project ------------------------------------------------------------------------------------------------

    def set_project(self, db) -> None:
        self.db = db
        self.adoption = None
        self.results_view.show_undo(None)
        self.trials, self.index = [], 0
        setup = self.setup_view
        self.stack.setCurrentWidget(setup)
        setup.start_button.setEnabled(db is not None)
        setup.results_button.setEnabled(db is not None)
        if db is None:
            setup.message.setText("Open a project with reference faces of known age to run the study.")
            return
        setup.person_edit.setText(setup.person_edit.text() or (self.settings.annotator() or ""))
        count = len(reference_faces(db).ids)
        setup.message.setText(f"{count:,} reference faces of known age in this project." if count else
                              "This project has no reference faces of known age yet: import some with "
                              "`ageapp import PROJECT FOLDER --role reference`, then reopen the project.")

    # Running the study ------------------------------------------------------------------------------------------

    def start(self, person: str | None = None, guesses: int | None = None, pairs: int | None = None,
              seed: int | None = None) -> bool:
        """Plan the trials and show the first; False (with the reason on the page) if it cannot start."""
        if self.db is None:
            return False
        setup = self.setup_view
        person = (person if person is not None else setup.person_edit.text()).strip()
        if not person:
            setup.message.setText("Type the name of the person taking the study first (use the same name "
                                  "as when labelling, so that their β can be used there).")
            setup.person_edit.setFocus()
            return False
        try:
            plan = plan_study(self.db, setup.guesses_spin.value() if guesses is None else guesses,
                              setup.pairs_spin.value() if pairs is None else pairs, seed=seed)
        except StudyError as error:
            setup.message.setText(str(error)[0].upper() + str(error)[1:] + ".")
            return False
        setup.person_edit.setText(person)
        self.person, self.sitting = person, new_sitting()
        self.trials, self.index = plan.trials, 0
        self._show_trial()
        return True

    def current_trial(self) -> Trial | None:
        return self.trials[self.index] if 0 <= self.index < len(self.trials) else None

    def _crop(self, image_id: int) -> np.ndarray:
        return face_crop(self.db, image_id)

    def _show_trial(self) -> None:
        trial = self.current_trial()
        if trial is None:
            self.show_results(self.person)
            return
        tests = {t.test for t in self.trials}
        if trial.test == GUESS:
            number = self.index + 1
            total = sum(t.test == GUESS for t in self.trials)
            self.guess_view.show_face(f"{self.person} · Test I{' of II' if len(tests) > 1 else ''}: "
                                      f"face {number} of {total}", self._crop(trial.image_ids[0]))
            self.stack.setCurrentWidget(self.guess_view)
            self.guess_view.age_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            first = next(i for i, t in enumerate(self.trials) if t.test == COMPARE)
            total = sum(t.test == COMPARE for t in self.trials)
            self.compare_view.show_pair(f"{self.person} · Test II: pair {self.index - first + 1} of {total}",
                                        self._crop(trial.image_ids[0]), self._crop(trial.image_ids[1]))
            self.stack.setCurrentWidget(self.compare_view)
            self.compare_view.setFocus(Qt.FocusReason.OtherFocusReason)
        self.shown_at = time.monotonic()
        self.trial_shown.emit()

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self.shown_at) * 1000)

    def submit_guess(self) -> None:
        trial = self.current_trial()
        if trial is None or trial.test != GUESS:
            return
        try:
            age = parse_guess(self.guess_view.age_edit.text())
        except ValueError as error:
            self.guess_view.error.setText(str(error)[0].upper() + str(error)[1:] + ".")
            self.guess_view.age_edit.selectAll()
            return
        self._record(trial, age, self.guess_view.error)

    def answer_pair(self, side: str) -> None:
        trial = self.current_trial()
        if trial is None or trial.test != COMPARE or self.stack.currentWidget() is not self.compare_view:
            return
        self._record(trial, side, self.compare_view.error)

    def _record(self, trial: Trial, answer, error_label: QLabel) -> None:
        try:
            record_answer(self.db, self.person, self.sitting, trial, answer, self._elapsed_ms())
        except sqlite3.Error as error:
            error_label.setText(NOT_SAVED.format(error=error))
            return
        self.answer_saved.emit()
        self.index += 1
        self._show_trial()

    def stop(self) -> None:
        """Esc: end the study here; the answers given are kept and shown."""
        if self.stack.currentWidget() not in (self.guess_view, self.compare_view):
            return
        self.trials, self.index = [], 0
        self.show_results(self.person)

    # Results ----------------------------------------------------------------------------------------------------

    def show_results(self, person: str | None = None) -> None:
        if self.db is None:
            return
        people = persons(self.db)
        if not people:
            self.setup_view.message.setText("Nobody has taken the study in this project yet: start it above.")
            self.stack.setCurrentWidget(self.setup_view)
            return
        wanted = person if person in people else people[0]
        self.results_view.set_people(people, wanted)
        self.stack.setCurrentWidget(self.results_view)
        self._show_results_of(wanted)

    def _show_results_of(self, person: str | None) -> None:
        self.results = study_results(self.db, person)
        self.results_view.show_results(self.results, person)
        self.results_shown.emit()

    def adopt_fitted_beta(self) -> bool:
        """Show what the study's β would change (AdoptBetaDialog) and, confirmed, make it the person's β for
        labelling: posteriors recomputed, every view told (BetaChanged) before this returns."""
        results = self.results
        if self.db is None or results is None or results.person is None or results.compare.model is None:
            return False
        adoption = preview_adoption(self.db, results.person, results.compare.model)
        if AdoptBetaDialog(adoption, self).exec() != QDialog.DialogCode.Accepted:
            return False
        return self._apply(adoption, "β adopted", f"{results.person}'s answers are now weighed with "
                           f"{adoption.new.describe()}.")

    def undo_adoption(self) -> bool:
        """Put back the β the last adoption replaced."""
        if self.db is None or self.adoption is None:
            return False
        adoption = self.adoption.reversed()
        return self._apply(adoption, "β put back", f"{adoption.person}'s answers are weighed with "
                           f"{adoption.new.describe()} again.", undoing=True)

    def _apply(self, adoption: Adoption, title: str, text: str, undoing: bool = False) -> bool:
        try:
            recomputed = adopt(self.db, adoption, self.events)
        except sqlite3.Error as error:
            show_warning(self, "β not changed", f"The project file refused the change: {error}.",
                         "Open the project for writing and try again.")
            return False
        self.adoption = None if undoing else adoption
        self.results_view.show_undo(self.adoption)
        effects = [f"{recomputed:,} posterior{'' if recomputed == 1 else 's'} recomputed."]
        if adoption.reopened:
            effects.append(f"{adoption.reopened:,} finished quer{'y needs' if adoption.reopened == 1 else 'ies need'} "
                           "more comparisons again: the labelling serves them first.")
        if adoption.finished:
            effects.append(f"{adoption.finished:,} quer{'y is' if adoption.finished == 1 else 'ies are'} finished now.")
        show_information(self, title, text, " ".join(effects))
        return True

    def export_dialog(self) -> None:
        if self.db is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the study", "user_study.csv", "CSV files (*.csv)")
        if path:
            self.export_to(path)

    def export_to(self, path) -> tuple | None:
        from ageapp.annotation.study import export_csv

        person = None if self.results is None else self.results.person
        try:
            written = export_csv(self.db, path, person)
        except OSError as error:
            show_warning(self, "The study was not exported", f"{path} could not be written: "
                         f"{error.strerror or error}.", "Choose another folder or file name.")
            return None
        show_information(self, "Study exported", f"Answers: {written[0]}\nFit: {written[1]}")
        return written


def install_study_page(window) -> StudyPage:
    """Add the "study" page (Mode ▸ Study) to a MainWindow."""
    page = StudyPage(window.settings, events=window.session.events)
    window.add_page(STUDY, page, "Stud&y")
    return page
