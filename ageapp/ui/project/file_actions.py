"""File ▸ Import…, Export…, Merge… and Split for a team…: what `ageapp import / export / merge / split` do, on the
open project, each in a worker with its progress (ui/project/task_dialog.py) and the same summary as the command
line. After an import or a merge the project is opened again, so that every page sees the new faces and answers.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QSpinBox, QStackedWidget, QWidget

from ageapp.annotation.exchange import EXPORT_SUFFIXES, MergeError, export_project, merge_projects
from ageapp.annotation.project_import import import_sources
from ageapp.annotation.team import MAX_OVERLAP, SplitError, split_project
from ageapp.datasets.records import ScanError
from ageapp.store.db import open_project
from ageapp.ui.project.fields import PROJECT_FILTER, PathField, SourceFields, start_folder
from ageapp.ui.project.task_dialog import TaskDialog
from ageapp.ui.shell.messages import show_warning
from ageapp.ui.shell.preferences import detector_file

READ_ONLY = ("This project is open read-only. Open it for writing (not held by another ageapp, on a writable disk) "
             "first.")


class ImportDialog(TaskDialog):
    """A folder into the open project, as references or queries, with the project's detector."""

    def __init__(self, project: Path, settings, detector: str | None, load_model=None, parent=None):
        form = QWidget()
        self.role = QComboBox()
        self.role.addItem("References: faces of known age to compare with", "reference")
        self.role.addItem("Queries: faces to be aged", "query")
        # One set of fields per role, each remembering its own choice; the shown one follows the role.
        self.sources = {role: SourceFields(settings, role, project) for role in ("reference", "query")}
        stack = QStackedWidget()
        for fields in self.sources.values():
            stack.addWidget(fields)
        self.role.currentIndexChanged.connect(stack.setCurrentIndex)
        self.detector = PathField(settings, "detector", "open", "Face detector", "ONNX models (*.onnx);;All files (*)",
                                  project=project, placeholder="face_detection_yunet.onnx (empty: Haar cascade)")
        self.detector.set_path(detector)  # what ageapp.model.resolve.choose_detector picks (import_faces)
        layout = QFormLayout(form)
        layout.addRow("Import as", self.role)
        layout.addRow(stack)
        layout.addRow("YuNet model", self.detector)
        super().__init__("Import faces", project, form, "Import", parent)
        self.load_model = load_model

    @property
    def source(self) -> SourceFields:
        return self.sources[self.role.currentData()]

    def start_requested(self) -> None:
        problem = self.source.problem()
        detector = self.detector.path()
        if not problem and self.source.source() is None:
            problem = "Choose the folder to import."
        if not problem and detector is not None and not detector.is_file():
            problem = f"{detector} does not exist: choose the YuNet .onnx file, or leave the field empty."
        if problem:
            self.summary.setPlainText(problem)
            return
        self.source.folder.remember()
        source, load_model = self.source.source(), self.load_model

        def job(db, progress, should_stop):
            return import_sources(db, [source], detector_path=detector, load_model=load_model, on_progress=progress,
                                  should_stop=should_stop)

        self.run(job, known_errors=(ScanError,), text="Reading the folder…")

    def show_result(self, report) -> None:
        counts = report.as_dict()
        self.progress.finished(f"{'Cancelled' if report.interrupted else 'Done'}: imported {counts['imported']} "
                               f"images, skipped {counts['skipped']}, {counts['duplicates']} duplicates.")
        self.summary.setPlainText(report.summary())
        warning = report.range.warning() if report.range is not None else ""
        self.show_warning_text(f"Warning: {warning[:1].upper()}{warning[1:]}." if warning else "")


class SplitDialog(TaskDialog):
    """N parts for N labellers, with an overlap share answered twice."""

    def __init__(self, project: Path, settings, parent=None):
        form = QWidget()
        self.parts = QSpinBox()
        self.parts.setRange(2, 100)
        self.parts.setValue(3)
        self.overlap = QDoubleSpinBox()
        self.overlap.setRange(0.0, 100 * MAX_OVERLAP)
        self.overlap.setDecimals(1)
        self.overlap.setValue(5.0)
        self.overlap.setSuffix(" % of the queries, each in two parts")
        self.out = PathField(settings, "team", "folder", "Folder for the parts", project=project)
        self.out.set_path(Path(project).with_name(f"{Path(project).stem}-team"))
        layout = QFormLayout(form)
        layout.addRow("Labellers (parts)", self.parts)
        layout.addRow("Overlap", self.overlap)
        layout.addRow("Write the parts to", self.out)
        super().__init__("Split for a team", project, form, "Split", parent)

    def start_requested(self) -> None:
        out = self.out.path()
        if out is None:
            self.summary.setPlainText("Choose the folder to write the parts to.")
            return
        project, parts, overlap = self.project, self.parts.value(), self.overlap.value() / 100.0
        self.out.remember()

        def job(db, progress, should_stop):
            return split_project(db, project, out, parts, overlap, on_progress=progress, should_stop=should_stop)

        self.run(job, known_errors=(SplitError,), text="Sharing out the queries…")

    def show_result(self, report) -> None:
        self.progress.finished("Cancelled: no part was kept." if report.cancelled else "Done.")
        self.summary.setPlainText(split_summary(report))


def split_summary(report) -> str:
    """The split's own summary (ageapp.annotation.team), with its last step said the window's way: File ▸ Merge…
    rather than the command line a terminal user is given."""
    text = report.summary()
    if report.cancelled:
        return text
    cut = text.find("Give each labeller a part")
    head = (text[:cut] if cut >= 0 else text + ". ").rstrip()
    return (f"{head}\n\nGive each labeller a part. When a part comes back, bring its answers in with File ▸ Merge… "
            "(the parts in any order; a part merged twice adds nothing).")


class MergeDialog(TaskDialog):
    """Other projects' answers in, by UUID (any order, twice changes nothing)."""

    def __init__(self, project: Path, others: list[Path], parent=None):
        super().__init__("Merge answers", project, None, parent=parent)
        self.others = others

    def start(self) -> None:
        others = self.others

        def job(db, progress, should_stop):
            reports = []
            for index, other in enumerate(others):
                if should_stop():
                    break
                progress(index, len(others), f"merging {other.name}")
                with open_project(other, read_only=True) as source:
                    reports.append((other, merge_projects(db, source)))
            progress(len(reports), len(others), "merged")
            return reports

        self.run(job, known_errors=(MergeError,), text="Merging…")

    def show_result(self, reports) -> None:
        lines = []
        for other, report in reports:
            lines.append(f"{other.name}: {report.summary(other.name, self.project.name)}")
        stopped = len(reports) < len(self.others)
        self.progress.finished("Stopped: the projects merged so far are kept." if stopped else "Done.")
        self.summary.setPlainText("\n".join(lines))


class ExportDialog(TaskDialog):
    def __init__(self, project: Path, out: Path, parent=None):
        super().__init__("Export posteriors", project, None, parent=parent)
        self.out = out

    def start(self) -> None:
        out = self.out

        def job(db, progress, should_stop):
            progress(0, 0, f"writing {out.name}")
            return export_project(db, out)  # all or nothing (atomic write)

        self.run(job, read_only=True, known_errors=(ValueError, OSError), text="Exporting…")

    def show_result(self, count) -> None:
        self.progress.finished("Done.")
        self.summary.setPlainText(f"Exported {count} queries to {self.out}.")


class ProjectFileActions:
    """The File menu's project commands, on the window's open project."""

    def __init__(self, window, load_model=None):
        self.window, self.load_model = window, load_model
        self.dialog: TaskDialog | None = None
        menu = window.menuBar().actions()[0].menu()  # File
        actions = menu.actions()
        before = actions[actions.index(window.restore_action) + 1]
        self.actions = {}
        for key, text, slot in (("import", "&Import…", self.import_faces), ("export", "&Export…", self.export),
                                ("merge", "&Merge…", self.merge), ("split", "&Split for a team…", self.split)):
            action = menu.addAction(text)
            menu.insertAction(before, action)
            action.triggered.connect(lambda _checked=False, s=slot: s())
            action.setEnabled(window.session.is_open())
            self.actions[key] = action
        window.session.project_opened.connect(lambda _db: self._enable(True))
        window.session.project_closed.connect(lambda: self._enable(False))
        window.session.project_closed.connect(self.wait)  # no worker outlives the project (or the window)

    def _enable(self, enabled: bool) -> None:
        for action in self.actions.values():
            action.setEnabled(enabled)

    def _writable(self, title: str) -> bool:
        if getattr(self.window.session.db, "read_only", False):
            show_warning(self.window, title, READ_ONLY)
            return False
        return True

    def _show(self, dialog: TaskDialog, reopen: bool = False) -> TaskDialog:
        self.dialog = dialog
        if reopen:
            dialog.completed.connect(lambda _result: self._reopen())
        dialog.open()
        return dialog

    def _reopen(self) -> None:
        path = self.window.session.path
        if path is not None:
            self.window.open_project_path(path)

    def import_faces(self) -> TaskDialog | None:
        session = self.window.session
        if not session.is_open() or not self._writable("Import faces"):
            return None
        dialog = ImportDialog(session.path, self.window.settings, detector_file(session.db), self.load_model,
                              self.window)
        return self._show(dialog, reopen=True)

    def export(self, out: str | Path | None = None) -> TaskDialog | None:
        session = self.window.session
        if not session.is_open():
            return None
        if out is None:
            where = Path(start_folder(self.window.settings, "exports", session.path)) / f"{session.path.stem}.csv"
            out, _ = QFileDialog.getSaveFileName(self.window, "Export posteriors", str(where),
                                                 "CSV (*.csv);;JSON (*.json)")
            if not out:
                return None
        out = Path(out)
        if out.suffix.lower() not in EXPORT_SUFFIXES:
            show_warning(self.window, "Export", f"Export to a .csv or .json file, not '{out.name}'.",
                         "Choose a name that ends in .csv or .json.")
            return None
        self.window.settings.set_last_folder("exports", out)
        dialog = self._show(ExportDialog(session.path, out, self.window))
        dialog.start()
        return dialog

    def merge(self, others: list[str | Path] | None = None) -> TaskDialog | None:
        session = self.window.session
        if not session.is_open() or not self._writable("Merge answers"):
            return None
        if others is None:
            others, _ = QFileDialog.getOpenFileNames(self.window, "Merge answers from", start_folder(
                self.window.settings, "projects", session.path), PROJECT_FILTER)
        others = [Path(other) for other in others]
        if not others:
            return None
        if any(other.resolve() == session.path.resolve() for other in others):
            show_warning(self.window, "Merge answers", "A project cannot be merged into itself.",
                         "Choose another labeller's project (or a part of a team split).")
            return None
        self.window.settings.set_last_folder("projects", others[0])
        dialog = self._show(MergeDialog(session.path, others, self.window), reopen=True)
        dialog.start()
        return dialog

    def split(self) -> TaskDialog | None:
        session = self.window.session
        if not session.is_open() or not self._writable("Split for a team"):
            return None
        return self._show(SplitDialog(session.path, self.window.settings, self.window))

    def wait(self) -> None:
        if self.dialog is not None:
            self.dialog.wait()


def install_project_actions(window, load_model=None) -> ProjectFileActions:
    """File ▸ Import…, Export…, Merge…, Split for a team… (after Restore from backup…), and Tools ▸ Team."""
    from ageapp.ui.project.team_view import TeamAction

    actions = ProjectFileActions(window, load_model)
    window.project_actions = actions
    window.team_action = TeamAction(window)
    return actions


__all__ = ["ExportDialog", "ImportDialog", "MergeDialog", "ProjectFileActions", "SplitDialog",
           "install_project_actions"]
