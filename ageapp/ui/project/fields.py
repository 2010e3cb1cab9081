"""The form fields the project dialogs share: a path with its Choose… button (the dialog starts in the last folder
used for that kind of file, else the project's folder), and a source of images (folder, format, aligned)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ageapp.annotation.project_import import ImportSource
from ageapp.datasets.records import FORMATS

FORMAT_NAMES = {
    "auto": "Detect from the folder", "fgnet": "FG-NET (age and subject in the names)",
    "utkface": "UTKFace (age_gender_race_date names)", "csv": "CSV of ages (path,age or path,age_min,age_max)",
    "adience": "Adience folds", "megaage": "MegaAge lists", "folder": "Plain photos (no ages)",
}
PROJECT_FILTER = "ageapp projects (*.ageproj);;All files (*)"


def start_folder(settings, kind: str, project: Path | None = None) -> str:
    """Where a file dialog opens: the last folder used for this kind, else the project's folder, else home."""
    last = settings.last_folder(kind) if settings is not None else None
    if last is not None:
        return str(last)
    if project is not None and Path(project).parent.is_dir():
        return str(Path(project).parent)
    return str(Path.home())


class PathField(QWidget):
    """A path typed or chosen. mode: "folder", "open" (an existing file), "save" (a file to create)."""

    changed = Signal()

    def __init__(self, settings, kind: str, mode: str, title: str, file_filter: str = "", project: Path | None = None,
                 placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.settings, self.kind, self.mode, self.title, self.filter = settings, kind, mode, title, file_filter
        self.project = project
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.textChanged.connect(self.changed)
        self.button = QPushButton("Choose…")
        self.button.clicked.connect(self.choose)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, stretch=1)
        layout.addWidget(self.button)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def set_path(self, path: str | Path | None) -> None:
        self.edit.setText("" if path is None else str(path))

    def choose(self) -> None:
        current = self.path()
        where = str(current) if current is not None and current.parent.is_dir() else start_folder(
            self.settings, self.kind, self.project)
        if self.mode == "folder":
            chosen = QFileDialog.getExistingDirectory(self, self.title, where)
        elif self.mode == "save":
            chosen, _ = QFileDialog.getSaveFileName(self, self.title, where, self.filter,
                                                    options=QFileDialog.Option.DontConfirmOverwrite)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.title, where, self.filter)
        if chosen:
            self.set_path(chosen)
            self.remember()

    def remember(self) -> None:
        """The folder goes into the settings as this kind's last one (also for a typed path, once used)."""
        path = self.path()
        if path is not None and self.settings is not None and (path.is_dir() or path.parent.is_dir()):
            self.settings.set_last_folder(self.kind, path)


class SourceFields(QWidget):
    """A folder of images (or a CSV of ages), its format, and whether the images are already face crops."""

    changed = Signal()

    def __init__(self, settings, role: str, project: Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.role = role
        self.folder = PathField(settings, "images", "folder", f"{role.title()} images", project=project,
                                placeholder="a folder of face images (leave empty to import later)")
        self.format = QComboBox()
        for name in FORMATS:
            self.format.addItem(FORMAT_NAMES.get(name, name), name)
        self.aligned = QCheckBox("The images are already aligned face crops (UTKFace chips): one face each")
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Folder", self.folder)
        layout.addRow("Format", self.format)
        layout.addRow("", self.aligned)
        self.folder.changed.connect(self.changed)

    def source(self) -> ImportSource | None:
        path = self.folder.path()
        if path is None:
            return None
        return ImportSource(path, self.role, self.format.currentData(), self.aligned.isChecked())

    def problem(self) -> str:
        """Why the source cannot be imported as given ('' when it can, or when it is left empty)."""
        path = self.folder.path()
        if path is None:
            return ""
        if not path.exists():
            return f"{path} does not exist: choose the folder of {self.role} images"
        if path.is_file() and path.suffix.lower() != ".csv":
            return f"{path} is a file: choose a folder of images, or a .csv file of ages"
        return ""

    def set_source(self, path: Path, fmt: str = "auto", aligned: bool = False) -> None:
        self.folder.set_path(path)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self.aligned.setChecked(aligned)
