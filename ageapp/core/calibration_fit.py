"""Fitting a model's calibration on held-out faces (method.md sections 6 and 7); what is fitted is described in
`ageapp.core.calibration`.

- The temperature minimises the mean negative log-likelihood of the true ages (convex in 1/T: a golden-section
  search on log(1/T) finds it).
- The CDF map R is the expected empirical CDF of the randomised probability integral transform
  U = F(y - 1) + V p(y), V ~ U(0, 1), computed exactly: R(x) = mean_i clip((x - F_i(y_i - 1)) / p_i(y_i), 0, 1),
  mixed with a prior map as `weight` pseudo-faces: R = (n R_emp + k R_prior) / (n + k). The pooled map's prior is
  the identity with PSEUDO_FACES = 2 (without it a stretch of the CDF where no calibration face fell gets no
  mass at all, and a face whose age lies there probability zero: measured, the default model's held-out NLL
  went from 3.11 to 4.32 through a few such faces).
- Mondrian bands shrink towards their parent with BAND_PRIOR_FACES pseudo-faces: a quality band's log T and
  map towards the pooled ones, an age band's temperature towards 1 (the quality step has already
  calibrated the pool, so an age band corrects only what is left). A band with 10 faces stays near its
  parent; one with 1,000 is its own.
- Too few faces: below MIN_FACES distinct faces nothing is fitted (CalibrationError saying why); below
  MIN_MAP_FACES a CDF map (isotonic or Mondrian) gives way to a temperature, and the calibration says so
  (`fallback`). Both thresholds were measured: docs/results.md, "How many faces a calibration needs".
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ageapp.core.calibration import (KNOTS, LEVELS, METHODS, TEMPERATURE_RANGE, Band, Calibration, CalibrationError,
                                     apply_bands, apply_temperature, band_index)
from ageapp.core.posterior import credible_intervals

MIN_FACES = 50  # fewer distinct faces than this: no calibration at all
MIN_MAP_FACES = 500  # fewer than this: a temperature instead of a CDF map
PSEUDO_FACES = 2  # identity faces mixed into the pooled map
BAND_PRIOR_FACES = 50  # parent faces mixed into each Mondrian band
QUALITY_LOWS = (0.0, 0.2, 0.45, 0.75)  # too poor, poor, fair, good: ageapp.faces.quality.LEVELS is made of these
AGE_LOWS = (0.0, 40.0, 60.0, 75.0)  # bands of the predicted mean age (below 40 the quality step holds)


def _check(posteriors, true_ages, minimum: int = MIN_FACES) -> tuple[np.ndarray, np.ndarray]:
    p = np.atleast_2d(np.asarray(posteriors, dtype=np.float64))
    y = np.rint(np.atleast_1d(np.asarray(true_ages, dtype=np.float64))).astype(np.int64)
    if p.shape[0] != y.shape[0]:
        raise CalibrationError("need one posterior per true age")
    if p.shape[0] < minimum:
        raise CalibrationError(f"calibration needs at least {minimum} faces with known ages; got {p.shape[0]}")
    return p, np.clip(y, 0, p.shape[1] - 1)


def _weights(weights, n: int) -> np.ndarray:
    """Per-posterior weights (None: all 1), checked: n finite non-negative numbers, not all 0."""
    if weights is None:
        return np.ones(n)
    w = np.atleast_1d(np.asarray(weights, dtype=np.float64))
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise CalibrationError("calibration weights must be one non-negative number per face, not all zero")
    return w


def mean_nll(posteriors: np.ndarray, true_ages: np.ndarray) -> float:
    p = posteriors[np.arange(len(true_ages)), true_ages]
    return float(np.mean(-np.log(np.maximum(p, 1e-300))))


def fit_temperature(posteriors, true_ages, minimum: int = MIN_FACES, weights=None) -> float:
    """The temperature minimising the (weighted) mean negative log-likelihood of the true ages."""
    p, y = _check(posteriors, true_ages, minimum)
    w = _weights(weights, len(y))
    log_p = np.log(np.maximum(p, 1e-300))
    log_true = log_p[np.arange(len(y)), y]

    def nll(inverse: float) -> float:
        scaled = log_p * inverse
        top = scaled.max(axis=1)
        per_face = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1)) - inverse * log_true
        return float(np.average(per_face, weights=w))

    low, high = 1.0 / TEMPERATURE_RANGE[1], 1.0 / TEMPERATURE_RANGE[0]
    ratio = (math.sqrt(5) - 1) / 2
    a, b = math.log(low), math.log(high)  # search in log(1/T): the bracket spans three decades evenly
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(math.exp(c)), nll(math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(math.exp(d))
    return float(1.0 / math.exp((a + b) / 2))


def fit_cdf_map(posteriors, true_ages, knots: int = KNOTS, prior=None, weight: float = PSEUDO_FACES,
                minimum: int = MIN_FACES, weights=None) -> np.ndarray:
    """R on `knots` points of [0, 1]: the (weighted) expected empirical CDF of the randomised PIT, mixed with
    `prior` (a map on the same grid; the identity when None) as `weight` faces."""
    grid = np.linspace(0.0, 1.0, knots)
    prior = grid if prior is None else np.asarray(prior, dtype=np.float64)
    if len(np.atleast_1d(true_ages)) == 0:
        return prior.copy()
    p, y = _check(posteriors, true_ages, minimum)
    w = _weights(weights, len(y))
    cdf = np.cumsum(p, axis=1)
    rows = np.arange(len(y))
    below = np.where(y > 0, cdf[rows, np.maximum(y - 1, 0)], 0.0)
    mass = np.maximum(p[rows, y], 1e-300)
    values = w @ np.clip((grid[None, :] - below[:, None]) / mass[:, None], 0.0, 1.0)
    values = (values + weight * prior) / (w.sum() + weight)
    values[0], values[-1] = 0.0, 1.0
    return np.maximum.accumulate(values)


def needed_levels(posteriors, true_ages) -> np.ndarray:
    """Per face, the smallest central level whose interval holds its true age y: |2 M(y) - 1|, with M the
    mid-distribution CDF of `credible_intervals`. The two-sided conformity score of split-conformal prediction."""
    p, y = _check(posteriors, true_ages)
    rows = np.arange(len(y))
    mid = np.cumsum(p, axis=1)[rows, y] - p[rows, y] / 2.0
    return np.clip(np.abs(2.0 * mid - 1.0), 0.0, 1.0)


def fit_conformal(posteriors, true_ages, levels=LEVELS, weights=None) -> dict[float, float]:
    """Split-conformal central levels: {q: q'} with coverage >= q guaranteed for exchangeable faces. With
    weights, the weighted quantile (the weight of a new face counted as the largest one's, conservatively)."""
    needed = needed_levels(posteriors, true_ages)
    w = _weights(weights, len(needed))
    order = np.argsort(needed)
    needed, w = needed[order], w[order]
    cumulative = np.cumsum(w) / (w.sum() + w.max())
    out = {}
    for level in levels:
        index = int(np.searchsorted(cumulative, level - 1e-12))
        out[round(float(level), 4)] = 1.0 if index >= len(needed) else float(needed[index])
    return out


def coverage_report(posteriors, true_ages, levels=LEVELS) -> dict:
    """Coverage (percent) at each level, its mean absolute error from nominal (points), NLL, mean 90% width."""
    p, y = _check(posteriors, true_ages, minimum=1)
    report, errors = {}, []
    for level in levels:
        low, high = credible_intervals(p, level)
        covered = 100.0 * float(np.mean((low <= y) & (y <= high)))
        report[f"coverage{int(round(level * 100))}"] = round(covered, 2)
        errors.append(abs(covered - 100.0 * level))
    low, high = credible_intervals(p, 0.9)
    report["calibration_error"] = round(float(np.mean(errors)), 2)
    report["nll"] = round(mean_nll(p, y), 4)
    report["mean_ci_width"] = round(float(np.mean(high - low)), 3)
    return report


def _rounded(values) -> tuple[float, ...]:
    """Stored as it will be written (7 decimals), so that a calibration read back is the one fitted."""
    return tuple(round(float(v), 7) for v in values)


def _shrunk_temperature(p, y, w, parent: float) -> float:
    """A band's temperature, its log shrunk towards the parent's with BAND_PRIOR_FACES pseudo-faces."""
    if len(y) < 2 or w.sum() <= 0:
        return parent
    own = fit_temperature(p, y, minimum=1, weights=w)
    share = w.sum() / (w.sum() + BAND_PRIOR_FACES)
    return float(math.exp(share * math.log(own) + (1 - share) * math.log(parent)))


def fit_quality_bands(p, y, w, quality, pooled_t: float, pooled_map, lows=QUALITY_LOWS) -> tuple[Band, ...]:
    index = band_index(np.asarray(quality, dtype=np.float64), lows)
    bands = []
    for i, low in enumerate(lows):
        rows = index == i
        t = _shrunk_temperature(p[rows], y[rows], w[rows], pooled_t)
        cdf_map = fit_cdf_map(apply_temperature(p[rows], t), y[rows], prior=pooled_map, weight=BAND_PRIOR_FACES,
                              minimum=1, weights=w[rows])  # an empty band: the pooled map
        bands.append(Band(float(low), t, _rounded(cdf_map), int(rows.sum())))
    return tuple(bands)


def fit_age_bands(p, y, w, lows=AGE_LOWS) -> tuple[Band, ...]:
    """A temperature per band of the predicted mean age, its log shrunk towards 0 (T = 1: the quality step has
    already calibrated the pool, so an age band corrects only the spread that is left). A temperature, not a
    CDF map: a band holds few calibration faces (the default model's calibration part has 30 predicted 75 or
    over), too few for a 33-knot map; measured in docs/results.md, "The shipped model under shift"."""
    index = band_index(p @ np.arange(p.shape[1], dtype=np.float64), lows)
    bands = []
    for i, low in enumerate(lows):
        rows = index == i
        t = _shrunk_temperature(p[rows], y[rows], w[rows], 1.0)
        bands.append(Band(float(low), t, None, int(rows.sum())))
    return tuple(bands)


def fit_calibration(posteriors, true_ages, method: str = "isotonic", conformal: bool = True, flip: bool = False,
                    quality=None, faces: int | None = None, quality_lows=QUALITY_LOWS,
                    age_lows=AGE_LOWS, weights=None, clean=None) -> Calibration:
    """Fit on held-out posteriors and their true ages; before/after reports are kept in the result.

    quality: each posterior's picture-quality score (needed by "mondrian"). faces: the number of distinct faces
    behind the posteriors (degraded copies of one face are not new evidence), which the size rules count.
    weights: each posterior's weight in every fit (degraded copies of a face may share one face's weight).
    clean: which posteriors are the faces themselves (a boolean mask; None: all), on which the before/after
    reports are made and which `n` counts; the others are degraded copies."""
    if method not in METHODS:
        raise CalibrationError(f"unknown calibration method {method!r} (known: {', '.join(METHODS)})")
    p, y = _check(posteriors, true_ages, minimum=1)
    w = _weights(weights, len(y))
    own = np.ones(len(y), bool) if clean is None else np.asarray(clean, bool)
    if own.shape != y.shape or not own.any():
        raise CalibrationError("the mask of the calibration faces themselves must have one entry per posterior")
    distinct = int(own.sum()) if faces is None else int(faces)
    copies = int((~own).sum())
    if distinct < MIN_FACES:
        raise CalibrationError(f"calibration needs at least {MIN_FACES} faces with known ages the model never "
                               f"trained on; got {distinct}: label more faces, or use the model uncalibrated")
    before = coverage_report(p[own], y[own])
    if method == "none":
        return Calibration(n=distinct, flip=flip, before=before, after=before, copies=copies)
    fallback = ""
    if method in ("isotonic", "mondrian") and distinct < MIN_MAP_FACES:
        fallback = (f"a CDF map needs at least {MIN_MAP_FACES} faces, {distinct} were available: a temperature "
                    "instead")
        method = "temperature"
    if method == "mondrian" and quality is None:
        raise CalibrationError("a Mondrian calibration needs each face's picture-quality score")
    temperature = fit_temperature(p, y, minimum=1, weights=w)
    tempered = apply_temperature(p, temperature)
    cdf_map = _rounded(fit_cdf_map(tempered, y, minimum=1, weights=w)) if method != "temperature" else None
    quality_bands = age_bands = ()
    if method == "mondrian":
        quality_bands = fit_quality_bands(p, y, w, quality, temperature, cdf_map, quality_lows)
        after_quality = apply_bands(p, quality_bands, np.asarray(quality, dtype=np.float64))
        age_bands = fit_age_bands(after_quality, y, w, age_lows)
    calibration = Calibration(method=method, temperature=temperature, cdf_map=cdf_map, flip=flip, n=distinct,
                              quality_bands=quality_bands, age_bands=age_bands, fallback=fallback, copies=copies)
    calibrated = calibration.apply(p, quality=quality)
    levels = fit_conformal(calibrated, y, weights=w) if conformal else {}
    return replace(calibration, conformal=levels, before=before, after=coverage_report(calibrated[own], y[own]))
