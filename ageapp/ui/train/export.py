"""Train ▸ Export model…: a run's model copied as a checkpoint (best.pt), or exported to ONNX and checked against
torch in a background thread (`FunctionWorker`; the trainer's export_onnx).

What happened is told through `message(text, kind)` ("info" or "error"), which the page shows in its banner;
what the user must fix first (no project, no trained model, an unwritable folder) is said in a message box.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from ageapp.training_extra import how_to_get_training, training_available
from ageapp.ui.shell.messages import show_information, show_warning
from ageapp.ui.train.worker import FunctionWorker
from trainer import runs as training_runs
from trainer.runs import run_checkpoints

EXPORT_FILTER = "Checkpoint (*.pt);;ONNX model (*.onnx)"


class ModelExport(QObject):
    message = Signal(str, str)  # text, kind (the banner's: "info" or "error")

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.worker: FunctionWorker | None = None  # an ONNX export in progress

    def _widget(self) -> QWidget:
        return self.parent()

    def export(self, db, run_id: int | None = None, path: str = "") -> bool:
        """Copy a run's model (best.pt), or export it to ONNX (checked against torch), in the background."""
        if db is None:
            show_information(self._widget(), "Export model", "No project is open.",
                             "Open the project whose model to export.")
            return False
        run = training_runs.get_run(db, run_id) if run_id is not None else export_candidate(db)
        best = run_checkpoints(run)[0] if run else None
        if best is None:
            show_information(self._widget(), "Export model", "There is no trained model to export yet.",
                             "Train one with Train ▸ Train a model…; a run has a model once its first epoch ends.")
            return False
        if not path:
            suggestion = str(Path.home() / f"age-model-run{run['id']}.pt")
            path, chosen = QFileDialog.getSaveFileName(self._widget(), f"Export the model of run {run['id']}",
                                                       suggestion, EXPORT_FILTER)
            if not path:
                return False
            if "onnx" in chosen.lower() and not path.lower().endswith(".onnx"):
                path += ".onnx"
        target = Path(path)
        if target.suffix.lower() != ".onnx":
            try:
                shutil.copyfile(best, target)
            except OSError as error:
                show_warning(self._widget(), "Export model", f"The model could not be copied to {target}: "
                             f"{error.strerror or error}.", "Choose a folder you can write to, with free space.")
                return False
            self.message.emit(f"Exported run {run['id']}'s model to {target}", "info")
            return True

        if not training_available():  # the export runs the model through torch and checks it with onnx
            self.message.emit(f"Exporting to ONNX needs torch and onnx, which are not installed: "
                              f"{how_to_get_training()}. The checkpoint (.pt) can be exported here.", "error")
            return False

        def export() -> dict:
            from trainer.export import export_onnx

            return export_onnx(best, target)

        self.worker = FunctionWorker(export, self._widget())
        self.worker.done.connect(lambda result: self._on_exported(result, run["id"]))
        self.worker.failed.connect(lambda reason: self._on_exported(None, run["id"], reason))
        self.message.emit(f"Exporting run {run['id']}'s model to {target}…", "info")
        self.worker.start()
        return True

    def _on_exported(self, result: dict | None, run_id: int, reason: str = "") -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        if result is None:
            self.message.emit(f"The ONNX export of run {run_id} failed: {reason}. Export the checkpoint (.pt) "
                              "instead, or check that onnx and onnxruntime are installed.", "error")
        else:
            diff = result.get("max_abs_diff")
            check = f" (matches torch to {diff:.1e})" if diff is not None else ""
            self.message.emit(f"Exported run {run_id}'s model to {result['onnx']}{check}", "info")


def export_candidate(db) -> dict | None:
    """The active model's run, else the latest run with a model."""
    runs = training_runs.list_runs(db)
    with_model = [run for run in runs if run_checkpoints(run)[0] is not None]
    active = [run for run in with_model if run.get("active")]
    return (active or with_model[-1:] or [None])[0]
