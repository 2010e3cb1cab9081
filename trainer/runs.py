"""Training runs of a project, owned here: where a run's folder goes, the record in the project (config,
each epoch, status, checkpoint, evaluation), which checkpoint is the run's model, its evaluation, and making
it the project's active model. Both the app's Train page (through a QThread that only adapts this to
signals) and `python -m trainer train --data P.ageproj` go through `train_recorded`, so every run on a
project is in the project.

The project is opened only for a moment at each record (start, each epoch, end), never held for the hours a
run takes, so the project stays usable meanwhile (a window labelling it in the same app shares its lock);
an epoch that cannot be recorded at once (another ageapp holds the project) is recorded with the others
when the run ends. Importing this module imports neither torch nor Qt.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

RUNS_SUFFIX = ".runs"
LOG_NAME = "train.log"
LOCK_WAIT_S = 30.0  # how long a record waits for a project another ageapp holds


# ---------------------------------------------------------------------------------------------- folders
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


def best_checkpoint(out: str | Path) -> Path:
    """A run folder's model: best.pt (the best validation epoch, calibrated), else last.pt."""
    best = Path(out) / "best.pt"
    return best if best.is_file() else Path(out) / "last.pt"


def run_checkpoints(run: dict) -> tuple[Path | None, Path | None]:
    """(best.pt, last.pt) of a recorded run where they exist."""
    out = (run.get("config") or {}).get("out")
    if not out:
        return None, None
    best, last = Path(out) / "best.pt", Path(out) / "last.pt"
    return (best if best.is_file() else None), (last if last.is_file() else None)


def default_threads(device: str) -> int | None:
    """Torch CPU threads for a run in the app: all cores but one, so the window keeps a core (None on a GPU,
    where torch's choice is fine)."""
    if device not in ("cpu", "auto"):
        return None
    return max(1, (os.cpu_count() or 2) - 1)


# ---------------------------------------------------------------------------------------------- results
def best_epoch(history: list[dict]) -> dict | None:
    """The epoch with the lowest validation MAE (the one in best.pt), else the last one."""
    with_val = [m for m in history if m.get("val_mae") is not None]
    if with_val:
        return min(with_val, key=lambda m: m["val_mae"])
    return history[-1] if history else None


def evaluation_of(history: list[dict], summary: dict) -> dict | None:
    """The run's evaluation: the best epoch's validation metrics (val_ prefix dropped), the split's sizes and
    the calibration fitted after training (before / after on its own faces)."""
    best = best_epoch(history)
    if best is None:
        return None
    result = {"best_epoch": best["epoch"], "epochs_done": len(history), "train": summary.get("train"),
              "val": summary.get("val"), "calib": summary.get("calib", 0)}
    result.update({k[len("val_"):]: v for k, v in best.items() if k.startswith("val_")})
    if summary.get("calibration"):
        result["calibration"] = {"method": summary["calibration"], "faces": summary.get("calibration_n"),
                                 "temperature": summary.get("temperature"),
                                 "fallback": summary.get("calibration_fallback", ""),
                                 "before": summary.get("calibration_before"), "after": summary.get("calibration_after")}
    return result


def expected_failure(error: BaseException) -> bool:
    """A failure the user can fix from its message (bad data, NaN, memory), not a bug worth a traceback."""
    from ageapp.core.model_description import ModelFileError
    from ageapp.store.errors import ProjectError

    return isinstance(error, (ModelFileError, ProjectError, ValueError, FileNotFoundError, MemoryError)) \
        or type(error).__name__ == "NonFiniteLoss" or "out of memory" in str(error).lower()


def describe_failure(error: BaseException, config: dict) -> str:
    """What went wrong, worded so that the user knows what to change."""
    text = str(error) or type(error).__name__
    if isinstance(error, MemoryError) or "out of memory" in text.lower():
        return (f"out of memory ({text.splitlines()[0][:200]}): lower the batch size (it was "
                f"{config.get('batch', '?')}) or the input size (it was {config.get('size', '?')}), or choose a "
                "smaller backbone")
    return text if expected_failure(error) else f"{type(error).__name__}: {text}"


# ---------------------------------------------------------------------------------------------- the project
def _with_project(project: Path, action: Callable, wait_s: float = LOCK_WAIT_S):
    """Open the project for writing, run action(db), close it. Waits (a second at a time) while another
    ageapp holds the project; then raises ProjectLocked."""
    from ageapp.store.db import open_project
    from ageapp.store.errors import ProjectLocked

    deadline = time.monotonic() + wait_s
    while True:
        try:
            db = open_project(project)
        except ProjectLocked:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
            continue
        try:
            return action(db)
        finally:
            db.close()


def list_runs(db) -> list[dict]:
    """The project's runs, oldest first (with the model each made and whether it is active)."""
    from ageapp.store import runs as run_store

    return run_store.list_runs(db)


def get_run(db, run_id: int) -> dict:
    from ageapp.store import runs as run_store

    return run_store.get_run(db, run_id)


def run_resumed_from(project: str | Path, out: str | Path) -> int | None:
    """The id of the project's run whose folder is `out` (what `train --resume --out` continues), or None."""
    from ageapp.store import runs as run_store

    wanted = Path(out).expanduser().resolve()
    runs = _with_project(Path(project), run_store.list_runs)
    return next((run["id"] for run in reversed(runs)
                 if Path((run.get("config") or {}).get("out", "")).expanduser().resolve() == wanted), None)


def activate_run(db, run: dict) -> Path:
    """Make a run's model the project's active one (labelling and estimation use it); returns its checkpoint."""
    from ageapp.store import runs as run_store

    best, _ = run_checkpoints(run)
    if best is None:
        raise FileNotFoundError(f"run {run['id']} has no model yet (no epoch finished): resume it or pick another run")
    name = f"run {run['id']} · {(run.get('config') or {}).get('net', '?')}"
    run_store.activate_model(db, run_store.model_for_run(db, run["id"], name, str(best)))
    return best


def mark_interrupted_runs(db) -> list[int]:
    """Runs still recorded as running when nothing runs them (the app was closed or killed): failed."""
    from ageapp.store import runs as run_store

    interrupted = run_store.interrupted_runs(db)
    for run_id in interrupted:
        run_store.finish_run(db, run_id, "failed", message="ageapp closed during this run (it crashed or was "
                             "killed); resume it from its last checkpoint")
    return interrupted


# ---------------------------------------------------------------------------------------------- a recorded run
@dataclass
class RunOutcome:
    """How a recorded run ended. status: finished / cancelled / failed."""

    status: str
    run_id: int | None
    out: str = ""
    checkpoint: str = ""  # the run's model (or what is left of it) ('' if none)
    message: str = ""  # for the user: why it failed, or what to do next
    summary: dict = field(default_factory=dict)
    evaluation: dict | None = None


@dataclass
class RunControl:
    """What the caller hands the run: stop and pause events, a log function, training callbacks, and
    `on_started(run_id, out)` once the run is recorded."""

    stop_event: threading.Event = field(default_factory=threading.Event)
    pause_event: threading.Event = field(default_factory=threading.Event)
    log: Callable[[str], None] = print
    progress: bool = False
    callbacks: dict = field(default_factory=dict)
    on_started: Callable[[int, str], None] = lambda run_id, out: None
    on_epoch: Callable[[dict], None] = lambda metrics: None


def _prepare(project: Path, config: dict | None, resume_run_id: int | None):
    """(TrainConfig, run id): a new run recorded, or a cancelled / failed one reopened (with what `config` gives
    of the settings a resumed run may change: more epochs, another device ...)."""
    from ageapp.store import runs as run_store
    from trainer.config import RESUME_MAY_CHANGE, TrainConfig

    if resume_run_id is not None:
        run = _with_project(project, lambda db: run_store.get_run(db, resume_run_id))
        changes = {key: value for key, value in (config or {}).items() if key in RESUME_MAY_CHANGE and key != "out"}
        train_config = TrainConfig.from_dict({**run["config"], **changes, "resume": True})
        if not (Path(train_config.out) / "last.pt").is_file():
            raise FileNotFoundError(f"run {resume_run_id} left no checkpoint ({train_config.out}/last.pt) to resume "
                                    "from: start a new run instead")
        _with_project(project, lambda db: run_store.reopen_run(db, resume_run_id))
        return train_config, resume_run_id
    train_config = TrainConfig.from_dict(config or {})
    if not train_config.out:
        train_config.out = str(new_run_folder(project, train_config.net))
    if train_config.threads is None:
        train_config.threads = default_threads(train_config.device)
    run_id = _with_project(project, lambda db: run_store.start_run(db, asdict(train_config)))
    return train_config, run_id


def train_recorded(project: str | Path, config: dict | None = None, resume_run_id: int | None = None,
                   control: RunControl | None = None) -> RunOutcome:
    """Train (trainer.train.train) with the run recorded in `project`. Never raises: every failure is recorded
    and returned as a failed outcome whose message says what to change."""
    from ageapp.store import runs as run_store

    try:
        from trainer.train import train
    except ImportError as error:  # no torch (the light bundle, or no training extra): nothing is recorded
        from ageapp.training_extra import training_missing

        return RunOutcome("failed", None, message=training_missing() or f"the trainer cannot be imported: {error}")
    project, control = Path(project), control or RunControl()
    try:
        train_config, run_id = _prepare(project, config, resume_run_id)
    except Exception as error:  # noqa: BLE001 - the project could not be opened, or the run not set up
        return RunOutcome("failed", None, message=describe_failure(error, dict(config or {})))
    out = Path(train_config.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOG_NAME, "a", encoding="utf-8") as log_file:
        def say(message: str) -> None:
            if message:
                log_file.write(f"{datetime.now():%H:%M:%S} {message}\n")
                log_file.flush()
                control.log(message)

        unrecorded: list[dict] = []

        def on_epoch_end(trainer, metrics: dict) -> None:
            try:
                _with_project(project, lambda db: run_store.add_epoch(db, run_id, metrics), wait_s=2.0)
            except Exception as error:  # noqa: BLE001 - recorded with the others at the end
                unrecorded.append(dict(metrics))
                say(f"epoch {metrics.get('epoch')} not recorded yet ({error}); it will be when the run ends")
            control.on_epoch(dict(metrics))

        control.on_started(run_id, str(out))
        say(("resuming" if train_config.resume else "starting") + f" run {run_id} in {out}")
        callbacks = {event: list(functions) for event, functions in control.callbacks.items()}
        callbacks.setdefault("on_epoch_end", []).append(on_epoch_end)
        try:
            summary = train(train_config, stop_event=control.stop_event, pause_event=control.pause_event, log=say,
                            progress=control.progress, callbacks=callbacks)
        except BaseException as error:  # noqa: BLE001 - recorded and reported, never raised
            reason = describe_failure(error, asdict(train_config))
            say("failed: " + reason)
            log_file.write(traceback.format_exc())
            last = out / "last.pt"
            kept = str(last) if last.is_file() else ""
            _record_end(project, run_id, "failed", kept, None, reason, unrecorded, say)
            return RunOutcome("failed", run_id, str(out), kept, reason)
        cancelled = bool(summary.get("stopped"))
        status = "cancelled" if cancelled else "finished"
        checkpoint = str(out / "last.pt") if cancelled else str(best_checkpoint(out))
        message = (f"cancelled after {summary['epochs_done']} of {train_config.epochs} epochs; resume it from "
                   "Train ▸ Runs… (or with --resume) to go on from its checkpoint") if cancelled else ""
        evaluation = evaluation_of(summary.get("history") or [], summary)
        if not _record_end(project, run_id, status, checkpoint, evaluation, message or None, unrecorded, say):
            return RunOutcome("failed", run_id, str(out), checkpoint,
                              f"the run ended but could not be recorded in {project.name}; its checkpoints are in "
                              f"{out}", summary, evaluation)
        done = summary["epochs_done"]
        say(message or f"finished: {done} epoch{'' if done == 1 else 's'}, best validation MAE "
                       f"{summary.get('best_val_mae')}")
        return RunOutcome(status, run_id, str(out), checkpoint, message, summary, evaluation)


def _record_end(project: Path, run_id: int, status: str, checkpoint: str, evaluation: dict | None,
                message: str | None, unrecorded: list[dict], say: Callable[[str], None]) -> bool:
    from ageapp.store import runs as run_store

    def record(db) -> None:
        with db.atomic():
            for metrics in unrecorded:
                run_store.add_epoch(db, run_id, metrics)
            run_store.finish_run(db, run_id, status, checkpoint_path=checkpoint or None, evaluation=evaluation,
                                 message=message)

    try:
        _with_project(project, record)
        return True
    except Exception as error:  # noqa: BLE001 - e.g. the disk filled up: the checkpoints are on disk all the same
        say(f"could not record the end of run {run_id} in {project.name}: {error}")
        return False
