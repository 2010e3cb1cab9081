"""File ▸ New project…: a wizard. The file and its age range, the reference faces (folder, format, aligned or not),
the query faces, the face detector; then it creates the project and imports both folders in a worker thread
(ageapp.annotation.project_import) under one progress bar over every step (finding faces, predicting genders),
with the time left and Cancel; and shows the summary. A cancelled import keeps what it committed and can be run
again from the same page: it adds nothing twice. Closing the wizard once the project exists opens it.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from ageapp.annotation.project_import import ProjectImportReport, import_sources
from ageapp.core.posterior import AGE_MAX_DEFAULT
from ageapp.datasets.records import ScanError
from ageapp.faces.detection import DETECTOR_ENV
from ageapp.model.resolve import default_model_path
from ageapp.store.db import PROJECT_SUFFIX, ProjectError, open_project
from ageapp.store.settings import AGE_MAX_HIGHEST, AGE_MAX_LOWEST, set_setting
from ageapp.ui.project.fields import PROJECT_FILTER, PathField, SourceFields
from ageapp.ui.project.task import ProjectTask, TaskProgress, WorkerOwner

WARNING_STYLE = "QLabel { background: #fff4d6; border: 1px solid #e6c36a; border-radius: 4px; padding: 6px; }"
ERROR_STYLE = "QLabel { color: #a1271b; }"


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class ProjectPage(QWizardPage):
    def __init__(self, settings):
        super().__init__()
        self.setTitle("The project file")
        self.setSubTitle("One file holds the faces, every answer and their posteriors.")
        self.file = PathField(settings, "projects", "save", "New project", PROJECT_FILTER,
                              placeholder=f"where to save it, e.g. study{PROJECT_SUFFIX}")
        self.file.changed.connect(self.completeChanged)
        self.age_max = QSpinBox()
        self.age_max.setRange(AGE_MAX_LOWEST, AGE_MAX_HIGHEST)
        self.age_max.setValue(AGE_MAX_DEFAULT)
        self.age_max.setPrefix("0 to ")
        self.age_max.setSuffix(" years")
        self.problem = QLabel("")
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("File", self.file)
        form.addRow("Ages", self.age_max)
        form.addRow("", _hint("The ages a posterior covers. 0-100 covers the default model and UTKFace; FG-NET's "
                              "references stop at 69, so a wider range needs older references too."))
        form.addRow("", self.problem)

    def path(self) -> Path | None:
        path = self.file.path()
        if path is not None and path.suffix.lower() != PROJECT_SUFFIX:
            path = path.with_name(path.name + PROJECT_SUFFIX)
        return path

    def isComplete(self) -> bool:  # noqa: N802 (Qt's name)
        return self.file.path() is not None

    def validatePage(self) -> bool:  # noqa: N802
        path = self.path()
        problem = ""
        if path.exists():
            problem = f"{path} already exists: open it with File ▸ Open project…, or choose another name."
        elif not path.parent.is_dir():
            problem = f"The folder {path.parent} does not exist: choose an existing folder."
        elif not os.access(path.parent, os.W_OK):
            problem = f"The folder {path.parent} is read-only: choose a folder you can write to."
        self.problem.setText(problem)
        if not problem:
            self.file.remember()
        return not problem


class SourcePage(QWizardPage):
    def __init__(self, settings, role: str, title: str, subtitle: str):
        super().__init__()
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.fields = SourceFields(settings, role)
        self.problem = QLabel("")
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.fields)
        layout.addWidget(self.problem)
        layout.addStretch(1)

    def validatePage(self) -> bool:  # noqa: N802
        problem = self.fields.problem()
        self.problem.setText(problem)
        if not problem:
            self.fields.folder.remember()
        return not problem


class DetectorPage(QWizardPage):
    """The last choice; Next creates the project (the commit point: no way back past it)."""

    def __init__(self, settings, create):
        super().__init__()
        self.settings, self._create = settings, create
        self.setTitle("Finding faces")
        self.setSubTitle("Photos are searched for faces; each face is aligned by its eyes, nose and mouth and "
                         "stored as a small crop.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Create and import")
        self.detector = PathField(settings, "detector", "open", "Face detector", "ONNX models (*.onnx);;All files (*)",
                                  placeholder="face_detection_yunet.onnx (leave empty for OpenCV's Haar cascade)")
        known = os.environ.get(DETECTOR_ENV) or (settings.last_file("detector") if settings is not None else None)
        self.detector.set_path(known)
        self.notice = _hint("")
        self.detector.changed.connect(self._show_notice)
        self.genders = QCheckBox("Predict the gender of faces without a gender label (references are then chosen "
                                 "of the same gender)")
        self.genders.setChecked(True)
        self.problem = QLabel("")
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("YuNet model", self.detector)
        form.addRow("", self.notice)
        form.addRow("", self.genders)
        form.addRow("", _hint(f"Genders come from the project's active model, else the shipped one "
                              f"({default_model_path().name})."))
        form.addRow("", self.problem)
        self._show_notice()

    def _show_notice(self) -> None:
        path = self.detector.path()
        if path is None:
            text = "No YuNet model: OpenCV's Haar cascade is used; it misses more faces and finds no landmarks."
        elif path.is_file():
            text = f"YuNet finds the faces and their landmarks ({path.name})."
        else:
            text = f"{path} does not exist: choose the YuNet .onnx file, or leave the field empty."
        self.notice.setText(text)

    def validatePage(self) -> bool:  # noqa: N802
        path = self.detector.path()
        if path is not None and not path.is_file():
            self.problem.setText(f"{path} does not exist: choose the YuNet .onnx file, or leave the field empty to "
                                 "use the Haar cascade.")
            return False
        if path is not None and self.settings is not None:
            self.settings.set_last_file("detector", path)
        problem = self._create()
        self.problem.setText(problem)
        return not problem


class ImportPage(WorkerOwner, QWizardPage):
    def __init__(self, wizard: "NewProjectWizard"):
        super().__init__()
        self.wizard_ = wizard
        self.setTitle("Importing")
        self.setSubTitle("Faces are found and stored; each image is committed on its own, so Cancel keeps what "
                         "was imported.")
        self.progress = TaskProgress()
        self.progress.cancel_requested.connect(self.cancel)
        self.again = QPushButton("Import the rest")
        self.again.setToolTip("Run the same import again: images already in the project are skipped")
        self.again.clicked.connect(self.start)
        self.again.hide()
        self.warning = QLabel("")
        self.warning.setStyleSheet(WARNING_STYLE)
        self.warning.setWordWrap(True)
        self.warning.hide()
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setPlaceholderText("The summary appears here when the import ends.")
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addWidget(self.again)
        layout.addWidget(self.warning)
        layout.addWidget(self.summary, stretch=1)
        self.worker: ProjectTask | None = None
        self.report: ProjectImportReport | None = None
        self.failure = ""

    def initializePage(self) -> None:  # noqa: N802
        self.start()

    def isComplete(self) -> bool:  # noqa: N802
        return self.worker is None

    def start(self) -> None:
        wizard = self.wizard_
        sources = [source for source in (wizard.references.fields.source(), wizard.queries.fields.source()) if source]
        detector = wizard.detector.detector.path()
        genders = wizard.detector.genders.isChecked()
        load_model = wizard.load_model

        def job(db, progress, should_stop):
            return import_sources(db, sources, detector_path=detector, genders=genders, load_model=load_model,
                                  on_progress=progress, should_stop=should_stop)

        self.again.hide()
        self.warning.hide()
        self.summary.clear()
        self.report, self.failure = None, ""
        self.worker = ProjectTask(wizard.created, job, known_errors=(ScanError,))
        self.worker.progress.connect(self.progress.show_progress)
        self.worker.succeeded.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.finished.connect(self._on_finished)
        self.progress.started("Reading the folders…")
        self.completeChanged.emit()
        self.worker.start()

    def _on_done(self, report: ProjectImportReport) -> None:
        self.report = report
        counts = report.as_dict()
        head = (f"Imported {counts['imported']} images ({counts['faces_found']} with a face); skipped "
                f"{counts['skipped']} already in the project and {counts['duplicates']} duplicates.")
        self.progress.finished(("Cancelled. " if report.interrupted else "Done. ") + head)
        empty = "" if report.sources else ("No folder was given: the project was created empty; import faces "
                                           "with File ▸ Import….\n")
        self.summary.setPlainText(empty + report.summary())
        warning = report.range.warning() if report.range is not None else ""
        self.warning.setText(f"Warning: {warning[:1].upper()}{warning[1:]}." if warning else "")
        self.warning.setVisible(bool(warning))
        self.again.setVisible(report.interrupted)

    def _on_failed(self, message: str) -> None:
        self.failure = message
        self.progress.finished("The import stopped.")
        self.summary.setPlainText(f"{message}\n\nWhat was imported before is kept: run the import again once this "
                                  "is fixed (File ▸ Import… on the open project).")
        self.again.show()

    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.deleteLater()
            self.worker = None
        self.completeChanged.emit()


class NewProjectWizard(QWizard):
    project_ready = Signal(object)  # the project's Path, once it exists: the window opens it

    def __init__(self, session, settings, load_model=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.session, self.settings, self.load_model = session, settings, load_model  # tests stand a model in
        self.created: Path | None = None
        self.project = ProjectPage(settings)
        self.references = SourcePage(settings, "reference", "Reference faces",
                                     "Faces of known age that queries are compared with (FG-NET, UTKFace, a CSV "
                                     "of ages). Their ages are never shown to the labeller.")
        self.queries = SourcePage(settings, "query", "Query faces",
                                  "The faces whose age is to be labelled. Leave empty to import them later with "
                                  "File ▸ Import….")
        self.detector = DetectorPage(settings, self._create_project)
        self.importing = ImportPage(self)
        for page in (self.project, self.references, self.queries, self.detector, self.importing):
            self.addPage(page)
        self.resize(720, 560)

    def _create_project(self) -> str:
        """Create the file with its range and the user's labelling defaults; '' or what went wrong."""
        if self.created is not None:
            return ""
        path = self.project.path()
        try:
            db = open_project(path, create=True)
            try:
                with db.atomic():
                    set_setting(db, "age_max", self.project.age_max.value())
                    detector = self.detector.detector.path()
                    if detector is not None:
                        set_setting(db, "detector_path", str(detector.resolve()))
                if self.session is not None:
                    self.session.apply_new_project_preferences(db)
            finally:
                db.close()
        except (ProjectError, OSError) as error:
            return f"The project could not be created: {error}"
        self.created = path
        return ""

    def done(self, result: int) -> None:
        self.importing.wait()  # closing while importing: the worker stops after the image being written
        super().done(result)
        if self.created is not None:
            self.project_ready.emit(self.created)
