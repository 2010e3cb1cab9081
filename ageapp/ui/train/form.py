"""The Train page's form: the data to train on, the network, and the training settings.

It shows a `TrainChoices` (choices.py) and reads the widgets back into one (`choices`, kept current; `changed`
says so). It knows nothing of runs: the page locks it while one goes (`set_editable`) and decides whether Start
is possible.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
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
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ageapp.ui.train.choices import (
    FACE,
    FILE,
    HEADS,
    INIT_LABELS,
    LOSSES,
    NET_INITS,
    NETS,
    TrainChoices,
    checkpoint_architecture,
    default_init,
    find_face_checkpoint,
    follow_checkpoint,
)

CHECKPOINT_FILTER = "PyTorch checkpoints (*.pt *.pth *.ckpt);;All files (*)"


class TrainForm(QScrollArea):
    changed = Signal()  # the user changed a choice (`choices` holds the new ones)

    def __init__(self, choices: TrainChoices, parent: QWidget | None = None):
        super().__init__(parent)
        self.choices = choices
        self.project_file: str | None = None  # the open project (adding it as a source ticks the checkbox)
        self._filling = False
        self.fields = QWidget()
        layout = QVBoxLayout(self.fields)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(self._data_group())
        layout.addWidget(self._network_group())
        layout.addWidget(self._training_group())
        layout.addStretch(1)
        self.setWidget(self.fields)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(370)
        self.setMaximumWidth(430)
        self.show_choices()

    # ---------------------------------------------------------------------------------------------- layout
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
        self.net_combo = _combo(NETS)
        self.net_combo.currentIndexChanged.connect(self._on_net_changed)
        self.init_combo = QComboBox()
        self.init_combo.activated.connect(self._on_init_activated)
        self.init_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.init_path = QLabel()
        self.init_path.setObjectName("hint")
        self.init_path.setWordWrap(True)
        self.head_combo = _combo(HEADS)
        self.head_combo.setToolTip("Paper: the posterior's width is fixed by β. Concentration: a learned per-face "
                                   "width (better calibrated intervals)")
        self.loss_combo = _combo(LOSSES)
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

    # ---------------------------------------------------------------------------------------------- choices
    def show_choices(self) -> None:
        c = self.choices
        self._filling = True
        try:
            self.project_check.setChecked(c.use_project)
            self.extra_list.clear()
            self.extra_list.addItems(c.extra_sources)
            self.val_spin.setValue(int(round(c.val_split * 100)))
            _select(self.net_combo, c.net)
            self._fill_inits()
            _select(self.head_combo, c.head)
            _select(self.loss_combo, c.loss)
            self.epochs_spin.setValue(c.epochs)
            self.batch_spin.setValue(c.batch)
            self.lr_spin.setValue(c.lr)
            self.size_spin.setValue(c.size)
            _select(self.device_combo, c.device)
        finally:
            self._filling = False

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
        _select(self.init_combo, wanted)
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
                architecture = checkpoint_architecture(path) if init == FILE else None
                sizes = (self.size_spin.minimum(), self.size_spin.maximum())
                if architecture and follow_checkpoint(self.choices, architecture, sizes):
                    self.show_choices()
                else:
                    self._fill_inits()
        self._on_choice_changed()

    def _on_choice_changed(self, *_args) -> None:
        if getattr(self, "_filling", False):
            return
        self.choices = self.read_choices()
        self.changed.emit()

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

    def current_choices(self) -> TrainChoices:
        """The choices as the widgets show them now (kept as `choices`)."""
        self.choices = self.read_choices()
        return self.choices

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
        if self.project_file is not None and Path(path) == Path(self.project_file).resolve():
            self.project_check.setChecked(True)  # the open project: that is the checkbox
            return
        if path not in self.choices.extra_sources:
            self.extra_list.addItem(path)
        self._on_choice_changed()

    def remove_source(self) -> None:
        for item in self.extra_list.selectedItems():
            self.extra_list.takeItem(self.extra_list.row(item))
        self._on_choice_changed()

    # ---------------------------------------------------------------------------------------------- the page's calls
    def set_editable(self, editable: bool) -> None:
        """Locked (but still scrollable) while a run goes."""
        self.fields.setEnabled(editable)
        self.remove_source_button.setEnabled(editable and self.extra_list.count() > 0)

    def show_project(self, project_file: str | None, labelled: dict | None = None, age_max=None) -> None:
        """The open project (None: none): what it has to train on, and its age range."""
        self.project_file = project_file
        if project_file is None:
            self.project_counts.setText("No project open.")
            self.age_label.setText("")
            return
        c = labelled
        self.project_counts.setText(
            f"{c['exact']} references with an age, {c['range']} with an age range, {c['queries']} queries "
            "with a comparison posterior")
        self.age_label.setText(f"Ages 0–{age_max} (the project's range)")

    def set_devices(self, devices: list) -> None:
        """The devices found (value, label), the chosen one selected again."""
        self._filling = True
        try:
            self.device_combo.clear()
            for value, label in devices:
                self.device_combo.addItem(label, value)
            _select(self.device_combo, self.choices.device)
        finally:
            self._filling = False


def _combo(options: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    for value, label in options.items():
        combo.addItem(label, value)
    return combo


def _select(combo: QComboBox, value) -> None:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)
