"""The project's training runs side by side: key settings and the final validation metrics (coverage and NLL
calibrated, with which calibration and on how many faces), the active model marked, the selected run's recorded
curves; evaluate a run's model (evaluation_dialog.py), make it the active one, export it, or resume a
cancelled or failed run. A double-click changes nothing: making a run active is the button's alone.

`RunsTableModel` only adapts the list that `ageapp.store.runs.list_runs` returns, with what run_details.py reads
beside it (the checkpoint's calibration, the kept held-out evaluation), worked out once per refresh (napari's
habit: the view keeps no state of its own); `RunsDialog` asks the page to act (resume, export) through signals.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QSplitter,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ageapp.ui.common.table_header import column_header
from ageapp.ui.train.curves import TrainingCurves
from ageapp.ui.train.run_details import calibrated_figure, calibration_text, run_calibration
from trainer import runs as training_runs
from trainer.runs import run_checkpoints

WHERE = {"held-out": "", "calibration faces": " *", "raw": " (raw)"}  # the mark after a calibrated figure
WHERE_TIPS = {"held-out": "calibrated, on the run's held-out faces (Evaluate…)",
              "calibration faces": "* calibrated, on the faces the calibration was fitted on (optimistic): "
                                   "Evaluate… gives it on the held-out faces",
              "raw": "(raw): before calibration (the run is not calibrated, or its checkpoint cannot be read)"}


def derive(run: dict) -> dict:
    """The run with what the table shows beyond its record: calibrated coverage and NLL (and where they come
    from), its calibration in words."""
    run = dict(run)
    for key in ("coverage90", "nll"):
        run[f"_{key}"] = calibrated_figure(run, key)
    run["_calibration"] = calibration_text(run_calibration(run))
    return run


def _init_text(config: dict) -> str:
    if config.get("init"):
        name = Path(str(config["init"])).name
        return "face verification" if "mobilefacenet_casia" in name else name
    if config.get("net") in ("mobilenet_v3_small", "resnet18") and config.get("pretrained", True):
        return "ImageNet"
    return "none"


def _data_text(run: dict) -> str:
    config = run["config"] or {}
    sources = [config.get("data", "")] + list(config.get("also") or [])
    return ", ".join(Path(s).name for s in sources if s)


def _faces_text(run: dict) -> str | None:
    evaluation = run["evaluation"] or {}
    if evaluation.get("train") is None:
        return None
    return f"{evaluation['train']} / {evaluation['val']}"


def _metric(run: dict, key: str):
    value = (run["evaluation"] or {}).get(key)
    if value is None:  # a run still going, or cancelled before its first epoch: its best epoch so far
        epochs = [m for m in (run["epochs"] or []) if m.get("val_mae") is not None]
        if epochs:
            value = min(epochs, key=lambda m: m["val_mae"]).get(f"val_{key}")
    return value


# (header, value of a run, format, tooltip)
COLUMNS = [  # the metrics first: a comparison reads them without scrolling
    ("Run", lambda r: r["id"], "{}", "run number in this project"),
    ("★", lambda r: "★" if r.get("active") else "", "{}", "★: the project's active model (labelling's rough "
     "estimates and estimation use it)"),
    ("Status", lambda r: r["status"], "{}", None),
    ("Val MAE", lambda r: _metric(r, "mae"), "{:.2f}", "mean absolute error of the posterior mean, years"),
    ("CA(3) %", lambda r: _metric(r, "ca3"), "{:.1f}", "share within 3 years"),
    ("CA(5) %", lambda r: _metric(r, "ca5"), "{:.1f}", "share within 5 years"),
    ("Cov. 90 %", lambda r: r["_coverage90"], "{:.1f}",
     "calibrated coverage: share of held-out faces whose true age is inside the 90% interval (near 90 is honest)"),
    ("NLL", lambda r: r["_nll"], "{:.3f}", "negative log-likelihood of the true age, calibrated (lower is better)"),
    ("Calibration", lambda r: r["_calibration"] or None, "{}", "how the posterior was calibrated after training, "
     "and on how many held-out faces"),
    ("Best", lambda r: (r["evaluation"] or {}).get("best_epoch"), "{}", "epoch with the lowest validation MAE"),
    ("Network", lambda r: (r["config"] or {}).get("net"), "{}", "backbone"),
    ("Init", lambda r: _init_text(r["config"] or {}), "{}", "initialisation"),
    ("Loss", lambda r: (r["config"] or {}).get("loss"), "{}", "joint = KL + cost-sensitive"),
    ("Head", lambda r: (r["config"] or {}).get("head"), "{}", None),
    ("Epochs", lambda r: f"{len(r['epochs'] or [])}/{(r['config'] or {}).get('epochs', '?')}", "{}",
     "epochs done / planned"),
    ("Batch", lambda r: (r["config"] or {}).get("batch"), "{}", None),
    ("LR", lambda r: (r["config"] or {}).get("lr"), "{:g}", "learning rate"),
    ("Size", lambda r: (r["config"] or {}).get("size"), "{}", "input height in pixels"),
    ("Data", _data_text, "{}", "training data"),
    ("Faces", _faces_text, "{}", "training / validation faces"),
    ("Started", lambda r: (r["created"] or "")[5:16].replace("T", " "), "{}", "when the run started (UTC, month-day)"),
]
STATUS_COLOURS = {"finished": "#2f7d32", "cancelled": "#8a6d00", "failed": "#b3261e", "running": "#2f6f8f"}


class RunsTableModel(QAbstractTableModel):
    """Rows: runs (oldest first); Qt.UserRole gives the raw value (for sorting), DisplayRole the text."""

    def __init__(self, runs: list[dict] | None = None, parent=None):
        super().__init__(parent)
        self._runs: list[dict] = list(runs or [])

    def set_runs(self, runs: list[dict]) -> None:
        self.beginResetModel()
        self._runs = [derive(run) if "_calibration" not in run else run for run in runs]
        self.endResetModel()

    def run_at(self, row: int) -> dict:
        return self._runs[row]

    def row_of(self, run_id: int) -> int | None:
        return next((i for i, run in enumerate(self._runs) if run["id"] == run_id), None)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        return column_header(COLUMNS, section, orientation, role, tip=3)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._runs) or not 0 <= index.column() < len(COLUMNS):
            return None
        run = self._runs[index.row()]
        header, getter, fmt, _ = COLUMNS[index.column()]
        value = getter(run)
        where = ""
        if isinstance(value, tuple):  # a calibrated figure: (value, where it comes from)
            value, where = value
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.DisplayRole:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "—"
            try:
                return fmt.format(value) + WHERE.get(where, "")
            except (ValueError, TypeError):
                return str(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            if where:
                return WHERE_TIPS[where]
            if header == "Status" and run.get("message"):
                return run["message"]
            if header == "Data":
                config = run["config"] or {}
                return "\n".join([config.get("data", "")] + list(config.get("also") or []))
            return None
        if role == Qt.ItemDataRole.ForegroundRole and header == "Status":
            return QColor(STATUS_COLOURS.get(run["status"], "#1f2a33"))
        if role == Qt.ItemDataRole.FontRole and run.get("active"):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class RunsDialog(QDialog):
    """Non-modal list of the project's runs."""

    resume_requested = Signal(int)  # run id
    export_requested = Signal(int)  # run id
    active_model_changed = Signal(str)  # checkpoint path

    def __init__(self, db, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Training runs")
        self.resize(1200, 640)
        self.db = db
        self.model = RunsTableModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.hint = QLabel("Lower MAE and NLL are better; calibrated coverage should be near 90%. MAE and CA are the "
                           "best epoch's on each run's held-out faces; coverage and NLL are calibrated (on the "
                           "held-out faces once evaluated, * on the calibration's own faces until then).")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.curves = TrainingCurves()  # the selected run's recorded epochs
        self.curves.setMinimumHeight(220)

        self.activate_button = QPushButton("Make active model")
        self.activate_button.setProperty("primary", True)
        self.activate_button.setToolTip("Labelling (paper protocol's rough estimates) and estimation use the "
                                        "active model")
        self.activate_button.clicked.connect(self.make_active)
        self.evaluate_button = QPushButton("Evaluate…")
        self.evaluate_button.setToolTip("The run's model on its held-out faces or a chosen folder: MAE, CA, "
                                        "coverage calibrated and raw, NLL, reliability diagram, error by age")
        self.evaluate_button.clicked.connect(lambda: self.evaluate())
        self.evaluation_dialog = None
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(lambda: self._emit_for_selected(self.export_requested))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue a cancelled or failed run from its last checkpoint")
        self.resume_button.clicked.connect(lambda: self._emit_for_selected(self.resume_requested))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        for button in (self.activate_button, self.evaluate_button, self.export_button, self.resume_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.curves)
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter, stretch=1)
        layout.addWidget(self.status)
        layout.addLayout(row)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected_run()
        self.model.set_runs(training_runs.list_runs(self.db) if self.db is not None else [])
        if selected is not None:
            self.select_run(selected["id"])
        elif self.model.rowCount():
            self.table.selectRow(0)
        self._update_buttons()

    def select_run(self, run_id: int) -> None:
        row = self.model.row_of(run_id)
        if row is not None:
            self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())

    def selected_run(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.model.run_at(self.proxy.mapToSource(rows[0]).row())

    def _update_buttons(self) -> None:
        run = self.selected_run()
        best, last = run_checkpoints(run) if run else (None, None)
        writable = self.db is not None and not getattr(self.db, "read_only", False)
        self.activate_button.setEnabled(bool(best) and writable and not (run or {}).get("active"))
        self.evaluate_button.setEnabled(bool(best))
        self.export_button.setEnabled(bool(best))
        self._show_curves(run)
        self.resume_button.setEnabled(bool(last) and writable and run["status"] in ("cancelled", "failed"))
        if run is None:
            empty = not self.model.rowCount()
            self.status.setText("No runs yet: start one from Train ▸ Train a model…" if empty else "")
        elif run.get("message"):
            self.status.setText(f"Run {run['id']}: {run['message']}")
        elif not best:
            self.status.setText(f"Run {run['id']} has no checkpoint (it ended before its first epoch).")
        else:
            calibration = run.get("_calibration") or "unknown"
            self.status.setText(f"Run {run['id']}: {best} · calibration: {calibration}")

    def _show_curves(self, run: dict | None) -> None:
        """The selected run's recorded epochs (they outlive the window: they are in the project)."""
        self.curves.clear_curves()
        if run is None:
            return
        self.curves.set_planned_epochs(int((run.get("config") or {}).get("epochs", 1) or 1))
        self.curves.set_epochs(run.get("epochs") or [])

    def evaluate(self):
        """Open the evaluation of the selected run's model (one dialog at a time)."""
        from ageapp.ui.train.evaluation_dialog import EvaluationDialog

        run = self.selected_run()
        if run is None:
            return None
        if self.evaluation_dialog is not None:
            self.evaluation_dialog.shutdown()
            self.evaluation_dialog.close()
        dialog = self.evaluation_dialog = EvaluationDialog(run, self)
        dialog.evaluated.connect(lambda _run_id: self.refresh())
        dialog.show()
        return dialog

    def _emit_for_selected(self, signal) -> None:
        run = self.selected_run()
        if run is not None:
            signal.emit(run["id"])

    def make_active(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        try:
            best = training_runs.activate_run(self.db, run)
        except FileNotFoundError as error:
            self.status.setText(f"{str(error)[0].upper()}{str(error)[1:]}.")
            return
        self.refresh()
        self.status.setText(f"Run {run['id']}'s model is now the project's active model: labelling and estimation "
                            "use it.")
        self.active_model_changed.emit(str(best))
