"""Metrics (method.md section 4) on hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ageapp.core.metrics import (
    adience_accuracy,
    adience_group,
    cumulative_accuracy,
    cumulative_score,
    interval_coverage,
    mae,
    mean_interval_width,
    negative_log_likelihood,
    posterior_report,
)

ESTIMATES = [10, 20, 33, 45]
TRUE = [12, 20, 30, 40]  # errors 2, 0, 3, 5


def test_mae():
    assert mae(ESTIMATES, TRUE) == pytest.approx(10 / 4)


def test_ca_counts_strictly_below_and_cs_at_most():
    assert cumulative_accuracy(ESTIMATES, TRUE, 3) == pytest.approx(50.0)  # 2 and 0
    assert cumulative_score(ESTIMATES, TRUE, 3) == pytest.approx(75.0)  # 2, 0 and 3
    assert cumulative_accuracy(ESTIMATES, TRUE, 5) == pytest.approx(75.0)
    assert cumulative_score(ESTIMATES, TRUE, 5) == pytest.approx(100.0)


def test_metrics_reject_mismatched_inputs():
    with pytest.raises(ValueError):
        mae([1, 2], [1])
    with pytest.raises(ValueError):
        mae([], [])


@pytest.mark.parametrize(
    "estimate, group",
    [
        (-3, 0), (1, 0), (3, 0), (3.01, 1), (5, 1), (7, 1), (7.5, 2), (14, 2), (14.5, 3), (22.5, 3),
        (23, 4), (35, 4), (36, 5), (45.5, 5), (46, 6), (56.5, 6), (57, 7), (90, 7), (120, 7),
    ],
)
def test_adience_nearest_group_ties_go_to_the_younger(estimate, group):
    # Gaps between groups: 3 | 7 | 14 | 21-24 (midpoint 22.5) | 33-37 (35) | 44-47 (45.5) | 54-59 (56.5).
    assert adience_group([estimate])[0] == group


def test_adience_exact_and_one_off():
    # nearest groups 0, 2, 4, 7 against true 0, 3, 4, 5: off by 0, 1, 0, 2
    exact, one_off = adience_accuracy([1, 10, 30, 70], [0, 3, 4, 5])
    assert (exact, one_off) == (pytest.approx(50.0), pytest.approx(75.0))


def uniform(low, high, age_max=70):
    p = np.zeros(age_max + 1)
    p[low : high + 1] = 1.0 / (high - low + 1)
    return p


def test_interval_coverage_and_width():
    first = uniform(0, 19)  # 90% interval [1, 18]: mid-CDF 0.05 a + 0.025 (18 ages, 90% of the mass)
    second = uniform(30, 30)  # [30, 30]
    posteriors = np.stack([first, first, second, second])
    assert interval_coverage(posteriors, [18, 19, 30, 31]) == pytest.approx(50.0)
    assert mean_interval_width(posteriors) == pytest.approx((17 + 17 + 0 + 0) / 4)


def test_nll_of_the_true_age():
    p = np.zeros((2, 71))
    p[0, [10, 11, 12, 13]] = 0.25
    p[1, [40, 41]] = 0.5
    assert negative_log_likelihood(p, [12, 41]) == pytest.approx((math.log(4) + math.log(2)) / 2)
    assert math.isfinite(negative_log_likelihood(p, [0, 41]))  # zero probability: large but finite
    with pytest.raises(ValueError):
        negative_log_likelihood(p, [12, 71])  # off the grid


def test_posterior_report_on_point_masses_and_a_hand_worked_case():
    perfect = np.eye(71)[[5, 30, 60]]
    report = posterior_report(perfect, [5, 30, 60])
    assert report["mae_mean"] == report["mae_mode"] == 0.0
    assert report["coverage90"] == 100.0 and report["mean_interval_width"] == 0.0 and report["nll"] == 0.0
    skewed = np.zeros((1, 71))
    skewed[0, [20, 30]] = [0.6, 0.4]  # mode 20, mean 24
    report = posterior_report(skewed, [25])
    assert (report["mae_mode"], report["mae_mean"]) == (pytest.approx(5.0), pytest.approx(1.0))
    assert report["ca3"] == report["cs3"] == 100.0  # point estimate: the mean, 1 year off
    assert report["nll"] == pytest.approx(-math.log(np.finfo(np.float64).tiny))  # P(25) = 0
