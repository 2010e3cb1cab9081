"""The "study" page: the paper's user study (section 2.1) on the project's reference faces.

Test I shows one face and the person types its age (Enter submits); Test II shows two faces and the person
presses ← or → for the older one. Ages are never shown; each answer is saved at once with its response time
(ageapp.annotation.study does the sampling, the storing and the statistics; this page only shows and asks).
The results view plots Test I's guesses against the true ages with the share within ±3 years, and Test II's
share of correct answers by age gap with the fitted curve σ(β·gap); the fitted β can be adopted as the
person's β for labelling, and everything exported as CSV.
"""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ageapp.annotation.study import (
    adopt_beta,
    correct_probability,
    face_crop,
    new_sitting,
    parse_guess,
    persons,
    plan_study,
    record_answer,
    reference_faces,
    study_results,
    COMPARE,
    GUESS,
    LEFT,
    MIN_PAIRS_FOR_BETA,
    PAPER_BETA,
    PAPER_WITHIN_3,
    RIGHT,
    StudyError,
    StudyResults,
    Trial,
    WITHIN_YEARS,
)
from ageapp.ui.label.comparison import FaceView
from ageapp.ui.shell.messages import show_information, show_warning
from ageapp.ui.shell.settings import AppSettings
from ageapp.ui.common.static_plot import static_plot

STUDY = "study"
EVERYONE = "Everyone"
_POINTS = "#c8553d"
_CURVE = "#1d4a63"
_PAPER = "#8c959d"
_TITLE = {"color": "#1f2a33", "size": "10pt"}
NOT_SAVED = ("Your answer was not saved: the project file refused it ({error}). Open the project for writing "
             "(not read-only, not held by another program, with space on the disk) and answer again.")


class StudyPage(QWidget):
    trial_shown = Signal()  # a new face or pair is on screen
    answer_saved = Signal()
    results_shown = Signal()

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.db = None
        self.trials: list[Trial] = []
        self.index = 0
        self.person = ""
        self.sitting = ""
        self.shown_at = 0.0
        self.results: StudyResults | None = None
        self.stack = QStackedWidget()
        self.setup_view = self._build_setup()
        self.guess_view = self._build_guess()
        self.compare_view = self._build_compare()
        self.results_view = self._build_results()
        for view in (self.setup_view, self.guess_view, self.compare_view, self.results_view):
            self.stack.addWidget(view)
        stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        stop.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        stop.activated.connect(self.stop)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        self.set_project(None)

    # Views ------------------------------------------------------------------------------------------------------

    def _build_setup(self) -> QWidget:
        view = QWidget()
        title = QLabel("User study: guessing ages against comparing them")
        title.setObjectName("comparisonPrompt")
        text = QLabel(
            "Test I shows one reference face at a time: type the age you guess and press Enter. Test II shows two "
            "faces: press ← or → for the one you think is older. No age is ever shown. The paper's volunteers "
            f"guessed {PAPER_WITHIN_3:.1%} of ages within ±{WITHIN_YEARS} years, but picked the older face 85% of "
            f"the time at a 5-year gap (β = {PAPER_BETA}). Your β can then weigh your labelling answers.")
        text.setWordWrap(True)
        self.person_edit = QLineEdit()
        self.person_edit.setPlaceholderText("your name (as when labelling)")
        self.guesses_spin = QSpinBox()
        self.guesses_spin.setRange(0, 500)
        self.guesses_spin.setValue(20)
        self.pairs_spin = QSpinBox()
        self.pairs_spin.setRange(0, 1000)
        self.pairs_spin.setValue(40)
        self.pairs_spin.setToolTip(f"β is fitted from {MIN_PAIRS_FOR_BETA} pairs or more")
        form = QFormLayout()
        form.addRow("Who takes the study", self.person_edit)
        form.addRow("Test I: faces to guess", self.guesses_spin)
        form.addRow("Test II: pairs to compare", self.pairs_spin)
        self.start_button = QPushButton("Start the study")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start())
        self.results_button = QPushButton("Results…")
        self.results_button.clicked.connect(lambda: self.show_results())
        self.setup_message = QLabel()
        self.setup_message.setObjectName("hint")
        self.setup_message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.results_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(view)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.setup_message)
        layout.addStretch(1)
        return view

    def _build_guess(self) -> QWidget:
        view = QWidget()
        self.guess_header = QLabel()
        self.guess_header.setObjectName("comparisonCaption")
        self.guess_header.setAlignment(Qt.AlignmentFlag.AlignCenter)
        prompt = QLabel("How old is this person? Type the age in years and press Enter.")
        prompt.setObjectName("comparisonPrompt")
        prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.guess_face = FaceView()
        self.age_edit = QLineEdit()
        self.age_edit.setMaxLength(3)
        self.age_edit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.age_edit.setFixedWidth(90)
        self.age_edit.returnPressed.connect(self.submit_guess)
        self.guess_error = QLabel()
        self.guess_error.setObjectName("hint")
        self.guess_error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Esc stops the study (the answers so far are kept)")
        hint.setObjectName("hint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.age_edit)
        row.addStretch(1)
        layout = QVBoxLayout(view)
        layout.addWidget(self.guess_header)
        layout.addWidget(prompt)
        layout.addWidget(self.guess_face, stretch=1)
        layout.addLayout(row)
        layout.addWidget(self.guess_error)
        layout.addWidget(hint)
        return view

    def _build_compare(self) -> QWidget:
        view = QWidget()
        view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.compare_header = QLabel()
        self.compare_header.setObjectName("comparisonCaption")
        self.compare_header.setAlignment(Qt.AlignmentFlag.AlignCenter)
        prompt = QLabel("Which face is older?  ← left · right →")
        prompt.setObjectName("comparisonPrompt")
        prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.left_face, self.right_face = FaceView(), FaceView()
        self.compare_error = QLabel()
        self.compare_error.setObjectName("hint")
        self.compare_error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Esc stops the study (the answers so far are kept)")
        hint.setObjectName("hint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        faces = QHBoxLayout()
        faces.addWidget(self.left_face)
        faces.addWidget(self.right_face)
        for key, side in ((Qt.Key.Key_Left, LEFT), (Qt.Key.Key_Right, RIGHT)):
            shortcut = QShortcut(QKeySequence(key), view)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.setAutoRepeat(False)
            shortcut.activated.connect(lambda s=side: self.answer_pair(s))
        layout = QVBoxLayout(view)
        layout.addWidget(self.compare_header)
        layout.addWidget(prompt)
        layout.addLayout(faces, stretch=1)
        layout.addWidget(self.compare_error)
        layout.addWidget(hint)
        return view

    def _build_results(self) -> QWidget:
        view = QWidget()
        self.person_combo = QComboBox()
        self.person_combo.currentTextChanged.connect(self._on_person_chosen)
        self.adopt_button = QPushButton()
        self.adopt_button.clicked.connect(self.adopt_fitted_beta)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_dialog)
        self.again_button = QPushButton("New study…")
        self.again_button.clicked.connect(lambda: self.stack.setCurrentWidget(self.setup_view))
        top = QHBoxLayout()
        top.addWidget(QLabel("Answers of"))
        top.addWidget(self.person_combo, stretch=1)
        top.addWidget(self.adopt_button)
        top.addWidget(self.export_button)
        top.addWidget(self.again_button)

        self.guess_plot = static_plot("true age (years)", "guessed age (years)", grid=True,
                                      minimum_size=(260, 240))
        _legend(self.guess_plot, (10, 10))
        self.guess_band = [pg.PlotDataItem(pen=pg.mkPen(_PAPER, width=1, style=Qt.PenStyle.DashLine),
                                           name=f"±{WITHIN_YEARS} years" if i == 0 else None) for i in range(2)]
        self.guess_diagonal = pg.PlotDataItem(pen=pg.mkPen(_CURVE, width=1.5), name="a perfect guess")
        self.guess_points = pg.ScatterPlotItem(size=7, pen=pg.mkPen(None), brush=pg.mkBrush(200, 85, 61, 150),
                                               name="a guess")
        for item in (self.guess_points, self.guess_diagonal, *self.guess_band):
            self.guess_plot.addItem(item)
        self.guess_plot.setToolTip(f"Each dot: one guess. The line is a perfect guess, the dashed lines ±{WITHIN_YEARS} "
                                   "years around it.")

        self.compare_plot = static_plot("age gap between the two faces (years)", "share of correct answers",
                                        grid=True, minimum_size=(260, 240))
        self.compare_plot.setYRange(0.4, 1.02, padding=0)
        _legend(self.compare_plot, (-10, -40))
        self.paper_curve = pg.PlotDataItem(pen=pg.mkPen(_PAPER, width=1.5, style=Qt.PenStyle.DashLine),
                                           name=f"paper: σ({PAPER_BETA}·gap)")
        self.fitted_curve = pg.PlotDataItem(pen=pg.mkPen(_CURVE, width=2), name="σ(β·gap), fitted β")
        self.compare_points = pg.ScatterPlotItem(pen=pg.mkPen(None), brush=pg.mkBrush(_POINTS),
                                                 name="share correct, 2-year bins")
        for item in (self.compare_points, self.fitted_curve, self.paper_curve):
            self.compare_plot.addItem(item)
        self.compare_plot.setToolTip(
            "Each dot: the share of pairs answered right within a 2-year bin of age gap (its size: how many). "
            f"Solid: σ(β·gap) with the fitted β; dashed: the paper's β = {PAPER_BETA}.")

        plots = QHBoxLayout()
        plots.addWidget(self.guess_plot)
        plots.addWidget(self.compare_plot)
        self.results_text = QLabel()
        self.results_text.setWordWrap(True)
        self.results_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(view)
        layout.addLayout(top)
        layout.addLayout(plots, stretch=1)
        layout.addWidget(self.results_text)
        return view

    def sizeHint(self) -> QSize:
        return QSize(900, 600)

    # The project ------------------------------------------------------------------------------------------------

    def set_project(self, db) -> None:
        self.db = db
        self.trials, self.index = [], 0
        self.stack.setCurrentWidget(self.setup_view)
        self.start_button.setEnabled(db is not None)
        self.results_button.setEnabled(db is not None)
        if db is None:
            self.setup_message.setText("Open a project with reference faces of known age to run the study.")
            return
        self.person_edit.setText(self.person_edit.text() or (self.settings.annotator() or ""))
        count = len(reference_faces(db).ids)
        self.setup_message.setText(f"{count:,} reference faces of known age in this project." if count else
                                   "This project has no reference faces of known age yet: import some with "
                                   "`ageapp import PROJECT FOLDER --role reference`, then reopen the project.")

    # Running the study ------------------------------------------------------------------------------------------

    def start(self, person: str | None = None, guesses: int | None = None, pairs: int | None = None,
              seed: int | None = None) -> bool:
        """Plan the trials and show the first; False (with the reason on the page) if it cannot start."""
        if self.db is None:
            return False
        person = (person if person is not None else self.person_edit.text()).strip()
        if not person:
            self.setup_message.setText("Type the name of the person taking the study first (use the same name "
                                       "as when labelling, so that their β can be used there).")
            self.person_edit.setFocus()
            return False
        try:
            plan = plan_study(self.db, self.guesses_spin.value() if guesses is None else guesses,
                              self.pairs_spin.value() if pairs is None else pairs, seed=seed)
        except StudyError as error:
            self.setup_message.setText(str(error)[0].upper() + str(error)[1:] + ".")
            return False
        self.person_edit.setText(person)
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
            self.guess_header.setText(f"{self.person} · Test I{' of II' if len(tests) > 1 else ''}: "
                                      f"face {number} of {total}")
            self.guess_face.set_crop(self._crop(trial.image_ids[0]))
            self.age_edit.clear()
            self.guess_error.setText("")
            self.stack.setCurrentWidget(self.guess_view)
            self.age_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            first = next(i for i, t in enumerate(self.trials) if t.test == COMPARE)
            total = sum(t.test == COMPARE for t in self.trials)
            self.compare_header.setText(f"{self.person} · Test II: pair {self.index - first + 1} of {total}")
            self.left_face.set_crop(self._crop(trial.image_ids[0]))
            self.right_face.set_crop(self._crop(trial.image_ids[1]))
            self.compare_error.setText("")
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
            age = parse_guess(self.age_edit.text())
        except ValueError as error:
            self.guess_error.setText(str(error)[0].upper() + str(error)[1:] + ".")
            self.age_edit.selectAll()
            return
        self._record(trial, age, self.guess_error)

    def answer_pair(self, side: str) -> None:
        trial = self.current_trial()
        if trial is None or trial.test != COMPARE or self.stack.currentWidget() is not self.compare_view:
            return
        self._record(trial, side, self.compare_error)

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
            self.setup_message.setText("Nobody has taken the study in this project yet: start it above.")
            self.stack.setCurrentWidget(self.setup_view)
            return
        wanted = person if person in people else people[0]
        self.person_combo.blockSignals(True)
        self.person_combo.clear()
        self.person_combo.addItems(people + ([EVERYONE] if len(people) > 1 else []))
        self.person_combo.setCurrentText(wanted)
        self.person_combo.blockSignals(False)
        self.stack.setCurrentWidget(self.results_view)
        self._show_results_of(wanted)

    def _on_person_chosen(self, text: str) -> None:
        if text:
            self._show_results_of(None if text == EVERYONE else text)

    def _show_results_of(self, person: str | None) -> None:
        results = self.results = study_results(self.db, person)
        guess, compare = results.guess, results.compare
        if guess.n:
            top = float(max(guess.true_ages.max(), guess.guesses.max(), 10.0)) + 3
            line = np.array([0.0, top])
            self.guess_diagonal.setData(line, line)
            self.guess_band[0].setData(line, line + WITHIN_YEARS)
            self.guess_band[1].setData(line, line - WITHIN_YEARS)
            self.guess_points.setData(guess.true_ages, guess.guesses)
            self.guess_plot.setRange(xRange=(0, top), yRange=(0, top), padding=0.02)
            self.guess_plot.setTitle(f"Test I: {guess.within:.1%} of {guess.n} guesses within ±{WITHIN_YEARS} years "
                                     f"(paper {PAPER_WITHIN_3:.1%})", **_TITLE)
        else:
            for item in (*self.guess_band, self.guess_diagonal, self.guess_points):
                item.setData([], [])
            self.guess_plot.setTitle("Test I: no guesses", **_TITLE)
        bins = compare.bins()
        right = float(max(bins.high.max() if len(bins.high) else 0.0, 20.0))
        gaps = np.linspace(0, right, 121)
        self.paper_curve.setData(gaps, correct_probability(gaps, PAPER_BETA))
        if len(bins.counts):
            sizes = 6 + 10 * np.sqrt(bins.counts / bins.counts.max())
            self.compare_points.setData(bins.centres, bins.share_correct, size=sizes)
        else:
            self.compare_points.setData([], [])
        if compare.beta is not None:
            self.fitted_curve.setData(gaps, correct_probability(gaps, compare.beta))
            self.compare_plot.setTitle(f"Test II: β = {compare.beta:.2f} from {compare.n} pairs "
                                       f"(paper {PAPER_BETA})", **_TITLE)
        else:
            self.fitted_curve.setData([], [])
            self.compare_plot.setTitle(f"Test II: {compare.n} pairs (β needs {MIN_PAIRS_FOR_BETA})", **_TITLE)
        self.compare_plot.setXRange(0, right + 0.5, padding=0)
        self.results_text.setText(_describe(results))
        can_adopt = person is not None and compare.beta is not None
        self.adopt_button.setEnabled(can_adopt)
        self.adopt_button.setText(f"Use β = {compare.beta:.2f} for {_short(person)}'s labelling" if can_adopt
                                  else "Use this β for labelling")
        self.adopt_button.setToolTip("Weigh this person's labelling answers with the β fitted here (their "
                                     "posteriors are recomputed); gold pairs met while labelling refit it later."
                                     if can_adopt else
                                     f"Choose one person with at least {MIN_PAIRS_FOR_BETA} answered pairs")
        self.results_shown.emit()

    def adopt_fitted_beta(self) -> bool:
        results = self.results
        if self.db is None or results is None or results.person is None or results.compare.beta is None:
            return False
        try:
            annotator_id, recomputed = adopt_beta(self.db, results.person, results.compare.beta)
        except sqlite3.Error as error:
            show_warning(self, "β not changed", f"The project file refused the change: {error}.",
                         "Open the project for writing and try again.")
            return False
        show_information(self, "β adopted",
                         f"{results.person}'s answers are now weighed with β = {results.compare.beta:.2f}.",
                         f"{recomputed} posterior{'' if recomputed == 1 else 's'} recomputed. Gold pairs met while "
                         "labelling refit β later, from the labelling itself.")
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


def _short(name: str | None, limit: int = 14) -> str:
    name = name or ""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _describe(results: StudyResults) -> str:
    g, c = results.guess, results.compare
    parts = []
    if g.n:
        parts.append(f"<b>Test I</b>: {g.n} guesses, {g.within:.1%} within ±{WITHIN_YEARS} years, mean error "
                     f"{g.mae:.1f} years, median {np.median(g.response_ms) / 1000:.1f} s per face.")
    if c.n:
        text = (f"<b>Test II</b>: {c.n} pairs, {c.share_correct:.1%} correct" if c.share_correct is not None
                else f"<b>Test II</b>: {c.n} pairs")
        if c.beta is not None:
            text += (f"; fitted β = {c.beta:.2f}: {c.model_correct_at(5):.0%} correct at a 5-year gap, "
                     f"{c.model_correct_at(10):.0%} at 10 (paper: 85% at 5, 95% above 10)")
        above = c.share_correct_where(10.5)
        if above is not None:
            text += f"; observed above 10 years: {above:.0%}"
        parts.append(text + f"; median {np.median(c.response_ms) / 1000:.1f} s per pair.")
    return "<br>".join(parts) or "No answers yet."


def _legend(plot: pg.PlotWidget, offset: tuple[int, int]) -> None:
    legend = plot.addLegend(offset=offset, labelTextColor="#1f2a33", labelTextSize="8pt")
    legend.setBrush(pg.mkBrush(255, 255, 255, 220))
    legend.setPen(pg.mkPen("#c9d1d8"))


def install_study_page(window) -> StudyPage:
    """Add the "study" page (Mode ▸ Study) to a MainWindow."""
    page = StudyPage(window.settings)
    window.add_page(STUDY, page, "Stud&y")
    return page
