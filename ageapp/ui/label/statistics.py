"""The project statistics dock: the project's counts (ageapp.annotation.counts, the one source of truth the
queue and the session line show too, updated at every answer), pace, flagged queries, the distribution of
interval widths, and each annotator's β (with its 95% interval and where it comes from) and agreement on gold
pairs with the fitted curve and its interval against the binned answers (the paper's Fig. 2b).

What the project summary keeps (ageapp.annotation.summary: the counts, the widths of the finished queries, each
labeller's answers and β) is drawn from its snapshot at every change (`show_summary`), so the dock says what the
caption, the queue and the plot say, at once. Pace, agreement on gold pairs and the requeue's figures come
from ageapp.annotation.statistics, computed by `StatisticsWorker` in its own thread on its own read-only
connection (a MegaAge-sized project takes a tenth of a second: never on the labeller's key press), once the
labeller pauses. The plots' items are made once and updated with setData / setOpts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ageapp.annotation.counts import BEYOND, FINISHED, FLAGGED, IN_PROGRESS, NEW, SENT_BACK, Counts
from ageapp.annotation.statistics import ProjectStatistics
from ageapp.annotation.summary import LabellerSummary, Summary
from ageapp.core.posterior import OUTLIER_WIDTH
from ageapp.core.selection import Protocol
from ageapp.ui.common.static_plot import static_plot
from ageapp.store.db import project_path
from ageapp.ui.label.gold_plot import TITLE as _TITLE
from ageapp.ui.label.gold_plot import GoldPlot
from ageapp.ui.label.statistics_worker import RUNNING, StatisticsWorker, wait_for_statistics_workers

PANEL_WIDTH = 500  # the dock's width on a first run: both plots and the table's headers whole, beside the pair
FIRST_REFRESH_MS = 300
REFRESH_DELAY_MS = 1500  # after an answer, wait for a pause in the labelling before recounting
_BAR = "#5b6f80"
_FLAGGED_BAR = "#c8553d"
ANNOTATOR_COLUMNS = ["Annotator", "β (95%)", "Gold right", "Answers", "Pace"]
ANNOTATOR_TIPS = ["Who answered", "Their β with its 95% interval (hover a value for where it comes from)",
                  "The share of their answered gold pairs they got right, of how many", "Every answer that counts, "
                  "gold pairs included (the dock's Answers)", "Answers per hour over their last 1,000"]


class StatisticsPanel(QWidget):
    updated = Signal()  # new numbers are on screen

    def listen(self, events) -> None:
        """Follow the project's events (ageapp.annotation.events): any change schedules the worker's figures
        (pace, gold agreement) once the labeller pauses; what the summary keeps is drawn at once."""
        events.subscribe(lambda _event: self.schedule_refresh())

    def show_summary(self, summary: Summary) -> None:
        """The project summary's snapshot: counts, the finished queries' widths, each labeller's answers and β;
        after an answer or an undo, drawn once the next pair is painted (a zero timer: the plots and the table
        take a few milliseconds the key press must not wait for)."""
        self.summary = summary
        if summary.on_key_path:
            self._draw_timer.start()
        else:
            self._draw_summary()

    def pending(self) -> bool:
        return self._draw_timer.isActive()

    def _draw_summary(self) -> None:
        self._draw_timer.stop()
        summary = self.summary
        if summary is None:
            return
        self.show_counts(summary.counts)
        if summary.done_widths != self._drawn_widths:  # the bars are redrawn only when they change
            self._drawn_widths = summary.done_widths
            widths = np.array(list(summary.done_widths), dtype=np.int64)
            self._show_widths(widths, np.array(list(summary.done_widths.values()), dtype=np.int64))
        self._fill_annotators()
        self._show_gold(self._shown_annotator_id)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._path: Path | None = None
        self._protocol = Protocol()
        self._annotator_id: int | None = None
        self._shown_annotator_id: int | None = None
        self._worker: StatisticsWorker | None = None
        self._pending = False
        self._stale = False  # answers came while the dock was hidden
        self._generation = 0
        self.statistics: ProjectStatistics | None = None  # the worker's last figures
        self.summary: Summary | None = None  # the project summary's last snapshot
        self._drawn_widths: dict | None = None  # the histogram's, as drawn
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh_now)
        self._draw_timer = QTimer(self)  # the summary's drawing, after the next pair (show_summary)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.setInterval(0)
        self._draw_timer.timeout.connect(self._draw_summary)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.comparisons_label = QLabel()
        self.pace_label = QLabel()
        self.flagged_label = QLabel()
        self.requeue_label = QLabel()
        self.message = QLabel()
        self.message.setObjectName("hint")
        for label in (self.comparisons_label, self.pace_label, self.flagged_label, self.requeue_label, self.message):
            label.setWordWrap(True)  # long numbers must not widen the dock
        numbers = QGridLayout()
        numbers.addWidget(self.comparisons_label, 0, 0)
        numbers.addWidget(self.pace_label, 0, 1)
        numbers.addWidget(self.flagged_label, 1, 0, 1, 2)
        numbers.addWidget(self.requeue_label, 2, 0, 1, 2)

        self.width_plot = static_plot("90% interval (years)", "queries")
        self.width_bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.85, brushes=[], pen=pg.mkPen(None))
        self.width_plot.addItem(self.width_bars)
        self.outlier_line = pg.InfiniteLine(pos=OUTLIER_WIDTH + 0.5, angle=90, movable=False,
                                            pen=pg.mkPen(_FLAGGED_BAR, width=1, style=Qt.PenStyle.DashLine))
        self.width_plot.addItem(self.outlier_line)

        self.width_plot.setToolTip(f"Width of the 90% credible interval of each finished query; red bars are "
                                   f"wider than {OUTLIER_WIDTH} years (flagged).")
        self.gold = GoldPlot()  # the shown labeller's gold answers against σ(β·difference) (gold_plot.py)
        self.gold_plot = self.gold.plot
        self.gold_curve, self.gold_points = self.gold.curve, self.gold.points

        self.annotators = QTableWidget(0, 5)
        self.annotators.setHorizontalHeaderLabels(ANNOTATOR_COLUMNS)
        self.annotators.verticalHeader().setVisible(False)
        self.annotators.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.annotators.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.annotators.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # A click selects a row and never takes the keyboard: ← / → / Backspace keep answering.
        self.annotators.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.annotators.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.annotators.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # headers and figures whole
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        for column, tip in enumerate(ANNOTATOR_TIPS):
            self.annotators.horizontalHeaderItem(column).setToolTip(tip)
        self.annotators.setToolTip("β: the annotator's discrimination, with its 95% interval: the population's "
                                   "0.36 until gold pairs (or a study) say more, shrunk towards it while they are "
                                   "few. Hover a β for its source. Select a row to see that annotator's gold "
                                   "answers.")
        self.annotators.itemSelectionChanged.connect(self._on_annotator_row)

        plots = QHBoxLayout()
        plots.addWidget(self.width_plot)
        plots.addWidget(self.gold_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.progress)
        layout.addLayout(numbers)
        layout.addLayout(plots, stretch=1)
        layout.addWidget(self.annotators)
        layout.addWidget(self.message)
        self._show_empty()

    def sizeHint(self) -> QSize:
        return QSize(PANEL_WIDTH, 480)

    # Public ---------------------------------------------------------------------------------------------

    def set_project(self, db, protocol: Protocol | None = None, annotator_id: int | None = None) -> None:
        """db None: nothing to show. Statistics are computed in the background, right away."""
        self._timer.stop()
        self._generation += 1
        if db is None:
            wait_for_statistics_workers()
            self._path = None
            self.statistics = self.summary = None
            self._draw_timer.stop()
            self._show_empty()
            return
        self._path = project_path(db)
        self._protocol = protocol or self._protocol
        self._annotator_id = self._shown_annotator_id = annotator_id
        if self.summary is not None:  # the labeller's row and gold plot, at once
            self._fill_annotators()
            self._show_gold(annotator_id)
        # Soon, not now: the first pair goes on screen before a worker competes for the CPU.
        QTimer.singleShot(FIRST_REFRESH_MS, self, self.refresh_now)

    def set_protocol(self, protocol: Protocol) -> None:
        self._protocol = protocol
        self.refresh_now()

    def set_annotator(self, annotator_id: int | None) -> None:
        self._annotator_id = self._shown_annotator_id = annotator_id
        self.refresh_now()

    def schedule_refresh(self) -> None:
        """After an answer: recount once the labeller pauses (restarts the wait each time); a closed dock
        waits until it is shown again."""
        if self._path is None:
            return
        if self.isVisible():
            self._timer.start()
        else:
            self._stale = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.refresh_now()

    def refresh_now(self) -> None:
        if self._path is None:
            return
        if self._worker is not None:  # one at a time; the latest request runs when this one ends
            self._pending = True
            return
        self._pending = False
        worker = StatisticsWorker(self._path, self._protocol, self._generation)
        worker.computed.connect(self._on_computed)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        RUNNING.add(worker)
        worker.start(QThread.Priority.LowPriority)

    def is_busy(self) -> bool:
        return self._worker is not None or self._timer.isActive()

    # Results ------------------------------------------------------------------------------------------------

    def _on_worker_finished(self) -> None:
        worker = self.sender()
        RUNNING.discard(worker)
        worker.deleteLater()
        if self._worker is worker:
            self._worker = None
            if self._pending:
                self.refresh_now()

    def _on_failed(self, message: str) -> None:
        self.message.setText(message)

    def _on_computed(self, stats: ProjectStatistics, generation: int) -> None:
        if generation != self._generation:
            return  # a project that has been closed or replaced meanwhile
        self.statistics = stats
        mine = next((a for a in stats.annotators if a.annotator_id == self._annotator_id), None)
        pace = "—" if mine is None or mine.per_hour is None else f"{mine.per_hour:,.0f}"
        self.pace_label.setText(f"Your pace: <b>{pace}</b> comparisons/hour")
        self.pace_label.setToolTip("Over your last 1,000 answers; pauses longer than 5 minutes are left out.")
        requeue = stats.requeue
        self.requeue_label.setText("" if not requeue.sent_back else (
            f"Sent back {_count(requeue.sent_back, 'query', 'queries')}: <b>{requeue.resolved:,}</b> resolved, "
            f"{requeue.open:,} being labelled again, {requeue.exhausted:,} still wide"))
        self.requeue_label.setToolTip("Sent back: flagged queries served again for more comparisons (the queue's "
                                      "“Send flagged back”). Resolved: their 90% interval is now at most "
                                      f"{OUTLIER_WIDTH} years. Still wide: they had their extra comparisons.")
        if self.summary is None:  # no summary (a panel on its own): the worker's widths
            self._show_widths(stats.widths, stats.width_counts)
        self._fill_annotators()
        self._show_gold(self._shown_annotator_id)
        self.message.setText("")
        self.updated.emit()

    def show_counts(self, counts: Counts) -> None:
        """The project's counts (annotation.counts), at once: the same numbers the queue and session line show."""
        by = counts.by_status
        self.progress.setRange(0, max(counts.total, 1))
        self.progress.setValue(counts.done)
        share = 100 * counts.done / counts.total if counts.total else 0.0
        self.progress.setFormat(f"{counts.done:,} of {_count(counts.total, 'query', 'queries')} finished ({share:.1f}%)")
        gold = f" ({counts.gold_answers:,} gold)" if counts.gold_answers else ""
        self.comparisons_label.setText(f"Answers: <b>{counts.answers:,}</b>{gold}")
        self.flagged_label.setText(
            f"New <b>{by[NEW]:,}</b> · in progress <b>{by[IN_PROGRESS]:,}</b> · finished <b>{by[FINISHED]:,}</b> · "
            f"flagged <b>{by[FLAGGED]:,}</b> · beyond the references <b>{by[BEYOND]:,}</b> · "
            f"sent back <b>{by[SENT_BACK]:,}</b>")
        self.flagged_label.setToolTip(
            f"Flagged: finished with a 90% interval wider than {OUTLIER_WIDTH} years (“Flagged only” in the queue). "
            "Beyond the references: finished older (younger) than every reference it can be shown: older "
            "(younger) references would resolve it (“Beyond the references” in the queue).")

    def _show_widths(self, widths: np.ndarray, counts: np.ndarray) -> None:
        self.width_plot.setTitle(_count(int(counts.sum()), "finished query", "finished queries"), **_TITLE)
        brushes = [pg.mkBrush(_FLAGGED_BAR if w > OUTLIER_WIDTH else _BAR) for w in widths]
        self.width_bars.setOpts(x=widths.astype(float), height=counts.astype(float), brushes=brushes)
        top = float(counts.max()) if len(counts) else 1.0
        right = max(float(widths.max()) if len(widths) else 0.0, OUTLIER_WIDTH + 5.0)
        self.width_plot.setXRange(-0.5, right + 0.5, padding=0)
        self.width_plot.setYRange(0, top * 1.1, padding=0)

    def _labellers(self) -> list[LabellerSummary]:
        """Each labeller's answers and β: the summary's (current at every answer), else the worker's."""
        if self.summary is not None:
            return list(self.summary.labellers)
        if self.statistics is None:
            return []
        return [LabellerSummary(a.annotator_id, a.name, a.answers + a.gold.answered + a.gold.unsure,
                                a.gold.answered + a.gold.unsure, a.model) for a in self.statistics.annotators]

    def _fill_annotators(self) -> None:
        table = self.annotators
        worker = {} if self.statistics is None else {a.annotator_id: a for a in self.statistics.annotators}
        labellers = self._labellers()
        table.blockSignals(True)
        table.setRowCount(len(labellers))
        for row, labeller in enumerate(labellers):
            figures = worker.get(labeller.annotator_id)
            gold = None if figures is None else figures.gold
            agreement = "—" if gold is None or gold.rate is None else f"{100 * gold.rate:.0f}% of {gold.answered}"
            per_hour = "—" if figures is None or figures.per_hour is None else f"{figures.per_hour:,.0f}"
            model = labeller.model
            span = f" ({model.interval[0]:.2f}–{model.interval[1]:.2f})" if model.interval else ""
            answers = f"{labeller.answers:,}"
            values = [labeller.name, f"{model.beta:.2f}{span}", agreement, answers, per_hour]
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, labeller.annotator_id)
                if column == 1:
                    item.setToolTip(labeller.describe_beta())
                if column == 3:
                    item.setToolTip(f"{labeller.answers:,} answers, {labeller.gold_answers:,} of them on gold pairs")
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, column, item)
            if labeller.annotator_id == self._shown_annotator_id:
                table.selectRow(row)
        table.blockSignals(False)
        height = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(min(table.rowCount(), 4)))
        table.setFixedHeight(height + 2 * table.frameWidth())

    def _on_annotator_row(self) -> None:
        items = self.annotators.selectedItems()
        if items:
            self._shown_annotator_id = items[0].data(Qt.ItemDataRole.UserRole)
            self._show_gold(self._shown_annotator_id)

    def _show_gold(self, annotator_id: int | None) -> None:
        labeller = next((lab for lab in self._labellers() if lab.annotator_id == annotator_id), None)
        stats = self.statistics
        self.gold.show(labeller, None if stats is None or labeller is None else stats.gold_bins.get(labeller.annotator_id),
                       id(stats))

    def _show_empty(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("No project open")
        for label in (self.comparisons_label, self.pace_label, self.flagged_label, self.requeue_label):
            label.setText("")
        self.width_plot.setTitle("")
        self.gold.clear()
        self.width_bars.setOpts(x=np.zeros(0), height=np.zeros(0), brushes=[])
        self._drawn_widths = None
        self.annotators.setRowCount(0)


def _count(n: int, one: str, many: str) -> str:
    """'1 query', '2,300 queries': a number with the right plural."""
    return f"{n:,} {one if n == 1 else many}"
