"""Evaluation metrics (method.md section 4). Accuracies and coverage are percentages; errors in years.

CA(n) counts errors strictly below n (the paper's MegaAge "cumulative accuracy"); CS(n) counts errors of at
most n (the "cumulative score" of later papers). Both are reported, named apart, because they differ.
"""

from __future__ import annotations

import numpy as np

from ageapp.core.posterior import age_grid, credible_intervals

# The levels at which coverage is reported (their mean absolute error from nominal is the calibration error).
COVERAGE_LEVELS = (0.5, 0.8, 0.9, 0.95)
# Age bands for the error by age: children, teenagers, young adults, middle age, old age.
AGE_BANDS = ((0, 12), (13, 19), (20, 39), (40, 59), (60, None))
# Adience's eight age groups (inclusive ranges), youngest first.
ADIENCE_GROUPS = ((0, 2), (4, 6), (8, 13), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100))
# An estimate belongs to the nearest group; the boundary between two neighbours is the midpoint of the gap
# between them, and an estimate exactly on it goes to the younger group.
_ADIENCE_BOUNDARIES = np.array([(hi + lo) / 2.0 for (_, hi), (lo, _) in zip(ADIENCE_GROUPS, ADIENCE_GROUPS[1:])])


def _errors(estimates, true_ages) -> np.ndarray:
    estimates = np.asarray(estimates, dtype=np.float64)
    true_ages = np.asarray(true_ages, dtype=np.float64)
    if estimates.shape != true_ages.shape or estimates.size == 0:
        raise ValueError("estimates and true ages must be non-empty and of the same shape")
    return np.abs(estimates - true_ages)


def mae(estimates, true_ages) -> float:
    """Mean absolute error in years."""
    return float(np.mean(_errors(estimates, true_ages)))


def cumulative_accuracy(estimates, true_ages, n: float) -> float:
    """CA(n): percentage of faces with |error| < n."""
    return float(100.0 * np.mean(_errors(estimates, true_ages) < n))


def cumulative_score(estimates, true_ages, n: float) -> float:
    """CS(n): percentage of faces with |error| <= n."""
    return float(100.0 * np.mean(_errors(estimates, true_ages) <= n))


def adience_group(estimates) -> np.ndarray:
    """Index (0..7) of the nearest Adience group for each age estimate."""
    return np.searchsorted(_ADIENCE_BOUNDARIES, np.asarray(estimates, dtype=np.float64), side="left")


def adience_accuracy(estimates, true_groups) -> tuple[float, float]:
    """(exact, one-off) percentages: the estimate's nearest group is the true group / at most one group away."""
    predicted = adience_group(estimates)
    true_groups = np.asarray(true_groups)
    if predicted.shape != true_groups.shape or predicted.size == 0:
        raise ValueError("estimates and true groups must be non-empty and of the same shape")
    off = np.abs(predicted - true_groups)
    return float(100.0 * np.mean(off == 0)), float(100.0 * np.mean(off <= 1))


def _check_posteriors(posteriors, true_ages) -> tuple[np.ndarray, np.ndarray]:
    posteriors = np.atleast_2d(np.asarray(posteriors, dtype=np.float64))
    true_ages = np.atleast_1d(np.asarray(true_ages))
    if posteriors.shape[0] != true_ages.shape[0] or true_ages.size == 0:
        raise ValueError("need one posterior per true age")
    if np.any(true_ages < 0) or np.any(true_ages >= posteriors.shape[1]):
        raise ValueError(f"true ages must lie on the posterior's grid 0..{posteriors.shape[1] - 1}")
    return posteriors, true_ages.astype(np.int64)


def interval_coverage(posteriors, true_ages) -> float:
    """Percentage of faces whose true age lies inside their posterior's 90% interval (90 is calibrated)."""
    posteriors, true_ages = _check_posteriors(posteriors, true_ages)
    low, high = credible_intervals(posteriors)
    return float(100.0 * np.mean((low <= true_ages) & (true_ages <= high)))


def coverage_at_levels(posteriors, true_ages, levels=COVERAGE_LEVELS) -> dict[float, float]:
    """{level: percentage of faces whose true age lies inside their central interval at that level}."""
    posteriors, true_ages = _check_posteriors(posteriors, true_ages)
    out = {}
    for level in levels:
        low, high = credible_intervals(posteriors, level)
        out[level] = float(100.0 * np.mean((low <= true_ages) & (true_ages <= high)))
    return out


def calibration_error(coverage: dict[float, float]) -> float:
    """Mean absolute difference, in percentage points, between coverage and the nominal level."""
    return float(np.mean([abs(value - 100.0 * level) for level, value in coverage.items()]))


def band_name(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else f"{low}-{high}"


def mae_by_band(estimates, true_ages, bands=AGE_BANDS) -> dict[str, tuple[int, float | None]]:
    """{band: (faces, MAE)} by the true age's band (MAE None for an empty band)."""
    errors = _errors(estimates, true_ages)
    true_ages = np.asarray(true_ages, dtype=np.float64)
    out = {}
    for low, high in bands:
        inside = (true_ages >= low) & (true_ages < (np.inf if high is None else high + 1))
        out[band_name(low, high)] = (int(inside.sum()), float(errors[inside].mean()) if inside.any() else None)
    return out


def mean_interval_width(posteriors) -> float:
    """Mean width (years) of the 90% intervals."""
    low, high = credible_intervals(np.atleast_2d(np.asarray(posteriors, dtype=np.float64)))
    return float(np.mean(high - low))


def negative_log_likelihood(posteriors, true_ages) -> float:
    """Mean -log P(true age) in nats; a probability that underflowed to 0 counts as the smallest float."""
    posteriors, true_ages = _check_posteriors(posteriors, true_ages)
    p_true = posteriors[np.arange(len(true_ages)), true_ages]
    return float(np.mean(-np.log(np.maximum(p_true, np.finfo(np.float64).tiny))))


def posterior_report(posteriors, true_ages) -> dict:
    """The standard report for posteriors over 0..A against exact true ages (point estimates: mean and mode)."""
    posteriors, true_ages = _check_posteriors(posteriors, true_ages)
    means = posteriors @ age_grid(posteriors.shape[1] - 1) / posteriors.sum(axis=1)
    modes = np.argmax(posteriors, axis=1)
    return {
        "mae_mean": mae(means, true_ages),
        "mae_mode": mae(modes, true_ages),
        "ca3": cumulative_accuracy(means, true_ages, 3),
        "ca5": cumulative_accuracy(means, true_ages, 5),
        "cs3": cumulative_score(means, true_ages, 3),
        "cs5": cumulative_score(means, true_ages, 5),
        "coverage90": interval_coverage(posteriors, true_ages),
        "mean_interval_width": mean_interval_width(posteriors),
        "nll": negative_log_likelihood(posteriors, true_ages),
    }
