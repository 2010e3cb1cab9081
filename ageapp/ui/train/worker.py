"""Training in the background: a QThread that adapts the training domain (trainer.runs.train_recorded: the
run recorded in the project, its folder, its checkpoint and evaluation) to typed, queued signals.

No training code here and no widgets (labelme's worker habit; Anki's rule that background work never touches a
widget). Batch progress is throttled to GUI_MAX_RATE per second so that a fast GPU cannot flood the event loop;
epochs, log lines and the end are always sent.

Control from the GUI thread: `set_paused(True/False)` (the loop waits between batches, and the worker at the end
of each epoch, after its validation: a Pause pressed while the last batch's validation runs holds the run before
the next epoch, or before the calibration that ends it), `cancel()` (the loop finishes its batch, saves last.pt,
and the run is recorded as cancelled; resume continues from there).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from ageapp.training_extra import training_available, training_missing

log = logging.getLogger("ageapp.train")

GUI_MAX_RATE = 10.0  # batch progress messages per second, at most


class TrainWorker(QThread):
    """One training run (new, or `resume_run_id` continued) recorded in the project at `project_path`."""

    run_started = Signal(int, str)  # run id, run folder
    progress = Signal(int, int, int, float)  # epoch (1-based), batch (1-based), batches per epoch, ETA s (-1: unknown)
    batch_stats = Signal(dict)  # x (epochs, fractional), loss (mean since the last message), images_per_s, lr
    epoch_finished = Signal(dict)  # the epoch's metrics (trainer.loop: epoch, train_loss, val_mae, val_ca5 ...)
    log = Signal(str)
    # summary + run_id, status ('finished' or 'cancelled'), best_epoch. (It hides QThread.finished: both this and
    # `failed` are sent as run() returns, after the run is recorded; the thread then ends.)
    finished = Signal(dict)
    failed = Signal(str, str)  # reason (what to do), checkpoint kept ('' if none)

    def __init__(self, project_path: str | Path, config: dict | None = None, resume_run_id: int | None = None,
                 parent=None):
        """config: TrainConfig fields (out empty: a new folder in PROJECT.runs/); or resume_run_id."""
        super().__init__(parent)
        if config is None and resume_run_id is None:
            raise ValueError("a training run needs a config, or a run to resume")
        self.project_path = Path(project_path)
        self.config = dict(config or {})
        self.resume_run_id = resume_run_id
        self.run_id: int | None = None
        self.status: str | None = None  # finished / cancelled / failed, once over
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._pause_lock = threading.Lock()
        self._paused_since: float | None = None
        self._paused_total = 0.0
        self.held_after_epoch: int | None = None  # the epoch after which a pause holds the run now (else None)

    # -- control (GUI thread)
    def cancel(self) -> None:
        self.requestInterruption()
        self._stop.set()
        self.set_paused(False)

    def set_paused(self, paused: bool) -> None:
        with self._pause_lock:
            now = time.monotonic()
            if paused and self._paused_since is None:
                self._paused_since = now
                self._pause.set()
            elif not paused and self._paused_since is not None:
                self._paused_total += now - self._paused_since
                self._paused_since = None
                self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def _paused_seconds(self) -> float:
        with self._pause_lock:
            extra = time.monotonic() - self._paused_since if self._paused_since is not None else 0.0
            return self._paused_total + extra

    # -- the run (worker thread)
    def _hold_while_paused(self, epoch) -> None:
        """At an epoch's end (recorded, validated): wait while paused; a cancel ends the wait."""
        if not self._pause.is_set():
            return
        self.held_after_epoch = epoch
        self.log.emit(f"paused after epoch {epoch}; press Resume to go on")
        while self._pause.is_set() and not self._stop.is_set():
            self._stop.wait(0.05)
        self.held_after_epoch = None

    def run(self) -> None:
        missing = training_missing()  # the page disables Start then; a resumed run comes here all the same
        if missing:
            self.status = "failed"
            self.failed.emit(missing, "")
            return
        from trainer.runs import RunControl, train_recorded

        reporter = _BatchReporter(self, 0)

        def started(run_id: int, out: str) -> None:
            self.run_id = run_id
            self.config["out"] = out
            self.run_started.emit(run_id, out)

        def epoch_done(metrics: dict) -> None:
            self.epoch_finished.emit(metrics)
            self._hold_while_paused(metrics.get("epoch"))

        control = RunControl(stop_event=self._stop, pause_event=self._pause, log=self.log.emit,
                             callbacks={"on_batch_end": [reporter.on_batch_end]}, on_started=started,
                             on_epoch=epoch_done)
        outcome = train_recorded(self.project_path, None if self.resume_run_id else self.config, self.resume_run_id,
                                 control)
        self.run_id = outcome.run_id if outcome.run_id is not None else self.run_id
        self.status = outcome.status
        if outcome.status == "failed":
            log.warning("training run %s failed: %s", outcome.run_id, outcome.message)
            self.failed.emit(outcome.message, outcome.checkpoint)
            return
        self.finished.emit({**{k: v for k, v in outcome.summary.items() if k != "history"}, "run_id": outcome.run_id,
                            "status": outcome.status, "message": outcome.message, "checkpoint": outcome.checkpoint,
                            "best_epoch": (outcome.evaluation or {}).get("best_epoch")})


class _BatchReporter:
    """on_batch_end: throttled progress with an ETA over unpaused time, and the mean loss between messages."""

    def __init__(self, worker: TrainWorker, epochs: int):
        self.worker, self.epochs = worker, epochs
        self.first_step: int | None = None
        self.first_time = 0.0
        self.first_paused = 0.0
        self.last_emit = 0.0
        self.losses: list[float] = []

    def on_batch_end(self, trainer, info: dict) -> None:
        now = time.monotonic()
        n_batches = len(trainer.train_loader)
        self.epochs = trainer.config.epochs
        self.losses.append(info["loss"])
        if self.first_step is None:
            self.first_step, self.first_time, self.first_paused = info["step"], now, self.worker._paused_seconds()
        last_of_epoch = info["batch"] + 1 == n_batches
        if now - self.last_emit < 1.0 / GUI_MAX_RATE and not last_of_epoch:
            return
        self.last_emit = now
        done = info["step"] - self.first_step
        active = now - self.first_time - (self.worker._paused_seconds() - self.first_paused)
        remaining = self.epochs * n_batches - info["step"]
        eta = remaining * active / done if done > 0 and active > 0 else -1.0
        x = info["epoch"] + (info["batch"] + 1) / n_batches
        self.worker.batch_stats.emit({"x": x, "loss": sum(self.losses) / len(self.losses),
                                      "images_per_s": info.get("images_per_s", 0.0), "lr": info.get("lr", 0.0),
                                      "step": info["step"]})
        self.losses = []
        self.worker.progress.emit(info["epoch"] + 1, info["batch"] + 1, n_batches, float(eta))


# ---------------------------------------------------------------------------------------------- devices
def available_devices() -> list[tuple[str, str]]:
    """(value for TrainConfig.device, label) pairs, 'auto' first, naming what auto would pick."""
    import torch

    gpus = [(f"cuda:{i}", f"{torch.cuda.get_device_name(i)} (CUDA {i})") for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if not gpus and mps is not None and mps.is_available():
        gpus = [("mps", "Apple GPU (MPS)")]
    auto = gpus[0][1] if gpus else f"CPU, {os.cpu_count() or 1} cores"
    return [("auto", f"Automatic: {auto}")] + gpus + [("cpu", "CPU")]


class DeviceProbe(QThread):
    """Lists the devices off the GUI thread (the torch import takes a second or two)."""

    found = Signal(list)  # [(value, label)]

    def run(self) -> None:
        devices = [("auto", "Automatic"), ("cpu", "CPU")]  # without torch (or with a broken one) the CPU is there
        if training_available():
            try:
                devices = available_devices()
            except Exception:  # noqa: BLE001 - a broken torch: the CPU is still there
                log.exception("device probe failed")
        self.found.emit(devices)


class FunctionWorker(QThread):
    """Runs `function()` off the GUI thread (an ONNX export, say): `done(result)` or `failed(reason)`."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, function, parent=None):
        super().__init__(parent)
        self._function = function

    def run(self) -> None:
        try:
            result = self._function()
        except Exception as error:  # noqa: BLE001
            log.exception("background task failed")
            self.failed.emit(str(error) or type(error).__name__)
            return
        self.done.emit(result)
