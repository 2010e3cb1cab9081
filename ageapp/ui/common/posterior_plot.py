"""The labeller's live posterior plot (the paper's Fig. 4): bars over ages, the 90% interval, mode and
mean, and one vertical line per comparison at the reference's age, coloured by the answer; where several
references share an age, the line says how many ("×3"). The title says when a query has no answers yet, and
when its answers place it beyond the references. Under a model prior (ageapp.core.prior) the prior the posterior
started from is drawn faintly behind the bars, so the labeller sees how far the answers moved it.

Every graphics item is created once in __init__; `show_posterior` only calls setOpts / setData /
setRegion / setValue, so an update after each answer costs a few array copies.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ageapp.core.posterior import AGE_MAX_DEFAULT, OUTLIER_WIDTH, QUERY_OLDER, QUERY_YOUNGER, PosteriorSummary

UNSURE = None  # the core's outcome for "can't tell"

# outcome -> (legend name, colour); the outcome codes are ageapp.core.posterior's (1, 0, None).
ANSWER_STYLES: dict[int | None, tuple[str, str]] = {
    QUERY_OLDER: ("query older than reference", "#c8553d"),
    QUERY_YOUNGER: ("query younger than reference", "#2a7fb8"),
    UNSURE: ("can't tell", "#8c959d"),
}
BAR_COLOUR = "#5b6f80"
INTERVAL_COLOUR = (247, 200, 115, 90)
MODE_COLOUR = "#1d4a63"
MEAN_COLOUR = "#7a4f9a"
PRIOR_COLOUR = (90, 111, 128, 110)  # faint: the prior stays behind the posterior
HEADROOM = 1.35  # the y range is this much above the tallest bar: room for the line labels


class PosteriorPlot(pg.PlotWidget):
    """`show_posterior(p, summary, comparisons)` with comparisons as (reference_age, outcome) pairs,
    outcome 1 = query older, 0 = query younger, None = can't tell (ageapp.core.posterior's codes)."""

    def __init__(self, age_max: int = AGE_MAX_DEFAULT, parent: QWidget | None = None):
        super().__init__(parent=parent, background="w")
        # PlotWidget.__init__ copies PlotItem.clear (which removes every item) onto the instance; this
        # class's clear() empties the data and keeps the items.
        del self.clear
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a click here must not take the arrow keys away
        self._age_max = -1
        self._hidden = False
        self._has_data = False

        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.disableAutoRange()
        # The legend sits in the axis label, under the plot, where it can never hide a bar.
        plot.setLabel("bottom", legend_html())
        plot.setLabel("left", "P(age)")
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.showGrid(x=False, y=True, alpha=0.15)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setPen(pg.mkPen("#56636e"))
            plot.getAxis(axis).setTextPen(pg.mkPen("#1f2a33"))
        self.interval = pg.LinearRegionItem(
            values=(0, 0), movable=False, brush=pg.mkBrush(*INTERVAL_COLOUR), pen=pg.mkPen(None)
        )
        self.interval.setZValue(-10)
        self.bars = pg.BarGraphItem(
            x=np.zeros(0), height=np.zeros(0), width=0.8, brush=pg.mkBrush(BAR_COLOUR), pen=pg.mkPen(None)
        )
        self.comparison_curves: dict[int | None, pg.PlotDataItem] = {}
        for outcome, (name, colour) in ANSWER_STYLES.items():
            curve = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(colour, width=2))
            curve.setZValue(5)
            self.comparison_curves[outcome] = curve
        # Labels to the right of their line, above the tallest bar (at 1 / HEADROOM = 74% of the height).
        label_opts = {"movable": False, "fill": pg.mkBrush(255, 255, 255, 210), "anchors": [(0, 0.5), (0, 0.5)]}
        self.mode_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(MODE_COLOUR, width=2, style=Qt.PenStyle.DashLine),
            label="mode {value:.0f}", labelOpts={**label_opts, "position": 0.93, "color": MODE_COLOUR},
        )
        self.mean_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(MEAN_COLOUR, width=2, style=Qt.PenStyle.DotLine),
            label="mean {value:.1f}", labelOpts={**label_opts, "position": 0.82, "color": MEAN_COLOUR},
        )
        self.prior_curve = pg.PlotDataItem(pen=pg.mkPen(PRIOR_COLOUR, width=2, style=Qt.PenStyle.DashLine))
        self.prior_curve.setZValue(-5)
        self._has_prior = False
        self.hidden_text = pg.TextItem("The posterior is hidden while you compare.", color="#56636e",
                                       anchor=(0.5, 0.5))

        self.count_labels: list[pg.TextItem] = []  # "×n" over ages with several references (reused)
        self._counts_used = 0

        for item in (self.interval, self.prior_curve, self.bars, self.mode_line, self.mean_line, self.hidden_text):
            plot.addItem(item, ignoreBounds=True)
        for curve in self.comparison_curves.values():
            plot.addItem(curve, ignoreBounds=True)
        self._set_age_max(age_max)
        self.clear()

    # Public API ---------------------------------------------------------------------------------------

    def show_posterior(
        self,
        p: np.ndarray,
        summary: PosteriorSummary,
        comparisons: Sequence[tuple[float, int | None]] = (),
        no_answers: bool = False,
        prior: np.ndarray | None = None,
        status: str | None = None,
    ) -> None:
        """no_answers: the query has none yet (the title says so, not "flagged": it was never labelled).
        prior: the prior the posterior started from (None: uniform, not drawn), a faint line behind the bars.
        status: the query's status by the project's one rule (ageapp.annotation.counts), which the title then
        says: "beyond the references" and "flagged" only when the status is (a query is flagged once its
        answers are in, not while a few answers leave it wide). None: the summary's own flags (a model's
        posterior, which has no status)."""
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 1 or p.size < 2:
            raise ValueError(f"a posterior is a 1-d array over ages 0..A, got shape {p.shape}")
        if prior is not None and np.shape(prior) != p.shape:
            raise ValueError(f"the prior must cover the posterior's ages, got shape {np.shape(prior)}")
        if p.size - 1 != self._age_max:
            self._set_age_max(p.size - 1)
        grouped = _group_by_outcome(comparisons)  # validates before anything changes on screen
        top = max(float(p.max()), 0.0 if prior is None else float(np.max(prior)), 1e-12) * HEADROOM
        self.bars.setOpts(height=p)
        self._has_prior = prior is not None
        ages = np.arange(p.size, dtype=np.float64)
        self.prior_curve.setData(ages if self._has_prior else np.zeros(0),
                                 np.asarray(prior, dtype=np.float64) if self._has_prior else np.zeros(0))
        self.interval.setRegion((summary.ci_low - 0.5, summary.ci_high + 0.5))
        self.mode_line.setValue(summary.mode)
        self.mean_line.setValue(summary.mean)
        self._set_comparisons(grouped, top)
        self.setYRange(0.0, top, padding=0)
        self.getPlotItem().setTitle(_summary_title(summary, no_answers, self._has_prior, status), color="#1f2a33",
                                    size="10pt")
        self.hidden_text.setPos(self._age_max / 2.0, top / 2.0)
        self._has_data = True
        self._apply_visibility()
        self._set_counts([age for ages in grouped.values() for age in ages], top)

    def clear(self) -> None:
        """An empty plot (no query on screen)."""
        self.bars.setOpts(height=np.zeros(self._age_max + 1))
        self.prior_curve.setData(np.zeros(0), np.zeros(0))
        self._has_prior = False
        for curve in self.comparison_curves.values():
            curve.setData(np.zeros(0), np.zeros(0))
        self._counts_used = 0
        self.setYRange(0.0, 1.0, padding=0)
        self.getPlotItem().setTitle(" ", size="10pt")  # keeps the title row: no layout jump
        self.hidden_text.setPos(self._age_max / 2.0, 0.5)
        self._has_data = False
        self._apply_visibility()

    def set_hidden_while_comparing(self, hidden: bool) -> None:
        """For studies: keep updating, but show nothing of the posterior until un-hidden."""
        self._hidden = bool(hidden)
        self._apply_visibility()

    def is_hidden_while_comparing(self) -> bool:
        return self._hidden

    def age_max(self) -> int:
        return self._age_max

    # Internals -----------------------------------------------------------------------------------------

    def _set_age_max(self, age_max: int) -> None:
        self._age_max = int(age_max)
        ages = np.arange(self._age_max + 1, dtype=np.float64)
        self.bars.setOpts(x=ages, height=np.zeros_like(ages))
        self.setXRange(-0.5, self._age_max + 0.5, padding=0)

    def _set_comparisons(self, grouped: dict[int | None, list[float]], top: float) -> None:
        for outcome, ages in grouped.items():
            x = np.repeat(np.asarray(ages, dtype=np.float64), 2)  # each line: (k, 0) -> (k, top)
            y = np.tile(np.array([0.0, top]), len(ages))
            self.comparison_curves[outcome].setData(x, y)

    def _set_counts(self, ages: list[float], top: float) -> None:
        """"×n" at the top of each age shown with n > 1 references (lines drawn over one another)."""
        values, counts = np.unique(np.asarray(ages, dtype=np.float64), return_counts=True)
        shared = [(age, count) for age, count in zip(values, counts) if count > 1]
        while len(self.count_labels) < len(shared):
            label = pg.TextItem(color="#1f2a33", anchor=(0.5, 1.0), fill=pg.mkBrush(255, 255, 255, 200))
            label.setZValue(6)
            self.getPlotItem().addItem(label, ignoreBounds=True)
            self.count_labels.append(label)
        for index, label in enumerate(self.count_labels[: len(shared)]):
            age, count = shared[index]
            label.setText(f"×{count}")
            label.setPos(age, top * 0.99)
        self._counts_used = len(shared)
        self._apply_visibility()

    def _apply_visibility(self) -> None:
        show = self._has_data and not self._hidden
        for item in (self.bars, self.interval, self.mode_line, self.mean_line, *self.comparison_curves.values()):
            item.setVisible(show)
        self.prior_curve.setVisible(show and self._has_prior)
        if show:  # a hidden line's label skips its text updates; catch up now
            self.mode_line.label.valueChanged()
            self.mean_line.label.valueChanged()
        for index, label in enumerate(self.count_labels):
            label.setVisible(show and index < self._counts_used)
        self.getPlotItem().titleLabel.setVisible(show)
        self.hidden_text.setVisible(self._hidden)


def legend_html() -> str:
    """"age (years)" followed by the line colours, each as a short stroke and its meaning."""
    keys = "&nbsp;&nbsp;&nbsp;".join(
        f"<span style='color:{colour}'>━━</span>&nbsp;{name}" for name, colour in ANSWER_STYLES.values()
    )
    return f"age (years)&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;reference lines:&nbsp;&nbsp;{keys}"


def _group_by_outcome(comparisons: Sequence[tuple[float, int | None]]) -> dict[int | None, list[float]]:
    grouped: dict[int | None, list[float]] = {outcome: [] for outcome in ANSWER_STYLES}
    for reference_age, outcome in comparisons:
        if outcome is not None and not (isinstance(outcome, (int, np.integer)) and outcome in (0, 1)):
            raise ValueError(
                f"comparison outcome must be {QUERY_OLDER} (query older), {QUERY_YOUNGER} (query younger) "
                f"or None (can't tell), got {outcome!r}"
            )
        grouped[None if outcome is None else int(outcome)].append(float(reference_age))
    return grouped


BEYOND_STATUS, FLAGGED_STATUS = "beyond the references", "flagged"  # ageapp.annotation.counts' words


def _summary_title(summary: PosteriorSummary, no_answers: bool = False, prior: bool = False,
                   status: str | None = None) -> str:
    if no_answers:
        return "no answers yet: the model's prior alone" if prior else "no answers yet: every age is as likely"
    text = (
        f"mode {summary.mode} · mean {summary.mean:.1f} · 90% {summary.ci_low}–{summary.ci_high} "
        f"({summary.ci_width} years)"
    )  # short: a title wider than the plot would push its right end (the oldest ages) out of sight
    if status is not None:  # the status by the one rule, short (the window's line above the plot says more)
        if status == BEYOND_STATUS and summary.beyond:
            return text + (f" · <span style='color:#6a3d9a'>beyond the references: {summary.beyond_text()} "
                           f"({100 * summary.beyond_mass:.0f}%)</span>")
        if status == FLAGGED_STATUS:
            return text + f" · <span style='color:#b3261e'>flagged: wider than {OUTLIER_WIDTH} years</span>"
        return text
    if summary.beyond:
        text += (f" · <span style='color:#6a3d9a'>beyond the references: {summary.beyond_text()} "
                 f"({100 * summary.beyond_mass:.0f}% of the posterior)</span>")
    elif summary.flagged:
        text += f" · <span style='color:#b3261e'>flagged: wider than {OUTLIER_WIDTH} years</span>"
    return text
