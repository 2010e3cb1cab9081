"""A pyqtgraph plot for figures that show data rather than invite exploring it: no mouse, menu or SI prefixes."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

AXIS_COLOUR = "#56636e"
TEXT_COLOUR = "#1f2a33"


def static_plot(bottom: str, left: str, *, grid: bool = False, minimum_size: tuple[int, int] = (160, 170)) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    item = plot.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(x=False, y=False)
    item.setLabel("bottom", bottom)
    item.setLabel("left", left)
    if grid:
        item.showGrid(x=True, y=True, alpha=0.15)
    for axis in ("left", "bottom"):
        item.getAxis(axis).enableAutoSIPrefix(False)
        item.getAxis(axis).setPen(pg.mkPen(AXIS_COLOUR))
        item.getAxis(axis).setTextPen(pg.mkPen(TEXT_COLOUR))
    plot.setMinimumSize(*minimum_size)
    return plot
