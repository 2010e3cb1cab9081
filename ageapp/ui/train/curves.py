"""Live training curves: the training loss (per batch, smoothed, and per epoch) with the validation loss,
the validation MAE and the validation CA(5), with the best epoch (lowest validation MAE) marked on each.

Every item is created once; updates only call setData / setValue (pyqtgraph's PanningPlot habit), so a
message costs a few small array copies. The worker already throttles batch messages to ~10 per second.
Tick labels carry the decimals their spacing needs and no more (`ReadableAxis`: "13.6", never
"13.55830000000004"), and an epoch plot spans at least a readable range (one epoch is one point).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

TRAIN_COLOUR = "#2a7fb8"
BATCH_COLOUR = (42, 127, 184, 90)
VAL_COLOUR = "#c8553d"
MAE_COLOUR = "#1d4a63"
CA_COLOUR = "#4f8a3a"
BEST_COLOUR = "#b07d12"
AXIS_PEN, TEXT_PEN = "#56636e", "#1f2a33"
MAX_BATCH_POINTS = 5000  # older batch points are thinned beyond this
MIN_SPAN = {"mae": 1.0, "ca": 10.0}  # the smallest y range an epoch plot shows (years, percentage points)


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def add_plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, bottom: str, colspan: int = 1,
             whole_x: bool = False) -> pg.PlotItem:
    """A static plot in the training pages' style (readable ticks, whole numbers only on x with `whole_x`, no
    mouse, a light grid), added to `layout`: the curves here and the evaluation dialog's plots."""
    plot = layout.addPlot(row=row, col=col, colspan=colspan,
                          axisItems={"left": ReadableAxis("left"), "bottom": ReadableAxis("bottom", integer=whole_x)})
    plot.setTitle(title, color=TEXT_PEN, size="10pt")
    plot.setLabel("bottom", bottom)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setMouseEnabled(x=False, y=False)
    plot.showGrid(x=True, y=True, alpha=0.15)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setPen(pg.mkPen(AXIS_PEN))
        plot.getAxis(axis).setTextPen(pg.mkPen(TEXT_PEN))
        plot.getAxis(axis).enableAutoSIPrefix(False)
    return plot


class ReadableAxis(pg.AxisItem):
    """Tick labels with the decimals the tick spacing calls for (at most 3), without float noise; an `integer`
    axis (epochs) ticks whole numbers only."""

    def __init__(self, orientation: str, integer: bool = False, **kwargs):
        super().__init__(orientation, **kwargs)
        self.integer = integer

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph's name
        levels = super().tickValues(minVal, maxVal, size)
        if not self.integer:
            return levels
        whole = [(spacing, values) for spacing, values in levels if spacing >= 1]
        if not whole:
            whole = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return whole

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        step = abs(spacing * scale)
        decimals = 0 if step <= 0 or step >= 1 else min(3, max(0, -math.floor(math.log10(step) + 1e-9)))
        return [f"{value * scale:.{decimals}f}" for value in values]


def fit_y(plot: pg.PlotItem, values, min_span: float) -> tuple[float, float]:
    """Set the plot's y range to its finite values with 10% margins, at least min_span wide; returns it."""
    finite = np.asarray([v for v in values if math.isfinite(v)], float)
    if not finite.size:
        return plot.viewRange()[1]
    low, high = float(finite.min()), float(finite.max())
    margin = max((high - low) * 0.1, (min_span - (high - low)) / 2, 0.0)
    low, high = low - margin, high + margin
    plot.setYRange(low, high, padding=0)
    return low, high


class TrainingCurves(pg.GraphicsLayoutWidget):
    """`add_batch(x, loss)`, `add_epoch(metrics)`, `clear_curves()`; `best_epoch` after each epoch."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground("w")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumHeight(300)
        self.loss_plot = self._plot(0, 0, "Loss", "epoch", colspan=2)
        self.mae_plot = self._plot(1, 0, "Validation MAE (years)", "epoch")
        self.ca_plot = self._plot(1, 1, "Validation CA(5) (%)", "epoch")
        self.loss_plot.addLegend(offset=(-8, 6), labelTextColor=TEXT_PEN, brush=pg.mkBrush(255, 255, 255, 200))

        self.batch_curve = self.loss_plot.plot(pen=pg.mkPen(BATCH_COLOUR, width=1), name="training (batches)")
        self.train_curve = self.loss_plot.plot(pen=pg.mkPen(TRAIN_COLOUR, width=2), symbol="o", symbolSize=6,
                                               symbolBrush=TRAIN_COLOUR, symbolPen=None, name="training (epoch)")
        self.val_loss_curve = self.loss_plot.plot(pen=pg.mkPen(VAL_COLOUR, width=2), symbol="s", symbolSize=6,
                                                  symbolBrush=VAL_COLOUR, symbolPen=None, name="validation")
        self.mae_curve = self.mae_plot.plot(pen=pg.mkPen(MAE_COLOUR, width=2), symbol="o", symbolSize=6,
                                            symbolBrush=MAE_COLOUR, symbolPen=None)
        self.ca_curve = self.ca_plot.plot(pen=pg.mkPen(CA_COLOUR, width=2), symbol="o", symbolSize=6,
                                          symbolBrush=CA_COLOUR, symbolPen=None)
        self.best_marker = pg.ScatterPlotItem(symbol="star", size=16, brush=pg.mkBrush(BEST_COLOUR),
                                              pen=pg.mkPen("#6b4b00"))
        self.mae_plot.addItem(self.best_marker)
        self.best_lines = []
        for plot in (self.loss_plot, self.mae_plot, self.ca_plot):
            pen = pg.mkPen(BEST_COLOUR, width=1, style=Qt.PenStyle.DashLine)
            line = pg.InfiniteLine(angle=90, movable=False, pen=pen)
            line.setVisible(False)
            plot.addItem(line)
            self.best_lines.append(line)
        self.best_label = pg.TextItem(color=BEST_COLOUR, anchor=(0, 1.2))
        self.planned_epochs = 1
        self.mae_plot.addItem(self.best_label)
        self.best_label.setVisible(False)
        self.clear_curves()

    def _plot(self, row: int, col: int, title: str, bottom: str, colspan: int = 1) -> pg.PlotItem:
        return add_plot(self, row, col, title, bottom, colspan=colspan, whole_x=True)

    # -- data
    def clear_curves(self) -> None:
        self._batch_x: list[float] = []
        self._batch_y: list[float] = []
        self.epochs: list[dict] = []
        self.best_epoch: dict | None = None
        self.batch_updates = 0
        for curve in (self.batch_curve, self.train_curve, self.val_loss_curve, self.mae_curve, self.ca_curve):
            curve.setData([], [])
        self.best_marker.setData([], [])
        for line in self.best_lines:
            line.setVisible(False)
        self.best_label.setVisible(False)
        for plot in (self.loss_plot, self.mae_plot, self.ca_plot):  # forget the previous run's y range
            plot.setYRange(0, 1, padding=0)
            plot.enableAutoRange(axis="y")
        self._fit_x(0)

    def add_batch(self, x: float, loss: float) -> None:
        if not math.isfinite(loss):
            return
        self._batch_x.append(float(x))
        self._batch_y.append(float(loss))
        if len(self._batch_x) > MAX_BATCH_POINTS:  # keep every other old point
            half = len(self._batch_x) // 2
            self._batch_x = self._batch_x[:half:2] + self._batch_x[half:]
            self._batch_y = self._batch_y[:half:2] + self._batch_y[half:]
        self.batch_curve.setData(self._batch_x, self._batch_y)
        self.batch_updates += 1
        self._fit_x(x)

    def add_epoch(self, metrics: dict) -> None:
        self.epochs.append(dict(metrics))
        x = np.array([m["epoch"] for m in self.epochs], float)
        column = lambda key, scale=1.0: np.array([_number(m.get(key)) * scale for m in self.epochs])  # noqa: E731
        self.train_curve.setData(x, column("train_loss"))
        self.val_loss_curve.setData(x, column("val_loss"))
        mae = column("val_mae")
        self.mae_curve.setData(x, mae)
        self.ca_curve.setData(x, column("val_ca5"))
        fit_y(self.mae_plot, mae, MIN_SPAN["mae"])
        fit_y(self.ca_plot, column("val_ca5"), MIN_SPAN["ca"])
        self._mark_best(x, mae)
        self._fit_x(x[-1])

    def set_epochs(self, history: list[dict]) -> None:
        """Draw a run's recorded epochs at once (a resumed run, a finished one)."""
        for metrics in history:
            self.add_epoch(metrics)

    def _mark_best(self, x: np.ndarray, mae: np.ndarray) -> None:
        if not np.isfinite(mae).any():
            return
        index = int(np.nanargmin(mae))
        self.best_epoch = self.epochs[index]
        best_x, best_mae = float(x[index]), float(mae[index])
        self.best_marker.setData([best_x], [best_mae])
        for line in self.best_lines:
            line.setValue(best_x)
            line.setVisible(True)
        self.best_label.setText(f"best: epoch {int(best_x)}, {best_mae:.2f}")
        right_half = best_x > 0.6 * max(self.planned_epochs, x[-1])
        self.best_label.setAnchor((1, 1.2) if right_half else (0, 1.2))  # stays inside the plot
        self.best_label.setPos(best_x, best_mae)
        self.best_label.setVisible(True)

    def set_planned_epochs(self, epochs: int) -> None:
        """The x axis spans the whole run from the start, so progress reads as distance along it."""
        self.planned_epochs = max(1, int(epochs))
        self._fit_x(0)

    def _fit_x(self, x: float) -> None:
        right = max(float(self.planned_epochs), math.ceil(x))
        for plot in (self.loss_plot, self.mae_plot, self.ca_plot):
            plot.setXRange(0, right, padding=0.02)
