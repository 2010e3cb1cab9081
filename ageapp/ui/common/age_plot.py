"""The estimate page's posterior plot: the labeller's PosteriorPlot (bars, 90% interval, mode, mean) without
the reference-line legend, titled with the face's estimate."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QWidget

from ageapp.core.posterior import PosteriorSummary
from ageapp.ui.common.posterior_plot import PosteriorPlot

ESTIMATE_AGE_MAX = 100  # the shipped model's range (ages 0-100), shown on the empty plot
RIGHT_PART = 0.7  # a line's label beyond this share of the age range hangs left of the line


class AgePosteriorPlot(PosteriorPlot):
    def __init__(self, age_max: int = ESTIMATE_AGE_MAX, parent: QWidget | None = None):
        super().__init__(age_max=age_max, parent=parent)  # a posterior of another length resets the range
        plot = self.getPlotItem()
        plot.setLabel("bottom", "age (years)   ·   shaded: 90% interval")
        self.setMinimumSize(240, 160)
        self.updates = 0  # how many posteriors were drawn (the live view throttles this)

    def show_estimate(self, p: np.ndarray, summary: PosteriorSummary, title: str = "", tooltip: str = "") -> None:
        """The posterior, titled "mean 34.2 · 90% interval 28–41" (short: a long title would widen the
        plot past a narrow side panel and cut off its right end) or `title`; `tooltip` explains it. The
        mode's and mean's labels sit left of their lines in the right part of the plot, so they are never cut."""
        self.show_posterior(p, summary)
        self.getPlotItem().setTitle(title or f"mean {summary.mean:.1f} · 90% interval {summary.ci_low}–"
                                             f"{summary.ci_high}", color="#1f2a33", size="10pt")
        for line, value in ((self.mode_line, summary.mode), (self.mean_line, summary.mean)):
            side = (1, 0.5) if value > RIGHT_PART * self.age_max() else (0, 0.5)
            if line.label.anchors[0] != side:
                line.label.anchors = [side, side]
                line.label.updatePosition()
        self.setToolTip(tooltip)
        self.updates += 1

    def label_anchor(self, which: str) -> tuple:
        """Where the "mode"/"mean" label hangs from its line: (0, 0.5) right of it, (1, 0.5) left of it."""
        return tuple((self.mode_line if which == "mode" else self.mean_line).label.anchors[0])

    def has_data(self) -> bool:
        return self._has_data

    def shown_heights(self) -> np.ndarray:
        return np.asarray(self.bars.opts["height"], dtype=np.float64)
