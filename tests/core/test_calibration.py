"""Calibration of model posteriors (method.md section 6): checked on synthetic posteriors whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.core.calibration import KNOTS, Calibration, CalibrationError, apply_cdf_map, apply_temperature
from ageapp.core.calibration_fit import (
    PSEUDO_FACES,
    coverage_report,
    fit_calibration,
    fit_cdf_map,
    fit_conformal,
    fit_temperature,
    needed_levels,
)
from ageapp.core.posterior import credible_intervals

AGES = np.arange(101)


def truth(n: int, seed: int):
    """n true posteriors (discretised Gaussians, 2-7 years wide) and one true age drawn from each."""
    rng = np.random.default_rng(seed)
    centres, spreads = rng.uniform(10, 80, n), rng.uniform(2, 7, n)
    p = np.exp(-0.5 * ((AGES[None] - centres[:, None]) / spreads[:, None]) ** 2)
    p /= p.sum(axis=1, keepdims=True)
    ages = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return p, ages


def test_a_temperature_of_2_is_recovered_within_5_percent():
    p, ages = truth(4000, seed=1)
    overconfident = apply_temperature(p, 0.5)  # p^2, renormalised: what a model twice too sure reports
    assert fit_temperature(overconfident, ages) == pytest.approx(2.0, rel=0.05)


def test_a_calibrated_posterior_keeps_a_temperature_near_1():
    p, ages = truth(4000, seed=2)
    assert fit_temperature(p, ages) == pytest.approx(1.0, rel=0.05)


def test_the_cdf_map_of_calibrated_posteriors_is_near_the_identity():
    p, ages = truth(4000, seed=3)
    grid = np.linspace(0, 1, KNOTS)
    assert np.max(np.abs(fit_cdf_map(p, ages) - grid)) < 0.03


def test_isotonic_calibration_repairs_a_wrong_shape_at_every_level():
    """Posteriors too sure AND skewed (shifted by two years): a temperature alone cannot fix the shift; the
    CDF map brings every level within 3 points on fresh faces."""
    p_fit, ages_fit = truth(3000, seed=4)
    p_test, ages_test = truth(3000, seed=5)
    distort = lambda p: np.roll(apply_temperature(p, 0.6), 2, axis=1)  # noqa: E731
    raw = coverage_report(distort(p_test), ages_test)
    calibration = fit_calibration(distort(p_fit), ages_fit, method="isotonic")
    after = coverage_report(calibration.apply(distort(p_test)), ages_test)
    assert raw["calibration_error"] > 10
    for level in (50, 80, 90, 95):
        assert after[f"coverage{level}"] == pytest.approx(level, abs=3)
    assert after["nll"] < raw["nll"]
    assert calibration.after["calibration_error"] < 3 and calibration.before == coverage_report(distort(p_fit),
                                                                                                 ages_fit)


def test_calibrated_posteriors_stay_distributions():
    p, ages = truth(500, seed=6)
    calibration = fit_calibration(apply_temperature(p, 0.5), ages)
    out = calibration.apply(apply_temperature(p, 0.5))
    assert out.shape == p.shape and np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0)
    single = calibration.apply(apply_temperature(p, 0.5)[0])
    assert np.allclose(single, out[0])


def test_needed_levels_are_the_smallest_covering_levels():
    p, ages = truth(400, seed=10)
    needed = needed_levels(p, ages)
    for level in (0.3, 0.5, 0.9):
        low, high = credible_intervals(p, level)
        inside = (low <= ages) & (ages <= high)
        assert np.array_equal(inside, needed <= level + 1e-9)


def test_conformal_levels_cover_at_least_the_nominal_share_on_fresh_faces():
    """Split-conformal: fitted on half of an over-confident model's faces, the adjusted central levels cover
    the nominal share of the other half (within sampling error: 10,000 faces give a standard error of 0.5 points)."""
    p, ages = truth(20000, seed=7)
    overconfident = apply_temperature(p, 0.5)
    levels = fit_conformal(overconfident[:10000], ages[:10000])
    for level, adjusted in levels.items():
        assert adjusted > level  # an over-confident model needs wider intervals
        low, high = credible_intervals(overconfident[10000:], adjusted)
        covered = np.mean((low <= ages[10000:]) & (ages[10000:] <= high))
        assert covered >= level - 0.015


def test_round_trip_through_a_plain_dict_and_refusal_of_damage():
    p, ages = truth(300, seed=8)
    calibration = fit_calibration(apply_temperature(p, 0.7), ages)
    again = Calibration.from_dict(calibration.to_dict())
    assert np.allclose(again.apply(p), calibration.apply(p), atol=1e-6)
    assert again.temperature == pytest.approx(calibration.temperature)
    assert Calibration.from_dict(None).is_identity
    damaged = calibration.to_dict()
    for key, value, message in (("temperature", float("nan"), "temperature"), ("temperature", -1, "temperature"),
                                ("cdf_map", [0.5] * KNOTS, "CDF map"), ("cdf_map", "x", "CDF map"),
                                ("method", "magic", "unknown calibration method"), ("version", 99, "version")):
        with pytest.raises(CalibrationError, match=message):
            Calibration.from_dict({**damaged, key: value})
    with pytest.raises(CalibrationError, match="not a table"):
        Calibration.from_dict([1, 2])


def test_too_few_faces_are_refused_with_a_reason():
    p, ages = truth(10, seed=9)
    from ageapp.core.calibration_fit import MIN_FACES

    with pytest.raises(CalibrationError, match=f"at least {MIN_FACES} faces.*got 10"):
        fit_calibration(p, ages)


def test_no_stretch_of_the_cdf_loses_all_its_mass():
    """Calibration faces whose PIT never falls below 0.3: the empirical map is flat (zero) there, so a held-out
    face whose age lies in that tail would get probability 0. With PSEUDO_FACES uniform faces mixed in, its
    probability is at least k / (n + k) of the original one, worked out from the interpolation by hand."""
    ages = np.arange(61)
    base = np.exp(-0.5 * ((ages - 30) / 5.0) ** 2)
    base /= base.sum()
    n = 200
    posteriors = np.tile(base, (n, 1))
    true_ages = np.full(n, 33)  # F(32) ≈ 0.63: every PIT lies above 0.3
    cdf_map = fit_cdf_map(posteriors, true_ages)
    grid = np.linspace(0.0, 1.0, len(cdf_map))
    low = grid <= 0.3
    assert np.allclose(cdf_map[low], PSEUDO_FACES * grid[low] / (n + PSEUDO_FACES))
    recalibrated = apply_cdf_map(base[None, :], cdf_map)[0]
    assert recalibrated[20] >= PSEUDO_FACES / (n + PSEUDO_FACES) * base[20] * 0.999
    assert recalibrated[20] > 0


# ------------------------------------------------------------------------------------------ Mondrian bands
QUALITY_TRUTH = {0.1: 0.25, 0.3: 0.45, 0.6: 0.7, 0.9: 1.0}  # a quality in each band -> the model's over-confidence


def by_quality(n: int, seed: int):
    """True posteriors and ages; each face's quality falls in one of the four bands, and the model reports its
    posterior with that band's known over-confidence (T < 1: too sure; the poorer the picture, the surer)."""
    p, ages = truth(n, seed)
    rng = np.random.default_rng(seed + 100)
    quality = rng.choice(list(QUALITY_TRUTH), n) + rng.uniform(-0.05, 0.05, n)
    raw = np.empty_like(p)
    for centre, t in QUALITY_TRUTH.items():
        rows = np.abs(quality - centre) <= 0.05 + 1e-9
        raw[rows] = apply_temperature(p[rows], t)
    return raw, ages, quality


def test_mondrian_reaches_nominal_coverage_in_every_quality_band():
    raw_fit, ages_fit, q_fit = by_quality(8000, seed=11)
    raw_test, ages_test, q_test = by_quality(8000, seed=12)
    mondrian = fit_calibration(raw_fit, ages_fit, method="mondrian", quality=q_fit)
    pooled = fit_calibration(raw_fit, ages_fit, method="isotonic")
    assert mondrian.uses_quality and not pooled.uses_quality
    # the fitted band temperatures undo the known over-confidence (2,000 faces a band, shrunk by 50 pseudo-faces)
    for band, t in zip(mondrian.quality_bands, QUALITY_TRUTH.values()):
        assert band.temperature == pytest.approx(1 / t, rel=0.1)
    calibrated = mondrian.apply(raw_test, quality=q_test)
    worst_pooled = 0.0
    for centre in QUALITY_TRUTH:
        rows = np.abs(q_test - centre) <= 0.05 + 1e-9  # about 2,000 faces: standard error 0.7 points at 90%
        report = coverage_report(calibrated[rows], ages_test[rows])
        for level in (50, 80, 90, 95):
            assert report[f"coverage{level}"] == pytest.approx(level, abs=3.0), (centre, level, report)
        worst_pooled = max(worst_pooled, abs(coverage_report(pooled.apply(raw_test[rows]), ages_test[rows])
                                             ["coverage90"] - 90))
    assert worst_pooled > 8  # one map for all qualities is wrong for some band: the test can tell


def test_mondrian_age_bands_repair_a_model_that_underestimates_the_old():
    """Faces whose posterior centre lies above 60 are reported 8 years too young: the pooled map averages that
    error with everyone else's; the age band of the predicted mean corrects it."""
    def biased(n, seed):
        p, ages = truth(n, seed)
        old = p @ AGES > 60
        p[old] = np.roll(p[old], -8, axis=1)
        return p, ages, old

    raw_fit, ages_fit, _ = biased(12000, 13)
    raw_test, ages_test, old_test = biased(12000, 14)
    quality = np.ones(len(ages_fit))
    mondrian = fit_calibration(raw_fit, ages_fit, method="mondrian", quality=quality)
    pooled = fit_calibration(raw_fit, ages_fit, method="isotonic")
    test_quality = np.ones(len(ages_test))
    predicted_old = mondrian.apply(raw_test, quality=test_quality) @ AGES >= 55  # roughly the old faces
    assert abs(predicted_old.mean() - old_test.mean()) < 0.1
    after = coverage_report(mondrian.apply(raw_test, quality=test_quality)[old_test], ages_test[old_test])
    before = coverage_report(pooled.apply(raw_test)[old_test], ages_test[old_test])
    assert abs(before["coverage90"] - 90) > 6, before
    assert after["coverage90"] == pytest.approx(90, abs=3), after  # 3,000 old faces: standard error 0.5


def test_too_few_faces_for_a_map_fall_back_to_a_temperature_saying_so():
    from ageapp.core.calibration_fit import MIN_FACES, MIN_MAP_FACES

    p, ages = truth(MIN_MAP_FACES - 1, seed=15)
    small = fit_calibration(apply_temperature(p, 0.5), ages, method="isotonic")
    assert small.method == "temperature" and small.cdf_map is None
    assert str(MIN_MAP_FACES) in small.fallback and str(MIN_MAP_FACES - 1) in small.fallback
    assert small.fallback in small.describe()
    # degraded copies are not new faces: the rule counts distinct faces
    copies = fit_calibration(np.tile(p, (4, 1)), np.tile(ages, 4), method="mondrian",
                             quality=np.linspace(0, 1, 4 * len(ages)), faces=len(ages))
    assert copies.method == "temperature"
    enough = fit_calibration(*truth(MIN_MAP_FACES, seed=16), method="isotonic")
    assert enough.method == "isotonic" and not enough.fallback
    with pytest.raises(CalibrationError, match=f"at least {MIN_FACES}"):
        fit_calibration(*truth(MIN_FACES - 1, seed=17), method="temperature")


def test_a_mondrian_calibration_round_trips_and_needs_quality():
    raw, ages, quality = by_quality(1200, seed=18)
    calibration = fit_calibration(raw, ages, method="mondrian", quality=quality)
    again = Calibration.from_dict(calibration.to_dict())
    assert again == calibration
    assert np.allclose(again.apply(raw, quality=quality), calibration.apply(raw, quality=quality), atol=1e-9)
    with pytest.raises(CalibrationError, match="picture quality"):
        calibration.apply(raw)
    stored = calibration.to_dict()
    for bad, message in ((dict(stored, quality_bands=[{"low": 0.5}]), "start at 0"),
                         (dict(stored, quality_bands="x"), "quality bands"),
                         (dict(stored, quality_bands=[{"low": 0.0, "temperature": -2}]), "temperature"),
                         (dict(stored, quality_bands=[]), "without its quality bands"),
                         (dict(stored, age_bands=[{"low": 0.0}, {"low": 0.0}]), "increase"),
                         (dict(stored, conformal=[0.9, 0.95]), "conformal")):
        with pytest.raises(CalibrationError, match=message):
            Calibration.from_dict(bad)


def test_weights_count_faces_as_repeated_and_zero_weights_drop_them():
    """A weight of 2 is the same face twice; a weight of 0 leaves it out (the fit's definition, checked on the
    temperature, the map and the conformal levels)."""
    p, ages = truth(600, seed=19)
    raw = apply_temperature(p, 0.6)
    weights = np.where(np.arange(600) < 300, 2.0, 0.0)
    doubled = np.concatenate([raw[:300], raw[:300]]), np.concatenate([ages[:300], ages[:300]])
    # the two objectives agree to rounding, so their minimisers to about 1e-8 (a flat minimum)
    assert fit_temperature(raw, ages, weights=weights) == pytest.approx(fit_temperature(*doubled), rel=1e-6)
    assert np.allclose(fit_cdf_map(raw, ages, weights=weights), fit_cdf_map(*doubled), atol=1e-12)
    assert fit_temperature(raw, ages, weights=np.ones(600)) == pytest.approx(fit_temperature(raw, ages), rel=1e-6)
    unweighted = fit_conformal(raw, ages)
    assert fit_conformal(raw, ages, weights=np.ones(600)) == unweighted
    with pytest.raises(CalibrationError, match="weights"):
        fit_calibration(raw, ages, weights=np.zeros(600))


def test_reports_and_the_face_count_are_of_the_faces_themselves_not_their_copies():
    p, ages = truth(400, seed=20)
    raw = apply_temperature(p, 0.6)
    copies = apply_temperature(p, 0.3)  # "degraded" copies: much too sure
    clean = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    both = np.concatenate([raw, copies]), np.concatenate([ages, ages])
    calibration = fit_calibration(*both, method="isotonic", clean=clean, weights=np.r_[np.ones(400), np.ones(400)])
    assert (calibration.n, calibration.copies) == (400, 400)
    assert calibration.before == coverage_report(raw, ages)
    assert calibration.after == coverage_report(calibration.apply(raw), ages)
    with pytest.raises(CalibrationError, match="mask"):
        fit_calibration(*both, clean=np.zeros(800, bool))
