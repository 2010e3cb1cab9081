"""The Train page: choose the data, network and settings, run the training in the background with live
curves, pause / resume / cancel it; and the Train menu (Train a model…, Runs…, Export model…).

The page assembles its panels (the form, form.py; the buttons, controls.py; the run's progress, progress.py)
and holds the run's state: idle, running, paused, stopping (policy.py says when Start is possible). The run is a
`TrainWorker` (worker.py) that wraps `trainer.train.train`, opens its own connection to the project and records
the run there; its signals go straight to the progress panel. Closing the window during a run asks first, then
cancels the run (a checkpoint is saved) and closes once it has stopped. Export is export.py's.

`install_train_page(window)` adds the page and the menu to the main window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QMenu, QMessageBox, QVBoxLayout, QWidget

from ageapp.store.settings import get_setting
from ageapp.store.training_data import count_labelled
from ageapp.ui.shell.messages import show_information
from ageapp.ui.train.choices import NETS, TrainChoices
from ageapp.ui.train.controls import RunControls
from ageapp.ui.train.export import ModelExport
from ageapp.ui.train.form import TrainForm
from ageapp.ui.train.policy import (
    IDLE,
    PAUSED,
    RUNNING,
    STOPPING,
    mark_interrupted_runs,
    start_problem,
    training_detector,
)
from ageapp.ui.train.progress import RunProgress
from ageapp.ui.train.runs_dialog import RunsDialog
from ageapp.ui.train.worker import DeviceProbe, TrainWorker
from trainer import runs as training_runs

PAGE_NAME = "train"


class TrainPage(QWidget):
    active_model_changed = Signal(str)  # the project's active model's checkpoint
    run_starting = Signal(object)  # the TrainWorker, connected and about to start (tests, benchmarks)
    run_ended = Signal(str)  # finished / cancelled / failed

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings if settings is not None else QSettings()
        self.db = None
        self._labelled: dict[str, int] = {}
        self.worker: TrainWorker | None = None
        self.state = IDLE
        self.run_id: int | None = None
        self.run_project: Path | None = None
        self.runs_dialog: RunsDialog | None = None
        self._close_window_when_stopped = False
        self._device_probe: DeviceProbe | None = None

        self.form = TrainForm(TrainChoices.load(self._settings))
        self.controls = RunControls()
        self.progress = RunProgress()
        self.exporter = ModelExport(self)
        self.form.changed.connect(self._update_form_state)
        self.controls.start_button.clicked.connect(self.start_training)
        self.controls.pause_button.clicked.connect(self.toggle_pause)
        self.controls.cancel_button.clicked.connect(self.cancel_training)
        self.controls.runs_button.clicked.connect(self.show_runs)
        self.exporter.message.connect(lambda text, kind: self.progress.show_banner(text, kind))
        left = QVBoxLayout()
        left.addWidget(self.form, stretch=1)
        left.addWidget(self.controls)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.addLayout(left)
        layout.addWidget(self.progress, stretch=1)

        self.set_project(None)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def _update_form_state(self) -> None:
        self.form.set_editable(self.state == IDLE)
        self.controls.show_state(self.state, start_problem(self.db, self.form.choices, self._labelled),
                                 has_project=self.db is not None)

    def banner_text(self) -> str:
        return self.progress.banner_text()

    # ---------------------------------------------------------------------------------------------- project
    def set_project(self, db) -> None:
        """Told by the main window when a project opens (db) or closes (None). A run in progress goes on and
        is recorded in the project it was started on."""
        self.db = db
        self._labelled = {}
        if db is not None:
            self._labelled = count_labelled(db)
            self.form.show_project(db.path, self._labelled, get_setting(db, "age_max"))
            mark_interrupted_runs(db, self.run_project if self.worker is not None else None)
        else:
            self.form.show_project(None)
        if self.worker is None:  # the project's latest run and its curves, as recorded (none: an empty page)
            runs = training_runs.list_runs(db) if db is not None else []
            self.progress.show_past_run(runs[-1] if runs else None)
        if self.runs_dialog is not None:
            self.runs_dialog.close()
            self.runs_dialog = None
        self._update_form_state()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._device_probe is None:  # the first time: list the GPUs (the torch import, off the GUI thread)
            self._device_probe = DeviceProbe(self)
            self._device_probe.found.connect(self._on_devices)
            self._device_probe.start()

    def _on_devices(self, devices: list) -> None:
        self.form.set_devices(devices)
        if self._device_probe is not None:
            self._device_probe.wait()

    # ---------------------------------------------------------------------------------------------- runs
    def is_running(self) -> bool:
        return self.worker is not None

    def start_training(self) -> bool:
        """Start a run with the form's choices; False (with the reason shown) if it cannot start."""
        if self.worker is not None:
            return False
        choices = self.form.current_choices()
        problem = start_problem(self.db, choices, self._labelled)
        if problem:
            self.progress.show_banner(problem, "warning")
            return False
        detector = training_detector(self.db)  # for folders under "Also train on"
        try:
            config = choices.to_config(self.db.path, int(get_setting(self.db, "age_max")), detector)
        except ValueError as error:
            self.progress.show_banner(str(error), "warning")
            return False
        choices.save(self._settings)
        self._start_worker(TrainWorker(self.db.path, config, parent=self), config["epochs"], history=[])
        self.progress.set_title(f"Starting: {NETS.get(config['net'], config['net'])} on "
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
        self.progress.set_title(f"Resuming run {run_id}")
        return True

    def _start_worker(self, worker: TrainWorker, epochs: int, history: list[dict]) -> None:
        self.worker = worker
        self.run_project = Path(self.db.path).resolve()
        self.run_id = None
        self.progress.prepare(epochs, history)
        self.run_starting.emit(worker)  # (its listeners hear each signal before the page does)
        worker.run_started.connect(self._on_run_started)
        worker.progress.connect(self.progress.show_progress)
        worker.batch_stats.connect(self.progress.show_batch_stats)
        worker.epoch_finished.connect(self.progress.show_epoch)
        worker.log.connect(self.progress.add_log_line)
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

    def cancel_training(self) -> None:
        if self.worker is None or self.state == STOPPING:
            return
        self.worker.cancel()
        self._set_state(STOPPING)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.progress.set_state(state)
        self._update_form_state()

    # -- worker signals
    def _on_run_started(self, run_id: int, out: str) -> None:
        self.run_id = run_id
        self.progress.show_run_started(run_id, out, self.worker.config if self.worker is not None else {})
        if self.runs_dialog is not None:
            self.runs_dialog.refresh()

    def _on_finished(self, summary: dict) -> None:
        self._end_run(summary.get("status", "finished"))
        self.progress.show_finished(summary)

    def _on_failed(self, reason: str, checkpoint: str) -> None:
        run_id = self.run_id
        out = (self.worker.config.get("out") if self.worker is not None else "") or ""
        self._end_run("failed")
        self.progress.show_failed(run_id, reason, checkpoint, out)

    def _end_run(self, status: str) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()  # run() has returned (the signal is its last act): this is immediate
            worker.deleteLater()
        self.progress.stop_busy()
        self._set_state(IDLE)
        if self.db is not None:
            self._labelled = count_labelled(self.db)
        if self.runs_dialog is not None:
            self.runs_dialog.refresh()
        self.run_ended.emit(status)
        if self._close_window_when_stopped:
            self._close_window_when_stopped = False
            self.window().close()

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

    def export_model(self, run_id: int | None = None, path: str = "") -> bool:
        """Copy a run's model (best.pt), or export it to ONNX (checked against torch), in the background."""
        return self.exporter.export(self.db, run_id, path)

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
        for worker in (self.worker, self.exporter.worker, self._device_probe):
            if worker is not None and worker.isRunning():
                if isinstance(worker, TrainWorker):
                    worker.cancel()
                worker.wait()


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
    if estimate is not None and hasattr(estimate, "project_model_activated"):
        # estimation follows the run just made active (its shown photos are estimated again)
        page.active_model_changed.connect(lambda _path: estimate.project_model_activated())
    return page


def _open_train_page(window, page: TrainPage) -> None:
    if window.session.db is None:
        show_information(window, "Train a model", "No project is open.",
                         "Open or create a project first (File ▸ Open project…): training uses its labelled faces "
                         "and records each run in it.")
        return
    window.show_page(PAGE_NAME)
