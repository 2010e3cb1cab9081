"""The statistics dock's gold plot (the paper's Fig. 2b): a labeller's gold answers, binned by the age difference of
the pair, against σ(β·difference) with their β and the band of its 95% interval; the title says whose β it is and
where it comes from (the default until gold pairs or a study say more, with the gold answers given so far)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ageapp.annotation.statistics import GoldBins, logistic_curve
from ageapp.annotation.summary import LabellerSummary, beta_source_words
from ageapp.core.annotators import GOLD_MAX_GAP
from ageapp.ui.common.static_plot import static_plot

TITLE = {"color": "#1f2a33", "size": "9pt"}
_CURVE = "#1d4a63"
_POINTS = "#c8553d"


class GoldPlot:
    def __init__(self):
        self.plot = static_plot("age difference (years)", "share judged older")
        self.plot.setXRange(-GOLD_MAX_GAP - 1, GOLD_MAX_GAP + 1, padding=0)
        self.plot.setYRange(-0.05, 1.05, padding=0)  # every answer visible, wrong ones included
        self.plot.setToolTip("Each dot: the share of gold pairs, within a 2-year bin of age difference (first face "
                             "minus second), where the first face was judged older; its size is the number of "
                             "answers. The curve is σ(β·difference) with the fitted β: the likelihood this "
                             "annotator's answers are weighed with (the paper's Fig. 2b).")
        self.curve = pg.PlotDataItem(pen=pg.mkPen(_CURVE, width=2))
        self.low = pg.PlotDataItem(pen=pg.mkPen(None))
        self.high = pg.PlotDataItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self.low, self.high, brush=pg.mkBrush(29, 74, 99, 45))
        self.points = pg.ScatterPlotItem(pen=pg.mkPen(None), brush=pg.mkBrush(_POINTS))
        for item in (self.low, self.high, self.band, self.curve, self.points):
            self.plot.addItem(item)
        self._drawn: tuple | None = None

    def show(self, labeller: LabellerSummary | None, bins: GoldBins | None, version=None) -> None:
        """Draw a labeller's curve and answers (None: nobody); nothing is redrawn when nothing changed."""
        drawn = None if labeller is None else (labeller.name, labeller.model, labeller.gold_answers, version)
        if drawn is not None and drawn == self._drawn:
            return
        self._drawn = drawn
        if labeller is None:
            for item in (self.points, self.curve, self.low, self.high):
                item.setData([], [])
            self.plot.setTitle("gold pairs: none yet", **TITLE)
            return
        model = labeller.model
        differences = np.linspace(-GOLD_MAX_GAP, GOLD_MAX_GAP, 161)
        self.curve.setData(differences, logistic_curve(differences, model.beta))
        low, high = model.interval if model.interval else (model.beta, model.beta)
        # the band: every curve σ(β d) with β in its 95% interval lies between these two
        self.low.setData(differences, np.minimum(logistic_curve(differences, low), logistic_curve(differences, high)))
        self.high.setData(differences, np.maximum(logistic_curve(differences, low), logistic_curve(differences, high)))
        if bins is not None and len(bins.centres):
            sizes = 5 + 9 * np.sqrt(bins.counts / bins.counts.max())
            self.points.setData(bins.centres, bins.older_fraction, size=sizes)
        else:
            self.points.setData([], [])
        self.plot.setTitle(gold_title(labeller), **TITLE)

    def clear(self) -> None:
        self._drawn = None
        self.plot.setTitle("")
        for item in (self.points, self.curve, self.low, self.high):
            item.setData([], [])


def gold_title(labeller: LabellerSummary) -> str:
    """Whose β, and where it comes from: the default (with the gold answers given so far), gold pairs, a study."""
    return (f"{_elide(labeller.name)}: β = {labeller.beta:.2f}<br>"
            f"{beta_source_words(labeller.model, labeller.gold_answers)}")


def _elide(name: str, limit: int = 12) -> str:
    """A name short enough for a small plot's title (a long title widens the plot past its dock), escaped."""
    name = name if len(name) <= limit else name[: limit - 1] + "…"
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
