"""Training in the background: a QThread that wraps `trainer.loop.train` and records the run in the project.

No training code here and no widgets: the worker opens its own connection to the project (SQLite connections
are per thread), records the run (runs table: config, each epoch's metrics, checkpoint, evaluation, status),
and reports through typed, queued signals (labelme's worker habit; Anki's rule that background work never
touches a widget). Batch progress is throttled to GUI_MAX_RATE per second so that a fast GPU cannot flood
the event loop; epochs, log lines and the end are always sent.

Control from the GUI thread: `set_paused(True/False)` (the loop waits between batches), `cancel()` (the loop
finishes its batch, saves last.pt, and the run is recorded as cancelled; resume continues from there).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from typing import TYPE_CHECKING

from PySide6.QtCore import QThread, Signal

if TYPE_CHECKING:  # torch is imported in the worker thread, not at start-up
    from trainer.loop import TrainConfig

log = logging.getLogger("ageapp.train")

GUI_MAX_RATE = 10.0  # batch progress messages per second, at most
RUNS_SUFFIX = ".runs"
LOG_NAME = "train.log"


def runs_folder(project: str | Path) -> Path:
    """Where a project's run folders go: PROJECT.ageproj -> PROJECT.runs/ beside it."""
    project = Path(project)
    return project.with_name(project.stem + RUNS_SUFFIX)


def new_run_folder(project: str | Path, net: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = runs_folder(project) / f"{stamp}-{net}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def default_threads(device: str) -> int | None:
    """Torch CPU threads for a run in the app: all cores but one, so the window keeps a core (None on a GPU,
    where torch's choice is fine)."""
    if device not in ("cpu", "auto"):
        return None
    return max(1, (os.cpu_count() or 2) - 1)


def expected_failure(error: BaseException) -> bool:
    """A failure the user can fix from its message (bad data, NaN, memory), not a bug worth a traceback."""
    from ageapp.store.errors import ProjectError
    from trainer.checkpoint import CheckpointError
    from trainer.loop import NonFiniteLoss

    return isinstance(error, (NonFiniteLoss, CheckpointError, ProjectError, ValueError, FileNotFoundError,
                              MemoryError)) or "out of memory" in str(error).lower()


def describe_failure(error: BaseException, config: dict) -> str:
    """What went wrong, worded so that the user knows what to change."""
    text = str(error) or type(error).__name__
    if isinstance(error, MemoryError) or "out of memory" in text.lower():
        return (f"out of memory ({text.splitlines()[0][:200]}): lower the batch size (it was "
                f"{config.get('batch', '?')}) or the input size (it was {config.get('size', '?')}), or choose a "
                "smaller backbone")
    from ageapp.store.errors import ProjectError
    from trainer.checkpoint import CheckpointError
    from trainer.loop import NonFiniteLoss

    if isinstance(error, (NonFiniteLoss, CheckpointError, ProjectError, ValueError, FileNotFoundError)):
        return text
    return f"{type(error).__name__}: {text}"


def best_epoch(history: list[dict]) -> dict | None:
    """The epoch with the lowest validation MAE (the one in best.pt), else the last one."""
    with_val = [m for m in history if m.get("val_mae") is not None]
    if with_val:
        return min(with_val, key=lambda m: m["val_mae"])
    return history[-1] if history else None


def evaluation_of(history: list[dict], summary: dict) -> dict | None:
    """The run's final evaluation: the best epoch's validation metrics (val_ prefix dropped)."""
    best = best_epoch(history)
    if best is None:
        return None
    result = {"best_epoch": best["epoch"], "epochs_done": len(history), "train": summary.get("train"),
              "val": summary.get("val"), "calib": summary.get("calib", 0)}
    result.update({k[len("val_"):]: v for k, v in best.items() if k.startswith("val_")})
    if summary.get("calibration"):
        result["calibration"] = {"method": summary["calibration"], "faces": summary.get("calibration_n"),
                                 "temperature": summary.get("temperature"),
                                 "before": summary.get("calibration_before"), "after": summary.get("calibration_after")}
    return result


class TrainWorker(QThread):
    """One training run (new, or `resume_run_id` continued) recorded in the project at `project_path`."""

    run_started = Signal(int, str)  # run id, run folder
    progress = Signal(int, int, int, float)  # epoch (1-based), batch (1-based), batches per epoch, ETA s (-1: unknown)
    batch_stats = Signal(dict)  # x (epochs, fractional), loss (mean since the last message), images_per_s, lr
    epoch_finished = Signal(dict)  # the epoch's metrics (trainer.loop: epoch, train_loss, val_mae, val_ca5 ...)
    log = Signal(str)
    # summary + run_id, status ('finished' or 'cancelled'), best_epoch. (It hides QThread.finished: both this and
    # `failed` are sent as run() returns, after the project's connection is closed; the thread then ends.)
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
        self._log_file = None

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
    def run(self) -> None:
        from ageapp.store import runs
        from ageapp.store.db import open_project

        db = None
        try:
            db = open_project(self.project_path)
            config = self._prepare(db, runs)
        except Exception as error:  # noqa: BLE001 - the project could not be opened, or the run not set up
            reason = describe_failure(error, self.config)
            if expected_failure(error):
                log.warning("training could not start: %s", reason)
            else:
                log.exception("training could not start")
            self.status = "failed"
            if db is not None:
                if self.run_id is not None:
                    try:
                        runs.finish_run(db, self.run_id, "failed", message=reason)
                    except Exception:  # noqa: BLE001
                        log.exception("could not record the failed run")
                db.close()
            self.failed.emit(reason, "")
            return
        try:
            signal, args = self._train(db, config, runs)
        finally:
            if self._log_file is not None:
                self._log_file.close()
            db.close()
        signal.emit(*args)  # last: the run is recorded and the project's connection closed when the GUI hears

    def _prepare(self, db, runs) -> "TrainConfig":
        from trainer.loop import TrainConfig

        if self.resume_run_id is not None:
            run = runs.get_run(db, self.resume_run_id)
            config = TrainConfig.from_dict({**run["config"], "resume": True})
            if not (Path(config.out) / "last.pt").is_file():
                raise FileNotFoundError(f"run {self.resume_run_id} left no checkpoint ({config.out}/last.pt) to "
                                        "resume from: start a new run instead")
            runs.reopen_run(db, self.resume_run_id)
            self.run_id = self.resume_run_id
        else:
            config = TrainConfig.from_dict(self.config)
            if not config.out:
                config.out = str(new_run_folder(self.project_path, config.net))
            if config.threads is None:
                config.threads = default_threads(config.device)
            self.run_id = runs.start_run(db, asdict(config))
        Path(config.out).mkdir(parents=True, exist_ok=True)
        self._log_file = open(Path(config.out) / LOG_NAME, "a", encoding="utf-8")  # noqa: SIM115 - closed in run()
        self.config = asdict(config)
        self.run_started.emit(self.run_id, config.out)
        return config

    def _say(self, message: str) -> None:
        if not message:
            return
        stamp = datetime.now().strftime("%H:%M:%S")
        if self._log_file is not None:
            self._log_file.write(f"{stamp} {message}\n")
            self._log_file.flush()
        self.log.emit(message)

    def _train(self, db, config: "TrainConfig", runs) -> tuple:
        """Run and record; returns the signal to send and its arguments (sent once everything is closed)."""
        from trainer.loop import train

        reporter = _BatchReporter(self, config.epochs)

        def on_epoch_end(trainer, metrics: dict) -> None:
            runs.add_epoch(db, self.run_id, metrics)
            self.epoch_finished.emit(dict(metrics))

        self._say(("resuming" if config.resume else "starting") + f" run {self.run_id} in {config.out}")
        last = Path(config.out) / "last.pt"
        try:
            summary = train(config, stop_event=self._stop, pause_event=self._pause, log=self._say, progress=False,
                            callbacks={"on_batch_end": [reporter.on_batch_end], "on_epoch_end": [on_epoch_end]})
        except BaseException as error:  # noqa: BLE001 - every failure is recorded and reported, never raised
            reason = describe_failure(error, asdict(config))
            self._say("failed: " + reason)
            if self._log_file is not None:
                self._log_file.write(traceback.format_exc())
            if expected_failure(error):
                log.warning("training run %s failed: %s", self.run_id, reason)
            else:
                log.error("training run %s failed: %s\n%s", self.run_id, reason, traceback.format_exc())
            kept = str(last) if last.is_file() else ""
            self.status = "failed"
            try:
                runs.finish_run(db, self.run_id, "failed", checkpoint_path=kept or None, message=reason)
            except Exception:  # noqa: BLE001 - the database itself failed: the reason still reaches the user
                log.exception("could not record the failed run")
            return self.failed, (reason, kept)
        cancelled = bool(summary.get("stopped"))
        best = Path(config.out) / "best.pt"
        if cancelled:
            message = (f"cancelled after {summary['epochs_done']} of {config.epochs} epochs; "
                       "resume it from Train ▸ Runs… to go on from its checkpoint")
            checkpoint = str(last)
        else:
            message = None
            checkpoint = str(best if best.is_file() else last)
        try:
            evaluation = evaluation_of(runs.get_run(db, self.run_id)["epochs"], summary)
            runs.finish_run(db, self.run_id, "cancelled" if cancelled else "finished", checkpoint_path=checkpoint,
                            evaluation=evaluation, message=message)
        except Exception as error:  # noqa: BLE001 - e.g. the disk filled up: the checkpoints are on disk all the same
            log.exception("could not record the end of run %s", self.run_id)
            self.status = "failed"
            return self.failed, (f"the run ended but could not be recorded in the project ({error}); its "
                                 f"checkpoints are in {config.out}", checkpoint)
        self.status = "cancelled" if cancelled else "finished"
        self._say(message or f"finished: {summary['epochs_done']} epochs, best validation MAE "
                             f"{summary.get('best_val_mae')}")
        return self.finished, ({**summary, "run_id": self.run_id, "status": self.status, "message": message or "",
                                "checkpoint": checkpoint, "best_epoch": (evaluation or {}).get("best_epoch")},)


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
        try:
            devices = available_devices()
        except Exception:  # noqa: BLE001 - torch missing or broken: the CPU is still there
            log.exception("device probe failed")
            devices = [("auto", "Automatic"), ("cpu", "CPU")]
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
