"""What the Runs dialog and the Evaluate… dialog know of a run beyond its record, without Qt: the calibration
its model carries (method and faces, read from the checkpoint's calibration entry), the evaluation of its model
on held-out faces (run with trainer.evaluate's own functions, so the figures are `python -m trainer evaluate`'s,
and kept as evaluation.json in the run's folder), and the calibrated coverage the runs table shows.

Reading a checkpoint needs torch; without it (the light bundle) the run's record says what calibration was
fitted at the end of training.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ageapp.files import atomic_write

EVALUATION_FILE = "evaluation.json"  # in the run's folder: the last evaluation on its held-out part
_calibrations: dict[tuple[str, float], dict | None] = {}  # (checkpoint, mtime) -> its calibration entry


class EvaluationCancelled(Exception):
    """The user cancelled an evaluation; nothing was written."""


# ---------------------------------------------------------------------------------------------- calibration
def checkpoint_calibration(path: str | Path | None) -> dict | None:
    """The calibration entry stored in a checkpoint (method, n, temperature, before, after ...), or None when
    the file is absent, unreadable, or torch is not installed. Cached while the file is unchanged."""
    if not path:
        return None
    path = Path(path)
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return None
    if key not in _calibrations:
        try:
            from trainer.checkpoint import CheckpointError, safe_load
        except ImportError:
            return None
        try:
            entry = safe_load(path).get("calibration")
        except CheckpointError:
            entry = None
        _calibrations[key] = entry if isinstance(entry, dict) else {"method": "none", "n": 0}
    return _calibrations[key]


def run_calibration(run: dict) -> dict | None:
    """The calibration of a run's model: its best.pt's entry, else what the run's record says was fitted."""
    out = (run.get("config") or {}).get("out")
    entry = checkpoint_calibration(Path(out) / "best.pt") if out else None
    if entry is not None:
        return entry
    recorded = (run.get("evaluation") or {}).get("calibration")
    if isinstance(recorded, dict):
        return {**recorded, "method": recorded.get("method"), "n": recorded.get("faces"),
                "fallback": recorded.get("fallback", "")}
    return None


def calibration_text(entry: dict | None) -> str:
    """"isotonic on 975 faces", "temperature on 31 faces (…why…)", "none (uncalibrated)"; '' when unknown. The
    reason the entry gives for a simpler method than the one asked for (its `fallback`) is added in brackets."""
    if entry is None:
        return ""
    method = entry.get("method") or "none"
    reason = entry.get("fallback") or entry.get("reason") or ""
    if method == "none":
        text = "none (uncalibrated)"
    else:
        faces = entry.get("n")
        text = f"{method} on {faces} face{'s' if faces != 1 else ''}" if faces else method
    return f"{text} ({reason})" if reason else text


# ---------------------------------------------------------------------------------------------- evaluations
@dataclass
class EvaluationRequest:
    """What to evaluate: a checkpoint on labelled faces (a folder, or a project), optionally only the part a
    training run held out (split_file), as `python -m trainer evaluate` takes it."""

    model: str
    data: str
    format: str = "auto"
    aligned: bool = False
    split_file: str | None = None
    detector: str | None = None
    cache_dir: str | None = None
    limit: int | None = None
    flip: bool = True
    batch: int = 128
    device: str = "cpu"
    held_out: bool = False  # the run's own held-out part (then kept as the run's evaluation.json)

    def describe(self) -> str:
        if self.held_out:
            return f"the held-out faces of {Path(self.data).name}"
        return f"{Path(self.data).name}{' (face crops)' if self.aligned else ''}"


@dataclass
class EvaluationResult:
    metrics: dict  # trainer.evaluate.evaluate_model's (calibrated, with "uncalibrated" beside)
    nominal: list[float] = field(default_factory=list)  # reliability diagram: nominal levels (fractions)
    observed: list[float] = field(default_factory=list)  # ... observed coverage, calibrated
    observed_raw: list[float] = field(default_factory=list)  # ... before calibration ([] when uncalibrated)
    age_starts: list[float] = field(default_factory=list)  # error by age: bins of trainer.plots.AGE_BIN years
    age_mae: list[float] = field(default_factory=list)
    age_counts: list[int] = field(default_factory=list)


def held_out_request(run: dict) -> EvaluationRequest:
    """The request for a run's own held-out part (its separate validation folder, or its split's val part of
    its main data; faces of folders added with "also" are left out, as in `evaluate --split-file`)."""
    config = run.get("config") or {}
    out = config.get("out")
    best = Path(out) / "best.pt" if out else None
    if best is None or not best.is_file():
        raise FileNotFoundError(f"run {run.get('id')} has no model yet (no best.pt in {out}): resume or retrain it")
    separate = config.get("val")
    split = Path(out) / "split.json"
    if not separate and not split.is_file():
        raise FileNotFoundError(f"run {run.get('id')} kept no split file ({split}): evaluate it on a chosen folder")
    return EvaluationRequest(model=str(best), data=str(separate or config.get("data")),
                             format=config.get("format", "auto"), aligned=bool(config.get("aligned")),
                             split_file=None if separate else str(split), detector=config.get("detector"),
                             cache_dir=config.get("cache_dir"), held_out=True)


def run_evaluation(request: EvaluationRequest, progress: Callable = lambda it, **kw: it,
                   log: Callable[[str], None] = lambda message: None) -> EvaluationResult:
    """The evaluation `python -m trainer evaluate` makes (the same functions, the same rounding), plus the data
    of its --plot panels. `progress(iterable, total=, desc=)` wraps each long loop (and may raise to cancel)."""
    import numpy as np

    from trainer.checkpoint import model_from_checkpoint
    from trainer.evaluate import evaluate_model, load_labelled_crops, point_estimates
    from trainer.plots import error_by_age, reliability_curve
    from trainer.runtime import pick_device

    device = pick_device(request.device)
    model, checkpoint = model_from_checkpoint(request.model, device)
    description = checkpoint["description"]
    crops, info = load_labelled_crops(request.data, request.format, request.aligned, description.template,
                                      request.split_file, "val", request.limit, request.detector, request.cache_dir,
                                      0, progress, log)
    metrics, prediction, raw = evaluate_model(model, description, crops, device, request.batch, request.flip, True,
                                              progress)
    metrics.update({"model": request.model, **info})
    result = EvaluationResult(metrics)
    if crops.samples:
        true = np.array([s.true_age for s in crops.samples], float)
        on_grid = np.clip(np.rint(true), 0, prediction["posterior"].shape[1] - 1).astype(int)
        nominal, observed = reliability_curve(prediction["posterior"], on_grid)
        result.nominal, result.observed = nominal.tolist(), observed.tolist()
        if not description.calibration.is_identity:
            result.observed_raw = reliability_curve(raw, on_grid)[1].tolist()
        estimates = point_estimates(prediction, description.hyper_only)["mean"]
        starts, maes, counts = error_by_age(estimates, true)
        result.age_starts, result.age_mae, result.age_counts = starts.tolist(), maes.tolist(), counts.tolist()
    return result


def progress_reporter(report: Callable[[str, int, int, float], None], stop: Callable[[], bool],
                      clock: Callable[[], float] = time.monotonic) -> Callable:
    """A `progress(iterable, total=, desc=)` for run_evaluation that reports (stage, done, total, seconds left;
    -1 until known) after each item and raises EvaluationCancelled once `stop()` is true."""
    def progress(iterable, total=None, desc="", **_):
        total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else 0)
        started = clock()
        report(desc, 0, total, -1.0)
        for done, item in enumerate(iterable, start=1):
            if stop():
                raise EvaluationCancelled()
            yield item
            elapsed = clock() - started
            left = elapsed / done * (total - done) if total and done < total else (0.0 if total else -1.0)
            report(desc, done, total, left)
        if stop():
            raise EvaluationCancelled()
    return progress


def save_run_evaluation(run: dict, request: EvaluationRequest, result: EvaluationResult) -> Path | None:
    """Keep a held-out evaluation in the run's folder (evaluation.json, atomically); None for another source."""
    out = (run.get("config") or {}).get("out")
    if not request.held_out or not out:
        return None
    payload = {"kind": "ageapp-run-evaluation", "version": 1, "source": "held-out", "model": request.model,
               "evaluated": datetime.now(timezone.utc).isoformat(timespec="seconds"), "metrics": result.metrics}
    return atomic_write(Path(out) / EVALUATION_FILE, lambda handle: handle.write(json.dumps(payload, indent=1)))


def run_evaluation_record(run: dict) -> dict | None:
    """The run's kept held-out evaluation (its metrics, when, which model), or None (none, unreadable, or of an
    older model: the run was resumed or trained again since, and its best.pt is newer than the evaluation)."""
    out = (run.get("config") or {}).get("out")
    if not out:
        return None
    kept = Path(out) / EVALUATION_FILE
    try:
        payload = json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("kind") != "ageapp-run-evaluation" or \
            not isinstance(payload.get("metrics"), dict):
        return None
    try:
        if Path(str(payload.get("model"))).stat().st_mtime > kept.stat().st_mtime:
            return None  # its figures are another model's
    except OSError:
        pass  # the model is gone: the figures stay what was measured
    return payload


def calibrated_figure(run: dict, key: str) -> tuple[float | None, str]:
    """A calibrated figure of a run (coverage90, nll ...) and where it comes from: "held-out" (its kept
    evaluation), "calibration faces" (the calibration's own report, on the faces it was fitted on), "raw" (the
    best epoch's, before calibration: the run is uncalibrated or its calibration unknown)."""
    record = run_evaluation_record(run)
    if record is not None and record["metrics"].get(key) is not None:
        return float(record["metrics"][key]), "held-out"
    entry = run_calibration(run)
    if entry is not None and entry.get("method") not in (None, "none"):
        after = entry.get("after") or {}
        if after.get(key) is not None:
            return float(after[key]), "calibration faces"
    evaluation = run.get("evaluation") or {}
    value = evaluation.get(key)
    if value is None:
        epochs = [m for m in (run.get("epochs") or []) if m.get("val_mae") is not None]
        value = min(epochs, key=lambda m: m["val_mae"]).get(f"val_{key}") if epochs else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, ""
    return float(value), "raw"
