"""Train ▸ Runs… ▸ Evaluate…: a run's model on its held-out faces or on a chosen folder of labelled faces, in a
worker with progress (time left) and Cancel; the figures `python -m trainer evaluate` gives (the same functions:
run_details.run_evaluation), calibrated beside raw, the reliability diagram and the error by age.

The worker only adapts run_details.run_evaluation to signals; the dialog only shows what it reports. A held-out
evaluation is kept in the run's folder (evaluation.json) for the runs table's calibrated figures.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ageapp.ui.train.curves import TEXT_PEN, add_plot
from ageapp.ui.train.progress import format_duration
from ageapp.ui.train.run_details import (
    EvaluationCancelled,
    EvaluationRequest,
    EvaluationResult,
    calibration_text,
    held_out_request,
    progress_reporter,
    run_calibration,
    run_evaluation,
    save_run_evaluation,
)

log = logging.getLogger("ageapp.train")

GUI_MAX_RATE = 10.0  # progress messages per second, at most
STAGES = {"hashing": "reading the labels", "face crops": "finding and cropping faces", "predict": "running the model"}
# (label, metric key, format) rows of the figures table: calibrated beside raw where the trainer reports both.
ROWS = [
    ("MAE (years)", "mae", "{:.2f}"),
    ("MAE of the mode (years)", "mae_mode", "{:.2f}"),
    ("CA(3) %: within 3 years", "ca3", "{:.1f}"),
    ("CA(5) %: within 5 years", "ca5", "{:.1f}"),
    ("CS(3) %", "cs3", "{:.1f}"),
    ("CS(5) %", "cs5", "{:.1f}"),
    ("Coverage of the 50% interval %", "coverage50", "{:.1f}"),
    ("Coverage of the 80% interval %", "coverage80", "{:.1f}"),
    ("Coverage of the 90% interval %", "coverage90", "{:.1f}"),
    ("Coverage of the 95% interval %", "coverage95", "{:.1f}"),
    ("Calibration error (points)", "calibration_error", "{:.2f}"),
    ("NLL", "nll", "{:.3f}"),
    ("Mean 90% interval width (years)", "mean_ci_width", "{:.1f}"),
    ("Gender accuracy %", "gender_acc", "{:.1f}"),
]
CALIBRATED_COLOUR, RAW_COLOUR, BAR_COLOUR = "#1f77b4", "#d62728", "#5b6f80"


class EvaluationWorker(QThread):
    """One evaluation (run_details.run_evaluation) off the GUI thread; cancel with requestInterruption()."""

    progress = Signal(str, int, int, float)  # stage, done, total, seconds left (-1: unknown)
    done = Signal(object)  # EvaluationResult
    failed = Signal(str)  # what went wrong and what to do
    cancelled = Signal()

    def __init__(self, request: EvaluationRequest, parent=None):
        super().__init__(parent)
        self.request = request
        self._last = 0.0

    def _report(self, stage: str, done: int, total: int, left: float) -> None:
        now = time.monotonic()
        if now - self._last >= 1.0 / GUI_MAX_RATE or done in (0, total):
            self._last = now
            self.progress.emit(stage, done, total, left)

    def run(self) -> None:
        try:
            import torch  # noqa: F401 - evaluation is the trainer's: without torch, say what to install
        except ImportError:
            from ageapp.training_extra import training_missing

            self.failed.emit(training_missing() or "evaluation needs torch (the training extra)")
            return
        try:
            result = run_evaluation(self.request, progress_reporter(self._report, self.isInterruptionRequested))
        except EvaluationCancelled:
            self.cancelled.emit()
            return
        except Exception as error:  # noqa: BLE001 - every failure becomes a sentence in the dialog
            log.exception("evaluation failed")
            self.failed.emit(str(error) or type(error).__name__)
            return
        self.done.emit(result)


class EvaluationPlots(pg.GraphicsLayoutWidget):
    """The reliability diagram (observed against nominal coverage, calibrated and raw) and the error by age."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground("w")
        self.setMinimumHeight(260)
        self.reliability = self._plot(0, "Reliability: share of true ages inside", "nominal level of the interval")
        self.reliability.setXRange(0, 1, padding=0.02)
        self.reliability.setYRange(0, 1, padding=0.02)
        self.reliability.addLegend(offset=(8, 6), labelTextColor=TEXT_PEN, brush=pg.mkBrush(255, 255, 255, 200))
        self.reliability.plot([0, 1], [0, 1], pen=pg.mkPen("#999999", width=1), name="perfectly calibrated")
        self.raw_curve = self.reliability.plot(pen=pg.mkPen(RAW_COLOUR, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
                                               symbol="o", symbolSize=5, symbolBrush=RAW_COLOUR, symbolPen=None,
                                               name="before calibration")
        self.calibrated_curve = self.reliability.plot(pen=pg.mkPen(CALIBRATED_COLOUR, width=2), symbol="o",
                                                      symbolSize=5, symbolBrush=CALIBRATED_COLOUR, symbolPen=None,
                                                      name="model (calibrated)")
        self.by_age = self._plot(1, "Error by age: MAE (years), faces above each bar", "true age (years)")
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=4.2, brush=pg.mkBrush(BAR_COLOUR),
                                    pen=pg.mkPen(None))
        self.by_age.addItem(self.bars)
        self.count_labels: list[pg.TextItem] = []

    def _plot(self, col: int, title: str, bottom: str) -> pg.PlotItem:
        return add_plot(self, 0, col, title, bottom)

    def show_result(self, result: EvaluationResult) -> None:
        self.calibrated_curve.setData(result.nominal, result.observed)
        self.raw_curve.setData(result.nominal if result.observed_raw else [], result.observed_raw)
        starts = np.asarray(result.age_starts, float)
        width = float(np.min(np.diff(starts))) if len(starts) > 1 else 5.0
        self.bars.setOpts(x=starts + width / 2, height=np.asarray(result.age_mae, float), width=width * 0.85)
        while len(self.count_labels) < len(starts):
            label = pg.TextItem(color="#56636e", anchor=(0.5, 1.0))
            self.by_age.addItem(label)
            self.count_labels.append(label)
        for index, label in enumerate(self.count_labels):
            label.setVisible(index < len(starts))
            if index < len(starts):
                label.setText(str(result.age_counts[index]))
                label.setPos(starts[index] + width / 2, result.age_mae[index])
        top = max(result.age_mae, default=1.0)
        self.by_age.setYRange(0, top * 1.15 + 0.1, padding=0)
        if len(starts):
            self.by_age.setXRange(float(starts[0]), float(starts[-1] + width), padding=0.02)


class EvaluationDialog(QDialog):
    """Non-modal; `start(request)` evaluates, `figures()` gives the shown table as {key: (calibrated, raw)}."""

    evaluated = Signal(int)  # run id, once a held-out evaluation is kept

    def __init__(self, run: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.run = run
        self.worker: EvaluationWorker | None = None
        self.request: EvaluationRequest | None = None
        self.result: EvaluationResult | None = None
        self._started = 0.0
        self.setWindowTitle(f"Evaluate run {run['id']}")
        self.resize(980, 720)
        calibration = calibration_text(run_calibration(run))
        intro = QLabel(f"Run {run['id']}'s model ({(run.get('config') or {}).get('net', '?')}; calibration: "
                       f"{calibration or 'unknown'}) on labelled faces it never trained on. The figures are those of "
                       "`python -m trainer evaluate` on the same faces, with test-time flip.")
        intro.setWordWrap(True)
        intro.setObjectName("hint")

        self.held_out_radio = QRadioButton("The run's held-out faces (its validation part)")
        self.folder_radio = QRadioButton("A folder of labelled faces:")
        group = QButtonGroup(self)
        for button in (self.held_out_radio, self.folder_radio):
            group.addButton(button)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("FG-NET, UTKFace, a CSV list (path,age) … or an .ageproj project")
        self.folder_edit.textChanged.connect(lambda _text: self.folder_radio.setChecked(True))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        self.aligned_check = QCheckBox("the images are face crops (aligned chips, as UTKFace's)")
        try:
            held_out_request(run)
            self.held_out_radio.setChecked(True)
        except FileNotFoundError as error:
            self.held_out_radio.setEnabled(False)
            self.held_out_radio.setToolTip(str(error))
            self.folder_radio.setChecked(True)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_radio)
        folder_row.addWidget(self.folder_edit, stretch=1)
        folder_row.addWidget(browse)

        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setProperty("primary", True)
        self.evaluate_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("hint")
        controls = QHBoxLayout()
        controls.addWidget(self.evaluate_button)
        controls.addWidget(self.cancel_button)
        controls.addWidget(self.progress_bar, stretch=1)

        self.table = QTableWidget(len(ROWS), 2)
        self.table.setHorizontalHeaderLabels(["calibrated", "before calibration"])
        self.table.setVerticalHeaderLabels([label for label, _, _ in ROWS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setMinimumWidth(340)
        self.faces_label = QLabel("")
        self.faces_label.setWordWrap(True)
        self.plots = EvaluationPlots()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        source = QGridLayout()
        source.addWidget(self.held_out_radio, 0, 0)
        source.addLayout(folder_row, 1, 0)
        source.addWidget(self.aligned_check, 2, 0)
        results = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self.faces_label)
        left.addWidget(self.table, stretch=1)
        results.addLayout(left, stretch=2)
        results.addWidget(self.plots, stretch=3)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(source)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addLayout(results, stretch=1)
        layout.addWidget(buttons)
        self._set_busy(False)

    # ---------------------------------------------------------------------------------------------- the request
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of labelled faces", self.folder_edit.text()
                                                  or str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    def current_request(self) -> EvaluationRequest | str:
        """The request the form describes, or why there is none."""
        if self.held_out_radio.isChecked():
            try:
                return held_out_request(self.run)
            except FileNotFoundError as error:
                return str(error)
        folder = self.folder_edit.text().strip()
        if not folder:
            return "Choose a folder of labelled faces (or the run's held-out faces)."
        if not Path(folder).expanduser().exists():
            return f"{folder} does not exist: choose a folder of labelled faces."
        held = held_out_request(self.run) if self.held_out_radio.isEnabled() else None
        model = held.model if held else str(Path((self.run.get("config") or {}).get("out", "")) / "best.pt")
        return EvaluationRequest(model=model, data=str(Path(folder).expanduser()), aligned=self.aligned_check.isChecked(),
                                 detector=(self.run.get("config") or {}).get("detector"),
                                 cache_dir=(self.run.get("config") or {}).get("cache_dir"))

    # ---------------------------------------------------------------------------------------------- running
    def start(self, request: EvaluationRequest | None = None) -> bool:
        if self.worker is not None:
            return False
        request = request or self.current_request()
        if isinstance(request, str):
            self.status.setText(request)
            return False
        self.request, self.result = request, None
        worker = EvaluationWorker(request, self)
        worker.progress.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(lambda w=worker: self._on_finished(w))
        self.worker = worker
        self._started = time.monotonic()
        self.status.setText(f"Evaluating on {request.describe()}…")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("Preparing…")
        self._set_busy(True)
        worker.start()
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.requestInterruption()
            self.progress_bar.setFormat("Cancelling…")

    def _on_progress(self, stage: str, done: int, total: int, left: float) -> None:
        if self.sender() is not self.worker:
            return
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(min(done, max(total, 1)))
        when = format_duration(left) if done else "estimating time left…"
        self.progress_bar.setFormat(f"{STAGES.get(stage, stage)}: {done} of {total} · {when}")

    def _on_done(self, result: EvaluationResult) -> None:
        self.result = result
        self.show_result(result)
        elapsed = time.monotonic() - self._started
        kept = ""
        try:
            saved = save_run_evaluation(self.run, self.request, result)
        except OSError as error:
            saved, kept = None, f" It could not be kept in the run's folder ({error.strerror or error})."
        if saved is not None:
            kept = " Kept in the run's folder: the runs table shows these calibrated figures."
            self.evaluated.emit(self.run["id"])
        self.status.setText(f"Evaluated on {self.request.describe()} in {elapsed:.1f} s.{kept}")

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"The evaluation stopped: {message}")

    def _on_cancelled(self) -> None:
        self.status.setText("Cancelled: nothing was kept.")

    def _on_finished(self, worker: EvaluationWorker) -> None:
        if worker is not self.worker:
            return
        self.worker = None
        worker.wait()
        worker.deleteLater()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if self.result is not None else 0)
        self.progress_bar.setFormat("Done" if self.result is not None else "")
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self.evaluate_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    # ---------------------------------------------------------------------------------------------- showing
    def show_result(self, result: EvaluationResult) -> None:
        metrics = result.metrics
        raw = metrics.get("uncalibrated") or {}
        for row, (_, key, fmt) in enumerate(ROWS):
            for column, source in enumerate((metrics, raw)):
                value = source.get(key)
                item = QTableWidgetItem("—" if value is None else fmt.format(value))
                self.table.setItem(row, column, item)
        calibration = metrics.get("calibration", "none")
        no_face = f"; {metrics['no_face']} without a face found" if metrics.get("no_face") else ""
        self.faces_label.setText(f"<b>{metrics.get('n', 0)} faces</b>{no_face}; calibration applied: "
                                 f"{calibration}. Coverage near the nominal level and a lower NLL mean honest "
                                 "intervals.")
        self.plots.show_result(result)

    def figures(self) -> dict[str, tuple[str, str]]:
        """The table as shown: {metric key: (calibrated text, raw text)}."""
        return {key: tuple(self.table.item(row, column).text() if self.table.item(row, column) else ""
                           for column in (0, 1))
                for row, (_, key, _) in enumerate(ROWS)}

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def reject(self) -> None:
        self.shutdown()
        super().reject()

    def shutdown(self) -> None:
        """Cancel and wait (a closing window never leaves the worker behind)."""
        worker = self.worker
        if worker is not None:
            worker.requestInterruption()
            worker.wait()
            self._on_finished(worker)
