"""Prediction over a set of crops, and the evaluate command's metrics (method.md section 4), computed with
ageapp.core.metrics (the project's one definition of each metric).

Point estimate = the posterior's mean (mode reported too), 90% interval as in ageapp.core.posterior
(credible_intervals / summarize); for a hyper-only model the paper's rule sum_k 1[f_k > 0.5].
MAE, CA and CS compare with the true age as labelled; coverage and NLL need it on the grid 0..A, so there
it is rounded and clipped to A (the same clipping as the training targets). Accuracies are percentages.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ageapp.core import metrics as core_metrics
from ageapp.core.posterior import age_grid, credible_intervals
from trainer.batches import input_width, resize_batch
from trainer.crops import CROP_H
from trainer.heads import aggregate_ordinal


# ---------------------------------------------------------------------------------------------- prediction
@torch.no_grad()
def predict_crops(model, crops: torch.Tensor, batch_size: int = 64, size: int = CROP_H,
                  device: str | torch.device = "cpu", progress: Callable = lambda it, **kw: it,
                  flip: bool = False) -> dict:
    """Run the model over uint8 crops (N, 112, 96, 3) BGR: raw (uncalibrated) posterior (N, A+1), f (N, K),
    p_female (N,). With flip, each output is the mean of the face's and its mirror image's (one batch)."""
    model.eval()
    out_size = (size, input_width(size))
    posteriors, fs, female = [], [], []
    starts = range(0, len(crops), batch_size)
    for start in progress(starts, total=len(starts), desc="predict"):
        images = resize_batch(crops[start:start + batch_size].to(device).permute(0, 3, 1, 2).float(), out_size)
        n = len(images)
        if flip:
            images = torch.cat([images, images.flip(-1)])
        outputs = model(images.contiguous())
        posterior = outputs["log_posterior"].float().exp().cpu().double()
        f = outputs["f"].float().cpu()
        p_female = torch.softmax(outputs["gender_logits"].float(), -1)[:, 1].cpu()
        if flip:
            posterior, f, p_female = [(t[:n] + t[n:]) / 2 for t in (posterior, f, p_female)]
        posteriors.append(posterior)
        fs.append(f)
        female.append(p_female)
    age_max = getattr(getattr(model, "module", model), "age_max", None)
    empty = lambda width: torch.zeros(0, width)  # noqa: E731
    return {
        "posterior": (torch.cat(posteriors) if posteriors else empty(age_max + 1)).numpy(),
        "f": (torch.cat(fs) if fs else empty(age_max)).numpy(),
        "p_female": (torch.cat(female) if female else torch.zeros(0)).numpy(),
    }


def apply_calibration(description, posterior: np.ndarray, crops) -> np.ndarray:
    """The model's calibration of raw posteriors of these crops (uint8 N x H x W x 3, tensor or array); the crops'
    picture quality is measured only where the calibration depends on it."""
    from ageapp.faces.quality import calibrate_crops

    pixels = crops.numpy() if isinstance(crops, torch.Tensor) else crops
    return calibrate_crops(description.calibration, posterior, pixels)


def point_estimates(prediction: dict, hyper_only: bool = False) -> dict:
    """mean, mode, ci_low, ci_high per face (arrays, the definitions of ageapp.core.posterior.summarize);
    hyper-only models take the aggregation rule as 'mean'."""
    posterior = np.asarray(prediction["posterior"], dtype=np.float64)
    mean = posterior @ age_grid(posterior.shape[1] - 1) / posterior.sum(axis=1)
    if hyper_only:
        mean = aggregate_ordinal(torch.from_numpy(np.asarray(prediction["f"]))).numpy().astype(float)
    low, high = credible_intervals(posterior)
    return {"mean": mean, "mode": np.argmax(posterior, axis=1).astype(float),
            "ci_low": np.asarray(low, float), "ci_high": np.asarray(high, float)}


def compute_metrics(prediction: dict, samples: Sequence, hyper_only: bool = False, no_face: int = 0) -> dict:
    """The evaluate command's metrics over the samples that had a face."""
    result = {"n": len(samples), "no_face": int(no_face)}
    if not samples:
        return result
    est = point_estimates(prediction, hyper_only)
    posterior = np.asarray(prediction["posterior"], dtype=np.float64)
    true = np.array([s.true_age for s in samples], float)
    on_grid = np.clip(np.rint(true), 0, posterior.shape[1] - 1).astype(int)
    result.update({
        "mae": round(core_metrics.mae(est["mean"], true), 4),
        "mae_mode": round(core_metrics.mae(est["mode"], true), 4),
        "ca3": round(core_metrics.cumulative_accuracy(est["mean"], true, 3), 3),
        "ca5": round(core_metrics.cumulative_accuracy(est["mean"], true, 5), 3),
        "cs3": round(core_metrics.cumulative_score(est["mean"], true, 3), 3),
        "cs5": round(core_metrics.cumulative_score(est["mean"], true, 5), 3),
        "coverage90": round(core_metrics.interval_coverage(posterior, on_grid), 3),
        "mean_ci_width": round(core_metrics.mean_interval_width(posterior), 3),
        "nll": round(core_metrics.negative_log_likelihood(posterior, on_grid), 4),
    })
    levels = core_metrics.coverage_at_levels(posterior, on_grid)
    result.update({f"coverage{int(round(100 * q))}": round(value, 3) for q, value in levels.items()})
    result["calibration_error"] = round(core_metrics.calibration_error(levels), 3)
    result["mae_by_age"] = {band: {"n": n, "mae": None if value is None else round(value, 3)}
                            for band, (n, value) in core_metrics.mae_by_band(est["mean"], true).items()}
    genders = np.array([s.gender for s in samples])
    known = genders >= 0
    if known.any():
        guessed = (prediction["p_female"][known] > 0.5).astype(int)
        result["gender_acc"] = round(float(100.0 * np.mean(guessed == genders[known])), 3)
        result["gender_n"] = int(known.sum())
    ranged = np.array([s.age is None and s.age_min is not None for s in samples])
    if ranged.any():
        middles = [(s.age_min + s.age_max) / 2.0 for s, r in zip(samples, ranged) if r]
        exact, one_off = core_metrics.adience_accuracy(est["mean"][ranged], core_metrics.adience_group(middles))
        result["adience_exact"], result["adience_1off"] = round(exact, 3), round(one_off, 3)
    return result


def load_labelled_crops(data: str, fmt: str, aligned: bool, template: str, split_file: str | None = None,
                        part: str = "val", limit: int | None = None, detector: str | None = None,
                        cache_dir: str | None = None, workers: int = 0,
                        progress: Callable = lambda it, **kw: it, log: Callable = print):
    """(CropSet, info) of the labelled faces in a folder or project, de-duplicated, optionally only one part
    of a training run's split file; crops on the model's face template."""
    from trainer.crops import build_crops
    from trainer.samples import make_source
    from trainer.splits import deduplicate, load_split_keys

    source = make_source(data, fmt, aligned)
    samples, problems = source.samples(progress=lambda it: progress(it, desc="hashing"))
    samples, dropped = deduplicate(samples)
    if split_file:
        keys = load_split_keys(split_file, part)
        samples = [s for s in samples if s.key in keys]
        if not samples:
            raise ValueError(f"none of the images in {data} is in the {part} part of {split_file}")
    if limit:
        samples = samples[:limit]
    crops = build_crops(samples, source.identity, detector, aligned, cache_dir, workers, progress=progress,
                        log=log, template=template)
    return crops, {"duplicates_dropped": dropped, "problems": len(problems)}


def evaluate_model(model, description, crops, device="cpu", batch_size: int = 128, flip: bool = True,
                   calibrated: bool = True, progress: Callable = lambda it, **kw: it) -> tuple[dict, dict, np.ndarray]:
    """(metrics, prediction, raw posteriors): metrics of the calibrated posteriors (unless calibrated=False),
    with the uncalibrated coverage beside them under "uncalibrated"."""
    prediction = predict_crops(model, crops.crops, batch_size, description.size, device, progress, flip=flip)
    raw = prediction["posterior"]
    if calibrated and not description.calibration.is_identity:
        prediction = {**prediction, "posterior": apply_calibration(description, raw, crops.crops)}
    metrics = compute_metrics(prediction, crops.samples, hyper_only=description.hyper_only,
                              no_face=len(crops.no_face))
    if crops.samples:
        uncalibrated = compute_metrics({**prediction, "posterior": raw}, crops.samples,
                                       hyper_only=description.hyper_only)
        metrics["uncalibrated"] = {key: uncalibrated[key] for key in (
            "mae", "coverage50", "coverage80", "coverage90", "coverage95", "calibration_error", "nll",
            "mean_ci_width")}
    metrics.update({"calibration": description.calibration.method if calibrated else "none", "flip": flip})
    return metrics, prediction, raw
