"""The Train page: choose the data, network and settings, run the training in the background with live
curves, pause / resume / cancel it; and the Train menu (Train a model…, Runs…, Export model…).

The page only shows things and forwards clicks: the run is a `TrainWorker` (worker.py) that wraps
`trainer.train.train`, opens its own connection to the project and records the run there. Closing the window
during a run asks first, then cancels the run (a checkpoint is saved) and closes once it has stopped.

`install_train_page(window)` adds the page and the menu to the main window.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from trainer import runs as training_runs
from ageapp.store.settings import get_setting
from ageapp.store.training_data import count_labelled
from ageapp.ui.shell.messages import show_information, show_warning
from ageapp.ui.train.runs_dialog import RunsDialog
from trainer.runs import run_checkpoints
from ageapp.ui.train.choices import (
    FACE,
    FILE,
    HEADS,
    INIT_LABELS,
    LOSSES,
    NET_INITS,
    NETS,
    TrainChoices,
    default_init,
    find_face_checkpoint,
)
from ageapp.ui.train.curves import TrainingCurves
from ageapp.ui.train.worker import DeviceProbe, FunctionWorker, TrainWorker

log = logging.getLogger("ageapp.train")

PAGE_NAME = "train"
CHECKPOINT_FILTER = "PyTorch checkpoints (*.pt *.pth *.ckpt);;All files (*)"
EXPORT_FILTER = "Checkpoint (*.pt);;ONNX model (*.onnx)"
LOG_LINES = 2000
BANNER_STYLES = {
    "error": "QFrame#trainBanner { background: #fde8e6; border: 1px solid #e3a39b; border-radius: 5px; }"
             "QFrame#trainBanner QLabel { color: #6b1710; }",
    "info": "QFrame#trainBanner { background: #e8f2e6; border: 1px solid #9cc49a; border-radius: 5px; }"
            "QFrame#trainBanner QLabel { color: #1f4d1d; }",
    "warning": "QFrame#trainBanner { background: #fff4d6; border: 1px solid #e6c36a; border-radius: 5px; }"
               "QFrame#trainBanner QLabel { color: #5a4300; }",
}
# A light bar, so that the text over it reads as well as the text beside it.
PROGRESS_STYLE = ("QProgressBar { border: 1px solid #b9c2cc; border-radius: 4px; background: #ffffff; color: #1f2a33;"
                  " text-align: center; min-height: 20px; } QProgressBar::chunk { background: #a9cde0; }")
DISABLED_PRIMARY = "QPushButton:disabled { background: #b8c9d3; border-color: #b8c9d3; color: #f2f5f7; }"
IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"


def format_duration(seconds: float) -> str:
    if seconds < 0:
        return "estimating time left…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s left"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min left"


def readable_log_line(message: str) -> str:
    """The trainer logs each epoch's metrics as JSON (kept as such in train.log); on the page, a sentence."""
    if not message.startswith("{"):
        return message
    try:
        m = json.loads(message)
    except ValueError:
        return message
    if not isinstance(m, dict) or "epoch" not in m:
        return message
    parts = [f"epoch {m['epoch']}: training loss {m.get('train_loss', float('nan')):.3f}"]
    if m.get("val_mae") is not None:
        parts.append(f"validation loss {m.get('val_loss', float('nan')):.3f}, MAE {m['val_mae']:.2f}, "
                     f"CA(3) {m.get('val_ca3', 0):.1f}%, CA(5) {m.get('val_ca5', 0):.1f}%, "
                     f"90% coverage {m.get('val_coverage90', 0):.1f}%, NLL {m.get('val_nll', 0):.3f}")
    parts.append(f"{m.get('images_per_s', 0):.0f} images/s")
    return " · ".join(parts)


class TrainPage(QWidget):
    active_model_changed = Signal(str)  # the project's active model's checkpoint
    run_starting = Signal(object)  # the TrainWorker, connected and about to start (tests, benchmarks)
    run_ended = Signal(str)  # finished / cancelled / failed

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings if settings is not None else QSettings()
        self.choices = TrainChoices.load(self._settings)
        self.db = None
        self._labelled: dict[str, int] = {}
        self._filling = False
        self.worker: TrainWorker | None = None
        self.state = IDLE
        self.run_id: int | None = None
        self.run_project: Path | None = None
        self.runs_dialog: RunsDialog | None = None
        self._close_window_when_stopped = False
        self._device_probe: DeviceProbe | None = None
        self._export_worker: FunctionWorker | None = None
        self._planned_epochs = 0
        self._build()
        self._show_choices()
        self.set_project(None)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ---------------------------------------------------------------------------------------------- layout
    def _build(self) -> None:
        self.form = QWidget()
        form_layout = QVBoxLayout(self.form)
        form_layout.setContentsMargins(0, 0, 6, 0)
        form_layout.addWidget(self._data_group())
        form_layout.addWidget(self._network_group())
        form_layout.addWidget(self._training_group())
        form_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(370)
        scroll.setMaximumWidth(430)

        self.start_button = QPushButton("Start training")
        self.start_button.setProperty("primary", True)
        self.start_button.setStyleSheet(DISABLED_PRIMARY)  # a primary button must not look clickable while disabled
        self.start_button.clicked.connect(self.start_training)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; a checkpoint is saved and the run can be resumed")
        self.cancel_button.clicked.connect(self.cancel_training)
        self.runs_button = QPushButton("Runs…")
        self.runs_button.clicked.connect(self.show_runs)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.runs_button)
        self.form_hint = QLabel()
        self.form_hint.setObjectName("hint")
        self.form_hint.setWordWrap(True)
        left = QVBoxLayout()
        left.addWidget(scroll, stretch=1)
        left.addWidget(self.form_hint)
        left.addLayout(buttons)

        self.banner = QFrame()
        self.banner.setObjectName("trainBanner")
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.addWidget(self.banner_label, stretch=1)
        self.banner.setVisible(False)
        self.run_title = QLabel("No run yet")
        self.run_title.setObjectName("sectionTitle")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        self.progress_bar.setStyleSheet(PROGRESS_STYLE)
        self.rate_label = QLabel()
        self.rate_label.setObjectName("hint")
        self.curves = TrainingCurves()
        self.best_label = QLabel()
        self.best_label.setWordWrap(True)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setMaximumHeight(130)
        self.log_view.setPlaceholderText("The run's log appears here (also saved as train.log in the run folder).")
        right = QVBoxLayout()
        right.addWidget(self.banner)
        right.addWidget(self.run_title)
        right.addWidget(self.progress_bar)
        right.addWidget(self.rate_label)
        right.addWidget(self.curves, stretch=1)
        right.addWidget(self.best_label)
        right.addWidget(self.log_view)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.addLayout(left)
        layout.addLayout(right, stretch=1)

    def _data_group(self) -> QGroupBox:
        group = QGroupBox("Data")
        self.project_check = QCheckBox("This project's labelled faces")
        self.project_check.toggled.connect(self._on_choice_changed)
        self.project_counts = QLabel()
        self.project_counts.setObjectName("hint")
        self.project_counts.setWordWrap(True)
        self.extra_list = QListWidget()
        self.extra_list.setMaximumHeight(70)
        self.extra_list.setToolTip("Other labelled folders (FG-NET, UTKFace, a CSV …) or projects to train on too")
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(lambda: self.add_source(kind="folder"))
        add_project = QPushButton("Add project…")
        add_project.clicked.connect(lambda: self.add_source(kind="project"))
        self.remove_source_button = QPushButton("Remove")
        self.remove_source_button.clicked.connect(self.remove_source)
        row = QHBoxLayout()
        for button in (add_folder, add_project, self.remove_source_button):
            row.addWidget(button)
        row.addStretch(1)
        self.val_spin = QSpinBox()
        self.val_spin.setRange(5, 50)
        self.val_spin.setSuffix(" %")
        self.val_spin.setToolTip("Faces held out for validation; one person's photos stay on one side")
        self.val_spin.valueChanged.connect(self._on_choice_changed)
        layout = QVBoxLayout(group)
        layout.addWidget(self.project_check)
        layout.addWidget(self.project_counts)
        layout.addWidget(QLabel("Also train on:"))
        layout.addWidget(self.extra_list)
        layout.addLayout(row)
        val_row = QFormLayout()
        val_row.addRow("Validation:", self.val_spin)
        layout.addLayout(val_row)
        return group

    def _network_group(self) -> QGroupBox:
        group = QGroupBox("Network")
        self.net_combo = self._combo(NETS)
        self.net_combo.currentIndexChanged.connect(self._on_net_changed)
        self.init_combo = QComboBox()
        self.init_combo.activated.connect(self._on_init_activated)
        self.init_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.init_path = QLabel()
        self.init_path.setObjectName("hint")
        self.init_path.setWordWrap(True)
        self.head_combo = self._combo(HEADS)
        self.head_combo.setToolTip("Paper: the posterior's width is fixed by β. Concentration: a learned per-face "
                                   "width (better calibrated intervals)")
        self.loss_combo = self._combo(LOSSES)
        layout = QFormLayout(group)
        layout.addRow("Backbone:", self.net_combo)
        layout.addRow("Initialisation:", self.init_combo)
        layout.addRow("", self.init_path)
        layout.addRow("Head:", self.head_combo)
        layout.addRow("Loss:", self.loss_combo)
        return group

    def _training_group(self) -> QGroupBox:
        group = QGroupBox("Training")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(2, 1024)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 1.0)
        self.lr_spin.setSingleStep(0.0001)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(48, 224)
        self.size_spin.setSingleStep(8)
        self.size_spin.setSuffix(" px high")
        self.size_spin.setToolTip("Input height; the width follows the 112 × 96 face crop")
        self.device_combo = QComboBox()
        self.device_combo.addItem("Automatic", "auto")
        self.device_combo.addItem("CPU", "cpu")
        self.age_label = QLabel()
        self.age_label.setObjectName("hint")
        for widget in (self.epochs_spin, self.batch_spin, self.lr_spin, self.size_spin, self.device_combo,
                       self.head_combo, self.loss_combo):
            signal = getattr(widget, "valueChanged", None) or widget.currentIndexChanged
            signal.connect(self._on_choice_changed)
        layout = QFormLayout(group)
        layout.addRow("Epochs:", self.epochs_spin)
        layout.addRow("Batch size:", self.batch_spin)
        layout.addRow("Learning rate:", self.lr_spin)
        layout.addRow("Input size:", self.size_spin)
        layout.addRow("Device:", self.device_combo)
        layout.addRow("", self.age_label)
        return group

    @staticmethod
    def _combo(options: dict[str, str]) -> QComboBox:
        combo = QComboBox()
        for value, label in options.items():
            combo.addItem(label, value)
        return combo

    # ---------------------------------------------------------------------------------------------- choices
    def _show_choices(self) -> None:
        c = self.choices
        self._filling = True
        try:
            self.project_check.setChecked(c.use_project)
            self.extra_list.clear()
            self.extra_list.addItems(c.extra_sources)
            self.val_spin.setValue(int(round(c.val_split * 100)))
            self._select(self.net_combo, c.net)
            self._fill_inits()
            self._select(self.head_combo, c.head)
            self._select(self.loss_combo, c.loss)
            self.epochs_spin.setValue(c.epochs)
            self.batch_spin.setValue(c.batch)
            self.lr_spin.setValue(c.lr)
            self.size_spin.setValue(c.size)
            self._select(self.device_combo, c.device)
        finally:
            self._filling = False
        self._update_form_state()

    @staticmethod
    def _select(combo: QComboBox, value) -> None:
        index = combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)

    def _fill_inits(self) -> None:
        net = self.net_combo.currentData()
        wanted = self.choices.init
        if wanted not in NET_INITS[net]:
            wanted = default_init(net, self.choices.face_checkpoint)
        self.init_combo.blockSignals(True)
        self.init_combo.clear()
        for value in NET_INITS[net]:
            label = INIT_LABELS[value]
            if value == FACE and find_face_checkpoint(self.choices.face_checkpoint) is None:
                label += " — not found, choose…"
            self.init_combo.addItem(label, value)
        self._select(self.init_combo, wanted)
        self.init_combo.blockSignals(False)
        self.choices.init = self.init_combo.currentData()
        self._update_init_path()

    def _update_init_path(self) -> None:
        init = self.init_combo.currentData()
        path = None
        if init == FACE:
            path = find_face_checkpoint(self.choices.face_checkpoint)
        elif init == FILE and self.choices.init_file:
            path = Path(self.choices.init_file)
        self.init_path.setText(f"{path.name}" if path else "")
        self.init_path.setToolTip(str(path) if path else "")
        self.init_path.setVisible(path is not None)

    def _on_net_changed(self) -> None:
        if self._filling:
            return
        self.choices.net = self.net_combo.currentData()
        self._fill_inits()
        self._on_choice_changed()

    def _on_init_activated(self, _index: int) -> None:
        """Picking "A checkpoint file…", or the face checkpoint when it is missing, asks for the file."""
        init = self.init_combo.currentData()
        needs_file = (init == FILE) or (init == FACE and find_face_checkpoint(self.choices.face_checkpoint) is None)
        if needs_file:
            path, _ = QFileDialog.getOpenFileName(self, "Start from checkpoint", str(Path.home()), CHECKPOINT_FILTER)
            if path:
                if init == FACE:
                    self.choices.face_checkpoint = path
                else:
                    self.choices.init_file = path
                self.choices.init = init
                self._fill_inits()
        self._on_choice_changed()

    def _on_choice_changed(self, *_args) -> None:
        if getattr(self, "_filling", False):
            return
        self.choices = self.read_choices()
        self._update_form_state()

    def read_choices(self) -> TrainChoices:
        c = self.choices
        return TrainChoices(
            use_project=self.project_check.isChecked(),
            extra_sources=[self.extra_list.item(i).text() for i in range(self.extra_list.count())],
            val_split=self.val_spin.value() / 100.0, net=self.net_combo.currentData(),
            init=self.init_combo.currentData() or c.init, init_file=c.init_file, face_checkpoint=c.face_checkpoint,
            loss=self.loss_combo.currentData(), head=self.head_combo.currentData(), epochs=self.epochs_spin.value(),
            batch=self.batch_spin.value(), lr=self.lr_spin.value(), size=self.size_spin.value(),
            device=self.device_combo.currentData() or "auto",
        )

    def add_source(self, path: str = "", kind: str = "folder") -> None:
        if not path:
            if kind == "project":
                path, _ = QFileDialog.getOpenFileName(self, "Also train on a project", str(Path.home()),
                                                      "ageapp projects (*.ageproj)")
            else:
                path = QFileDialog.getExistingDirectory(self, "Also train on a labelled folder", str(Path.home()))
        if not path:
            return
        path = str(Path(path).expanduser().resolve())
        if self.db is not None and Path(path) == Path(self.db.path).resolve():
            self.project_check.setChecked(True)  # the open project: that is the checkbox
            return
        if path not in self.choices.extra_sources:
            self.extra_list.addItem(path)
        self._on_choice_changed()

    def remove_source(self) -> None:
        for item in self.extra_list.selectedItems():
            self.extra_list.takeItem(self.extra_list.row(item))
        self._on_choice_changed()

    def _update_form_state(self) -> None:
        editable = self.state == IDLE
        self.form.setEnabled(editable)
        self.remove_source_button.setEnabled(editable and self.extra_list.count() > 0)
        problem = self._start_problem()
        self.start_button.setEnabled(editable and problem == "")
        self.pause_button.setEnabled(self.state in (RUNNING, PAUSED))
        self.pause_button.setText("Resume" if self.state == PAUSED else "Pause")
        self.cancel_button.setEnabled(self.state in (RUNNING, PAUSED))
        self.runs_button.setEnabled(self.db is not None)
        if self.state != IDLE:
            self.form_hint.setText("Settings are locked while a run is going.")
        else:
            self.form_hint.setText(problem)

    def _start_problem(self) -> str:
        """Why Start is disabled ('' when it is not)."""
        if self.db is None:
            return "Open a project to train: runs and their models are recorded in the project."
        if getattr(self.db, "read_only", False):
            return "This project is open read-only, so a run could not be recorded: reopen it writable to train."
        if not self.choices.sources(self.db.path):
            return "Choose the data: this project's labelled faces, or another project or folder."
        if self.choices.use_project and not self.choices.extra_sources and self._labelled.get("total", 0) == 0:
            return ("This project has no labelled faces yet: import references with known ages or label some "
                    "queries, or add another labelled folder.")
        return ""

    # ---------------------------------------------------------------------------------------------- project
    def set_project(self, db) -> None:
        """Told by the main window when a project opens (db) or closes (None). A run in progress goes on and
        is recorded in the project it was started on."""
        self.db = db
        self._labelled = {}
        if db is not None:
            self._labelled = count_labelled(db)
            c = self._labelled
            self.project_counts.setText(
                f"{c['exact']} references with an age, {c['range']} with an age range, {c['queries']} queries "
                "with a comparison posterior")
            self.age_label.setText(f"Ages 0–{get_setting(db, 'age_max')} (the project's range)")
            self._mark_interrupted_runs(db)
        else:
            self.project_counts.setText("No project open.")
            self.age_label.setText("")
        if self.runs_dialog is not None:
            self.runs_dialog.close()
            self.runs_dialog = None
        self._update_form_state()

    def _mark_interrupted_runs(self, db) -> None:
        """Runs left 'running' by an app that was killed: failed, with what to do."""
        if getattr(db, "read_only", False):
            return
        if self.worker is not None and self.run_project == Path(db.path).resolve():
            return  # this project's own run is going
        training_runs.mark_interrupted_runs(db)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._device_probe is None:  # the first time: list the GPUs (the torch import, off the GUI thread)
            self._device_probe = DeviceProbe(self)
            self._device_probe.found.connect(self._on_devices)
            self._device_probe.start()

    def _on_devices(self, devices: list) -> None:
        self._filling = True
        try:
            self.device_combo.clear()
            for value, label in devices:
                self.device_combo.addItem(label, value)
            self._select(self.device_combo, self.choices.device)
        finally:
            self._filling = False
        if self._device_probe is not None:
            self._device_probe.wait()

    # ---------------------------------------------------------------------------------------------- runs
    def is_running(self) -> bool:
        return self.worker is not None

    def start_training(self) -> bool:
        """Start a run with the form's choices; False (with the reason shown) if it cannot start."""
        if self.worker is not None:
            return False
        self.choices = self.read_choices()
        problem = self._start_problem()
        if problem:
            self._show_banner(problem, "warning")
            return False
        detector = get_setting(self.db, "detector_path") or _preferred_detector()  # for folders under "Also"
        try:
            config = self.choices.to_config(self.db.path, int(get_setting(self.db, "age_max")), detector)
        except ValueError as error:
            self._show_banner(str(error), "warning")
            return False
        self.choices.save(self._settings)
        self._start_worker(TrainWorker(self.db.path, config, parent=self), config["epochs"], history=[])
        self.run_title.setText(f"Starting: {NETS.get(config['net'], config['net'])} on "
                               f"{', '.join(Path(s).name for s in [config['data'], *config['also']])}")
        return True

    def resume_run(self, run_id: int) -> bool:
        if self.worker is not None:
            show_information(self, "Resume run", "A run is in progress.", "Wait for it to end, or cancel it first.")
            return False
        if self.db is None:
            return False
        run = training_runs.get_run(self.db, run_id)
        self._start_worker(TrainWorker(self.db.path, resume_run_id=run_id, parent=self),
                           int(run["config"].get("epochs", 1)), history=run["epochs"] or [])
        self.run_title.setText(f"Resuming run {run_id}")
        return True

    def _start_worker(self, worker: TrainWorker, epochs: int, history: list[dict]) -> None:
        self.worker = worker
        self.run_project = Path(self.db.path).resolve()
        self.run_id = None
        self._planned_epochs = epochs
        self.curves.clear_curves()
        self.curves.set_planned_epochs(epochs)
        self.curves.set_epochs(history)
        self._show_best()
        self.log_view.clear()
        self.banner.setVisible(False)
        self.progress_bar.setRange(0, 0)  # busy until the first batch: the data is being prepared
        self.progress_bar.setFormat("Preparing the data…")
        self.rate_label.setText("")
        self.run_starting.emit(worker)  # (its listeners hear each signal before the page does)
        worker.run_started.connect(self._on_run_started)
        worker.progress.connect(self._on_progress)
        worker.batch_stats.connect(self._on_batch_stats)
        worker.epoch_finished.connect(self._on_epoch_finished)
        worker.log.connect(self._on_log)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._set_state(RUNNING)
        worker.start()

    def toggle_pause(self) -> None:
        if self.worker is None or self.state not in (RUNNING, PAUSED):
            return
        pausing = self.state == RUNNING
        self.worker.set_paused(pausing)
        self._set_state(PAUSED if pausing else RUNNING)
        if pausing:
            self.progress_bar.setFormat(self.progress_bar.format().split(" · ")[0] + " · paused")
            self._on_log("paused (after the current batch); press Resume to go on")
        else:
            self._on_log("resumed")

    def cancel_training(self) -> None:
        if self.worker is None or self.state == STOPPING:
            return
        self.worker.cancel()
        self._set_state(STOPPING)
        self.progress_bar.setFormat("Stopping after the current batch, saving a checkpoint…")

    def _set_state(self, state: str) -> None:
        self.state = state
        self._update_form_state()

    # -- worker signals
    def _on_run_started(self, run_id: int, out: str) -> None:
        self.run_id = run_id
        config = self.worker.config if self.worker is not None else {}
        epochs = config.get("epochs", 0)
        self.run_title.setText(f"Run {run_id} · {config.get('net', '')} · {epochs} epoch{'' if epochs == 1 else 's'}")
        self.run_title.setToolTip(out)
        if self.runs_dialog is not None:
            self.runs_dialog.refresh()

    def _on_progress(self, epoch: int, batch: int, n_batches: int, eta_s: float) -> None:
        total = max(1, self._planned_epochs * n_batches)
        if self.progress_bar.maximum() != total:
            self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(total, (epoch - 1) * n_batches + batch))
        text = f"Epoch {epoch}/{self._planned_epochs} · batch {batch}/{n_batches} · {format_duration(eta_s)}"
        if self.state == PAUSED:
            text = text.split(" · ")[0] + " · paused"
        elif self.state == STOPPING:
            text = "Stopping after the current batch, saving a checkpoint…"
        self.progress_bar.setFormat(text)

    def _on_batch_stats(self, stats: dict) -> None:
        self.curves.add_batch(stats["x"], stats["loss"])
        self.rate_label.setText(f"{stats.get('images_per_s', 0):.0f} images/s · loss {stats['loss']:.3f} · "
                                f"learning rate {stats.get('lr', 0):.2g}")

    def _on_epoch_finished(self, metrics: dict) -> None:
        self.curves.add_epoch(metrics)
        self._show_best()

    def _show_best(self) -> None:
        best = self.curves.best_epoch
        if best is None:
            self.best_label.setText("")
            return
        parts = [f"<b>Best so far: epoch {best['epoch']}</b>",
                 f"validation MAE {best.get('val_mae', float('nan')):.2f}"]
        for key, name in (("val_ca3", "CA(3)"), ("val_ca5", "CA(5)"), ("val_coverage90", "90% coverage")):
            if best.get(key) is not None:
                parts.append(f"{name} {best[key]:.1f}%")
        if best.get("val_nll") is not None:
            parts.append(f"NLL {best['val_nll']:.3f}")
        self.best_label.setText(" · ".join(parts))

    def _on_log(self, message: str) -> None:
        self.log_view.appendPlainText(readable_log_line(message))

    def _on_finished(self, summary: dict) -> None:
        status = summary.get("status", "finished")
        self._end_run(status)
        self.progress_bar.setFormat(f"Run {summary.get('run_id')} {status}")
        if status == "finished":
            self.progress_bar.setValue(self.progress_bar.maximum())
            best = summary.get("best_val_mae")
            self._show_banner(
                f"Run {summary.get('run_id')} finished: {summary.get('epochs_done')} epochs, best validation MAE "
                f"{best:.2f} (epoch {summary.get('best_epoch')}). Compare runs and make one the project's active "
                "model in Train ▸ Runs…" if best is not None else
                f"Run {summary.get('run_id')} finished. Make it the active model in Train ▸ Runs…", "info")
        else:
            self._show_banner(f"Run {summary.get('run_id')} was cancelled; its checkpoint is saved. "
                              "Resume it from Train ▸ Runs…", "warning")

    def _on_failed(self, reason: str, checkpoint: str) -> None:
        run_id = self.run_id
        out = (self.worker.config.get("out") if self.worker is not None else "") or ""
        self._end_run("failed")
        self.progress_bar.setFormat("Failed")
        lines = [f"<b>{'The run' if run_id is None else f'Run {run_id}'} stopped:</b> {html.escape(reason)}"]
        if checkpoint:
            lines.append(f"Checkpoint kept: {html.escape(checkpoint)}")
        if out:
            lines.append(f"Log: {html.escape(str(Path(out) / 'train.log'))}")
        self._show_banner("<br>".join(lines), "error", rich=True)
        if run_id is None:
            self._on_log("failed: " + reason)

    def _end_run(self, status: str) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()  # run() has returned (the signal is its last act): this is immediate
            worker.deleteLater()
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)  # (a new range resets the value to "none", which hides the text)
        self._set_state(IDLE)
        if self.db is not None:
            self._labelled = count_labelled(self.db)
        if self.runs_dialog is not None:
            self.runs_dialog.refresh()
        self.run_ended.emit(status)
        if self._close_window_when_stopped:
            self._close_window_when_stopped = False
            self.window().close()

    def _show_banner(self, text: str, kind: str, rich: bool = False) -> None:
        self.banner.setStyleSheet(BANNER_STYLES[kind])
        self.banner_label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.banner_label.setText(text)
        self.banner.setVisible(True)

    def banner_text(self) -> str:
        return self.banner_label.text() if not self.banner.isHidden() else ""

    # ---------------------------------------------------------------------------------------------- runs list, export
    def show_runs(self) -> RunsDialog | None:
        if self.db is None:
            show_information(self, "Training runs", "No project is open.",
                             "Runs are recorded in a project: open one with File ▸ Open project….")
            return None
        if self.runs_dialog is None:
            self.runs_dialog = RunsDialog(self.db, self)
            self.runs_dialog.resume_requested.connect(self.resume_run)
            self.runs_dialog.export_requested.connect(self.export_model)
            self.runs_dialog.active_model_changed.connect(self.active_model_changed)
        self.runs_dialog.refresh()
        self.runs_dialog.show()
        self.runs_dialog.raise_()
        return self.runs_dialog

    def _export_candidate(self) -> dict | None:
        """The active model's run, else the latest run with a model."""
        runs = training_runs.list_runs(self.db)
        with_model = [run for run in runs if run_checkpoints(run)[0] is not None]
        active = [run for run in with_model if run.get("active")]
        return (active or with_model[-1:] or [None])[0]

    def export_model(self, run_id: int | None = None, path: str = "") -> bool:
        """Copy a run's model (best.pt), or export it to ONNX (checked against torch), in the background."""
        if self.db is None:
            show_information(self, "Export model", "No project is open.", "Open the project whose model to export.")
            return False
        run = training_runs.get_run(self.db, run_id) if run_id is not None else self._export_candidate()
        best = run_checkpoints(run)[0] if run else None
        if best is None:
            show_information(self, "Export model", "There is no trained model to export yet.",
                             "Train one with Train ▸ Train a model…; a run has a model once its first epoch ends.")
            return False
        if not path:
            suggestion = str(Path.home() / f"age-model-run{run['id']}.pt")
            path, chosen = QFileDialog.getSaveFileName(self, f"Export the model of run {run['id']}", suggestion,
                                                       EXPORT_FILTER)
            if not path:
                return False
            if "onnx" in chosen.lower() and not path.lower().endswith(".onnx"):
                path += ".onnx"
        target = Path(path)
        if target.suffix.lower() != ".onnx":
            try:
                shutil.copyfile(best, target)
            except OSError as error:
                show_warning(self, "Export model", f"The model could not be copied to {target}: "
                             f"{error.strerror or error}.", "Choose a folder you can write to, with free space.")
                return False
            self._show_banner(f"Exported run {run['id']}'s model to {target}", "info")
            return True

        def export() -> dict:
            from trainer.export import export_onnx

            return export_onnx(best, target)

        self._export_worker = FunctionWorker(export, self)
        self._export_worker.done.connect(lambda result: self._on_exported(result, run["id"]))
        self._export_worker.failed.connect(lambda reason: self._on_exported(None, run["id"], reason))
        self._show_banner(f"Exporting run {run['id']}'s model to {target}…", "info")
        self._export_worker.start()
        return True

    def _on_exported(self, result: dict | None, run_id: int, reason: str = "") -> None:
        worker, self._export_worker = self._export_worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        if result is None:
            self._show_banner(f"The ONNX export of run {run_id} failed: {reason}. Export the checkpoint (.pt) "
                              "instead, or check that onnx and onnxruntime are installed.", "error")
        else:
            diff = result.get("max_abs_diff")
            check = f" (matches torch to {diff:.1e})" if diff is not None else ""
            self._show_banner(f"Exported run {run_id}'s model to {result['onnx']}{check}", "info")

    # ---------------------------------------------------------------------------------------------- closing
    def can_close(self) -> bool:
        """The main window asks before it closes: during a run, ask; on yes, cancel and close once stopped."""
        if self.worker is None:
            return True
        if self.state != STOPPING:
            answer = QMessageBox.question(
                self, "Training in progress",
                "A training run is in progress. Stop it and quit?\n\nIt stops after the current batch and saves a "
                "checkpoint; you can resume it later from Train ▸ Runs….",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
            self.cancel_training()
        self._close_window_when_stopped = True
        return False

    def shutdown(self) -> None:
        """Before the app goes: no worker thread may outlive it (cancel, then wait for the checkpoint)."""
        for worker in (self.worker, self._export_worker, self._device_probe):
            if worker is not None and worker.isRunning():
                if isinstance(worker, TrainWorker):
                    worker.cancel()
                worker.wait()


def _preferred_detector() -> str | None:
    """The YuNet file chosen in the preferences, if any (else the face pipeline's own fallback applies)."""
    from ageapp.ui.shell.preferences import default_store

    preferences = default_store().load()
    return preferences.detector_path or None if preferences.detector_kind == "yunet" else None


def install_train_page(window, settings: QSettings | None = None) -> TrainPage:
    """Add the Train page and the Train menu to a MainWindow (ageapp.ui.shell.main_window)."""
    page = TrainPage(settings)
    window.add_page(PAGE_NAME, page, "Train")
    menu = QMenu("&Train", window)
    menu.addAction("&Train a model…").triggered.connect(lambda: _open_train_page(window, page))
    menu.addAction("&Runs…").triggered.connect(lambda: page.show_runs())
    menu.addAction("&Export model…").triggered.connect(lambda: page.export_model())
    window.menuBar().insertMenu(window.view_menu.menuAction(), menu)
    page.menu = menu
    estimate = window.page("estimate")
    if estimate is not None and hasattr(estimate, "set_project"):
        # the estimate page reads the active model when told about the project
        page.active_model_changed.connect(lambda _path: estimate.set_project(window.session.db))
    return page


def _open_train_page(window, page: TrainPage) -> None:
    if window.session.db is None:
        show_information(window, "Train a model", "No project is open.",
                         "Open or create a project first (File ▸ Open project…): training uses its labelled faces "
                         "and records each run in it.")
        return
    window.show_page(PAGE_NAME)
