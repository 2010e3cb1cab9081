"""The study's results: Test I's guesses against the true ages (the share within ±3 years), Test II's share of
correct answers by age gap with the fitted curve σ(β·gap) and the paper's, a summary in words, and the buttons
to adopt the fitted β, export the answers, or start a new study.

The plot items are made once and updated with setData; the view shows the StudyResults it is given
(ageapp.annotation.study computes them) and reports which person the user picked (`person_chosen`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ageapp.annotation.study import (
    MIN_PAIRS_FOR_BETA,
    PAPER_BETA,
    PAPER_WITHIN_3,
    WITHIN_YEARS,
    StudyResults,
    correct_probability,
)
from ageapp.ui.common.static_plot import static_plot

EVERYONE = "Everyone"
_POINTS = "#c8553d"
_CURVE = "#1d4a63"
_PAPER = "#8c959d"
_TITLE = {"color": "#1f2a33", "size": "10pt"}


class StudyResultsView(QWidget):
    person_chosen = Signal(object)  # a person's name, or None for everyone

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.person_combo = QComboBox()
        self.person_combo.currentTextChanged.connect(self._on_person_chosen)
        self.adopt_button = QPushButton()
        self.export_button = QPushButton("Export CSV…")
        self.again_button = QPushButton("New study…")
        self.undo_button = QPushButton()
        self.undo_button.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("Answers of"))
        top.addWidget(self.person_combo, stretch=1)
        top.addWidget(self.adopt_button)
        top.addWidget(self.undo_button)
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
        self.compare_plot.setYRange(0.0, 1.02, padding=0)  # every share shows, wrong answers at small gaps too
        _legend(self.compare_plot, (-10, -40))
        self.paper_curve = pg.PlotDataItem(pen=pg.mkPen(_PAPER, width=1.5, style=Qt.PenStyle.DashLine),
                                           name=f"paper: σ({PAPER_BETA}·gap)")
        self.fitted_curve = pg.PlotDataItem(pen=pg.mkPen(_CURVE, width=2), name="σ(β·gap), fitted β")
        self.band_edges = [pg.PlotDataItem(pen=pg.mkPen(None)) for _ in range(2)]
        self.fitted_band = pg.FillBetweenItem(*self.band_edges, brush=pg.mkBrush(29, 74, 99, 45))
        self.compare_points = pg.ScatterPlotItem(pen=pg.mkPen(None), brush=pg.mkBrush(_POINTS),
                                                 name="share correct, 2-year bins")
        for item in (*self.band_edges, self.fitted_band, self.compare_points, self.fitted_curve, self.paper_curve):
            self.compare_plot.addItem(item)
        self.compare_plot.setToolTip(
            "Each dot: the share of pairs answered right within a 2-year bin of age gap (its size: how many). "
            "Solid: σ(β·gap) with the fitted β, shaded over its 95% interval; dashed: the paper's "
            f"β = {PAPER_BETA}.")

        plots = QHBoxLayout()
        plots.addWidget(self.guess_plot)
        plots.addWidget(self.compare_plot)
        self.results_text = QLabel()
        self.results_text.setWordWrap(True)
        self.results_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(plots, stretch=1)
        layout.addWidget(self.results_text)

    def set_people(self, people: list[str], wanted: str) -> None:
        """The people who took the study (and "Everyone" when there are several), `wanted` selected, quietly."""
        self.person_combo.blockSignals(True)
        self.person_combo.clear()
        self.person_combo.addItems(people + ([EVERYONE] if len(people) > 1 else []))
        self.person_combo.setCurrentText(wanted)
        self.person_combo.blockSignals(False)

    def _on_person_chosen(self, text: str) -> None:
        if text:
            self.person_chosen.emit(None if text == EVERYONE else text)

    def show_results(self, results: StudyResults, person: str | None) -> None:
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
            low, high = compare.interval
            self.band_edges[0].setData(gaps, correct_probability(gaps, low))
            self.band_edges[1].setData(gaps, correct_probability(gaps, high))
            self.compare_plot.setTitle(f"Test II: β = {compare.beta:.2f} (95%: {low:.2f}–{high:.2f}) from "
                                       f"{_count(compare.n, 'pair')} (paper {PAPER_BETA})", **_TITLE)
        else:
            self.fitted_curve.setData([], [])
            for edge in self.band_edges:
                edge.setData([], [])
            self.compare_plot.setTitle(f"Test II: {_count(compare.n, 'pair')} (β needs {MIN_PAIRS_FOR_BETA})", **_TITLE)
        self.compare_plot.setXRange(0, right + 0.5, padding=0)
        self.results_text.setText(_describe(results))
        can_adopt = person is not None and compare.beta is not None
        self.adopt_button.setEnabled(can_adopt)
        self.adopt_button.setText(f"Use β = {compare.beta:.2f} for {_short(person)}'s labelling…" if can_adopt
                                  else "Use this β for labelling…")
        self.adopt_button.setToolTip("Weigh this person's labelling answers with the β fitted here: shows what "
                                     "would change first (their posteriors are recomputed), and can be undone; "
                                     "gold pairs met while labelling refit it later."
                                     if can_adopt else
                                     f"Choose one person with at least {MIN_PAIRS_FOR_BETA} answered pairs")


    def show_undo(self, adoption) -> None:
        """The Undo button for the last adoption (ageapp.annotation.beta.Adoption), hidden without one."""
        self.undo_button.setVisible(adoption is not None)
        if adoption is not None:
            self.undo_button.setText(f"Undo: {_short(adoption.person)} back to β = {adoption.old.beta:.2f}")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


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
        text = (f"<b>Test II</b>: {_count(c.n, 'pair')}, {c.share_correct:.1%} correct" if c.share_correct is not None
                else f"<b>Test II</b>: {_count(c.n, 'pair')}")
        if c.beta is not None:
            low, high = c.interval
            text += (f"; β = {c.beta:.2f}, 95% interval {low:.2f}–{high:.2f} (shrunk towards the paper's "
                     f"{PAPER_BETA}): {c.model_correct_at(5):.0%} correct at a 5-year gap "
                     f"({correct_probability(5, low):.0%}–{correct_probability(5, high):.0%}), "
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
