"""Where the preferences file lives, the app's one `PreferencesStore`, and File ▸ Preferences….

The file is `<AppConfigLocation>/preferences.json` (QStandardPaths; e.g. ~/.config/ageapp on Linux,
~/Library/Preferences/ageapp on macOS, %LOCALAPPDATA%/ageapp on Windows). `AGEAPP_CONFIG_DIR` moves it (tests,
the self-test, a portable install). The domain (ageapp/preferences.py) only ever gets the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ageapp.preferences import (
    LOG_LEVELS,
    MAX_BACKUP_MINUTES,
    MAX_CAMERA_INDEX,
    MAX_RECENT_PROJECTS,
    MAX_TORCH_THREADS,
    PREFERENCES_FILE_NAME,
    Preferences,
    PreferencesError,
    PreferencesStore,
)

CONFIG_DIR_ENV = "AGEAPP_CONFIG_DIR"
_stores: dict[Path, PreferencesStore] = {}


def config_directory() -> Path:
    """$AGEAPP_CONFIG_DIR, else the user's config folder for ageapp (QStandardPaths.AppConfigLocation)."""
    override = os.environ.get(CONFIG_DIR_ENV, "")
    if override:
        return Path(override).expanduser()
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
    return Path(location) if location else Path.home() / ".ageapp"


def preferences_path() -> Path:
    return config_directory() / PREFERENCES_FILE_NAME


def default_store() -> PreferencesStore:
    """The store for the current preferences file: one per path, so a load message is shown once."""
    path = preferences_path()
    if path not in _stores:
        _stores[path] = PreferencesStore(path)
    return _stores[path]


def detector_file(db) -> str | None:
    """The YuNet file ageapp.model.resolve.choose_detector picks for the project `db` (or none) with this computer's
    preferences: the project's stored file, else the preferred one, else $AGEAPP_DETECTOR; None for the Haar
    cascade. An import into the project and training on extra folders start from it."""
    from ageapp.model import choose_detector

    choice = choose_detector(None, db, default_store().load().preferred_detector())
    return None if choice.path is None else str(choice.path)


class PreferencesDialog(QDialog):
    """Edits a copy of the preferences; OK saves them (a failure to save is shown and keeps the dialog)."""

    saved = Signal(object)  # the Preferences just written

    def __init__(self, store: PreferencesStore | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.store = store or default_store()
        self.original = self.store.load()
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.hide()

        self.detector_path = QLineEdit(self.original.detector_path)
        self.detector_path.setPlaceholderText("none: OpenCV's Haar cascade (finds fewer faces)")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_detector)
        detector_row = QHBoxLayout()
        detector_row.addWidget(self.detector_path, stretch=1)
        detector_row.addWidget(browse)
        self.in_use = QLabel(self._in_use_text(getattr(getattr(parent, "session", None), "db", None)))
        self.in_use.setObjectName("hint")
        self.in_use.setWordWrap(True)
        self.camera_index = self._spin(0, MAX_CAMERA_INDEX, self.original.camera_index)
        self.torch_threads = self._spin(0, MAX_TORCH_THREADS, self.original.torch_threads)
        self.torch_threads.setSpecialValueText("automatic (half the cores)")
        estimation = QFormLayout()
        estimation.addRow("YuNet face detector (.onnx):", detector_row)
        estimation.addRow("In use:", self.in_use)
        estimation.addRow("Camera:", self.camera_index)
        estimation.addRow("Network threads:", self.torch_threads)

        self.annotator = QLineEdit(self.original.annotator)
        self.annotator.setPlaceholderText("ask when a project opens")
        self.hide_posterior = QCheckBox("Hide the posterior while comparing")
        self.hide_posterior.setChecked(self.original.hide_posterior)
        self.backup_minutes = self._spin(1, MAX_BACKUP_MINUTES, self.original.backup_minutes)
        self.backup_minutes.setSuffix(" min")
        labelling = QFormLayout()
        labelling.addRow("Annotator on this computer:", self.annotator)
        labelling.addRow("New projects:", self.hide_posterior)
        labelling.addRow("New projects' backup interval:", self.backup_minutes)

        self.recent_count = self._spin(1, MAX_RECENT_PROJECTS, self.original.recent_projects_count)
        self.log_level = QComboBox()
        self.log_level.addItems(LOG_LEVELS)
        self.log_level.setCurrentText(self.original.log_level)
        general = QFormLayout()
        general.addRow("Recent projects kept:", self.recent_count)
        general.addRow("Log level (from the next start):", self.log_level)

        where = QLabel(f"Saved in {self.store.path}")
        where.setObjectName("hint")
        where.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                        | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.show_values(Preferences()))

        layout = QVBoxLayout(self)
        for title, form in (("Estimation", estimation), ("Labelling", labelling), ("General", general)):
            box = QGroupBox(title)
            box.setLayout(form)
            layout.addWidget(box)
        layout.addWidget(where)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

    def _in_use_text(self, db) -> str:
        """What estimation uses now, as ageapp.model's resolver decides: the open project's model and detector
        outrank these preferences."""
        from ageapp.model import choose_detector, choose_model

        preferred = self.original.preferred_detector()
        try:
            detector, model = choose_detector(None, db, preferred), choose_model(None, db)
        except Exception:  # noqa: BLE001 - a closed or damaged project: say what holds without it
            detector, model = choose_detector(None, None, preferred), choose_model(None, None)
        text = f"detector: {detector.label()}; model: {model.label()}."
        if db is not None and (detector.source == "project" or model.source == "project"):
            text += " The open project's choices outrank the preferences while it is open."
        if detector.passed_over:
            text += f" ({detector.passed_over[0].upper()}{detector.passed_over[1:]}.)"
        return text

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    def _choose_detector(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "YuNet face detector", self.detector_path.text(),
                                              "ONNX models (*.onnx);;All files (*)")
        if path:
            self.detector_path.setText(path)

    def show_values(self, preferences: Preferences) -> None:
        """Fill the form (Restore defaults keeps the recent projects: they are not a preference to reset)."""
        self.detector_path.setText(preferences.detector_path)
        self.camera_index.setValue(preferences.camera_index)
        self.torch_threads.setValue(preferences.torch_threads)
        self.annotator.setText(preferences.annotator)
        self.hide_posterior.setChecked(preferences.hide_posterior)
        self.backup_minutes.setValue(preferences.backup_minutes)
        self.recent_count.setValue(preferences.recent_projects_count)
        self.log_level.setCurrentText(preferences.log_level)

    def values(self) -> Preferences:
        """The form's values over the preferences as they are on disk now (recent projects may have changed)."""
        current = self.store.load()
        detector = self.detector_path.text().strip()
        kind = current.detector_kind
        if detector and detector != current.detector_path:
            kind = "yunet"  # a newly chosen file is meant to be used
        return Preferences(
            detector_path=detector, detector_kind=kind, camera_index=self.camera_index.value(),
            torch_threads=self.torch_threads.value(), annotator=self.annotator.text().strip(),
            hide_posterior=self.hide_posterior.isChecked(), backup_minutes=self.backup_minutes.value(),
            recent_projects_count=self.recent_count.value(), recent_projects=current.recent_projects,
            log_level=self.log_level.currentText(), training=current.training,
        )

    def validation_problem(self, preferences: Preferences) -> str:
        if preferences.detector_path and not Path(preferences.detector_path).expanduser().is_file():
            return (f"The face detector file {preferences.detector_path} does not exist. Choose the YuNet .onnx "
                    "file again, or clear the field to use OpenCV's Haar cascade.")
        return ""

    def accept(self) -> None:
        preferences = self.values()
        problem = self.validation_problem(preferences)
        if not problem:
            try:
                self.store.save(preferences)
            except PreferencesError as error:
                problem = str(error)
        if problem:
            self.problem.setText(problem)
            self.problem.show()
            return
        self.saved.emit(preferences)
        super().accept()
