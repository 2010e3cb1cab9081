"""Targets: sum to 1, right mode and 90% interval; clipping; posteriors as they are."""

import numpy as np
import pytest

from ageapp.core.posterior import summarize
from trainer.targets import age_range_target, exact_age_target, make_target, posterior_target, target_age


def test_exact_age_gaussian():
    p = exact_age_target(30, 100)
    assert p.shape == (101,) and abs(p.sum() - 1) < 1e-12
    s = summarize(p)
    assert s.mode == 30 and abs(s.mean - 30) < 1e-9
    # sigma = 2: CDF(26) = Phi(-1.75) < 0.05 <= CDF(27), CDF(32) = Phi(1.25) < 0.95 <= CDF(33)
    assert (s.ci_low, s.ci_high) == (27, 33)
    assert p[31] / p[30] == pytest.approx(np.exp(-1 / 8))


def test_age_range_interval_is_the_range():
    p = age_range_target(25, 32, 100)
    s = summarize(p)
    assert abs(p.sum() - 1) < 1e-12
    assert (s.ci_low, s.ci_high) == (25, 32)
    assert s.mode in (28, 29)


def test_ages_above_the_top_clip():
    p = exact_age_target(116, 100)
    assert target_age(p) == 100 and p.shape == (101,)


def test_posterior_used_as_is_and_folded():
    q = np.zeros(71)
    q[[10, 11, 12]] = [0.2, 0.5, 0.3]
    np.testing.assert_allclose(make_target(70, posterior=q), q)
    folded = posterior_target(np.r_[np.zeros(60), [0.5] * 2, np.zeros(10)], 60)
    assert folded[60] == pytest.approx(1.0)


def test_make_target_prefers_posterior_then_age_then_range():
    assert target_age(make_target(70, age=20, age_min=20, age_max_label=20)) == 20
    assert target_age(make_target(70, age_min=0, age_max_label=2)) == 1
    with pytest.raises(ValueError):
        make_target(70)
