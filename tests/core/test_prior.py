"""The prior of the comparison posterior (ageapp.core.prior): prior × likelihood, tempering, the range, and the
simulator with a synthetic model whose posterior is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ageapp.core.posterior import normalize_log, posterior_from_comparisons
from ageapp.core.prior import (
    PRIOR_FLOOR,
    describe_prior,
    model_log_prior,
    on_range,
    tempered_log_prior,
)
from ageapp.core.selection import (
    ACTIVE,
    PAPER,
    Protocol,
    ReferencePool,
    ShownComparison,
    is_finished,
)
from ageapp.core.simulate import coverage90, simulate_protocol


def test_prior_times_likelihood_against_a_hand_worked_case():
    # Ages 0, 1, 2; prior 0.2, 0.3, 0.5; "older than the 1-year-old" with β = ln 3, so that
    # σ(β (a − 1)) = 1/4, 1/2, 3/4. Posterior ∝ 0.05, 0.15, 0.375 = 2/23, 6/23, 15/23.
    prior = np.array([0.2, 0.3, 0.5])
    p = posterior_from_comparisons([1], [1], math.log(3), age_max=2, log_prior=tempered_log_prior(prior, 1.0))
    np.testing.assert_allclose(p, [2 / 23, 6 / 23, 15 / 23], rtol=1e-12)
    # Tempered by 1/2: the prior is √0.2, √0.3, √0.5 renormalised, then the same likelihood.
    half = posterior_from_comparisons([1], [1], math.log(3), age_max=2, log_prior=tempered_log_prior(prior, 0.5))
    expected = np.sqrt(prior) * [0.25, 0.5, 0.75]
    np.testing.assert_allclose(half, expected / expected.sum(), rtol=1e-12)


def test_power_zero_is_the_uniform_prior():
    prior = np.array([0.7, 0.2, 0.1, 0.0])
    log_prior = tempered_log_prior(prior, 0.0)
    np.testing.assert_array_equal(log_prior, np.full(4, -math.log(4)))
    with_prior = posterior_from_comparisons([1, 2], [1, 0], 0.36, age_max=3, log_prior=log_prior)
    uniform = posterior_from_comparisons([1, 2], [1, 0], 0.36, age_max=3)
    np.testing.assert_allclose(with_prior, uniform, rtol=1e-14)


def test_tempering_widens_and_a_zero_never_rules_an_age_out():
    prior = np.array([0.0, 0.1, 0.8, 0.1])
    full = np.exp(tempered_log_prior(prior, 1.0))
    assert full[0] == pytest.approx(PRIOR_FLOOR / (1 + PRIOR_FLOOR))
    assert np.exp(tempered_log_prior(prior, 0.3))[2] < full[2]  # a lower power: less sure
    with pytest.raises(ValueError, match="between 0 and 1"):
        tempered_log_prior(prior, 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        tempered_log_prior(prior, float("nan"))


def test_a_model_range_is_put_onto_the_projects():
    # Wider model (0..4) onto 0..2: ages 3 and 4 fold into 2 ("2 or older").
    np.testing.assert_allclose(on_range([0.1, 0.2, 0.3, 0.25, 0.15], 2), [0.1, 0.2, 0.7])
    # Narrower model (0..2) onto 0..4: its last age ("2 or older") spreads over 2, 3, 4.
    np.testing.assert_allclose(on_range([0.4, 0.3, 0.3], 4), [0.4, 0.3, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(on_range(np.array([[1.0, 1.0, 2.0]]), 2), [[0.25, 0.25, 0.5]])
    with pytest.raises(ValueError, match="some mass"):
        on_range([0.0, 0.0], 1)
    np.testing.assert_allclose(np.exp(model_log_prior([0.0, 1.0, 3.0], 1.0, 2)),
                               np.array([PRIOR_FLOOR, 0.25, 0.75]) / (1 + PRIOR_FLOOR))


def test_describe_prior():
    assert describe_prior("uniform") == "uniform"
    assert describe_prior("model", 0.5, "default.onnx") == "model default.onnx ^0.5"


def test_is_finished_under_the_prior_needs_one_comparison():
    protocol = Protocol(ACTIVE, target_width=8, max_comparisons=12)
    sure = np.zeros(101)
    sure[40] = 1.0  # a model sure of 40: narrow enough by itself
    log_prior = tempered_log_prior(sure, 1.0)
    assert not is_finished(protocol, [], 100, log_prior)  # still one comparison: the labeller's word
    shown = [ShownComparison(1, 40.0, 1)]
    assert is_finished(protocol, shown, 100, log_prior)
    assert not is_finished(protocol, shown, 100)  # the uniform prior: one answer is far from 8 years


# ----------------------------------------------------------------------------- the simulator with a prior
@pytest.fixture
def setup():
    rng = np.random.default_rng(5)
    pool = ReferencePool.build(np.arange(300), rng.integers(0, 71, 300))
    ages = rng.integers(2, 69, 300)
    return pool, ages, np.full(len(ages), -1)


def _gaussian_priors(centres, sd, age_max=100):
    grid = np.arange(age_max + 1)
    p = np.exp(-0.5 * ((grid[None, :] - np.asarray(centres)[:, None]) / sd) ** 2)
    return p / p.sum(axis=1, keepdims=True)


def test_a_synthetic_model_sure_of_the_true_age_needs_one_comparison(setup):
    pool, ages, genders = setup
    model = _gaussian_priors(ages, 1.0)  # a model whose posterior is known: centred on the truth, 90% width < 8
    assert coverage90(model, ages) == 1.0
    result = simulate_protocol(ages, genders, pool, Protocol(ACTIVE), seed=0,
                               log_priors=model_log_prior(model, 1.0, 100))
    np.testing.assert_array_equal(result.comparisons, np.ones(len(ages)))
    assert result.summary()["coverage90"] == 1.0
    # The likelihood-only posterior is the one answer under the uniform prior, nothing of the model's: a single
    # logistic step, monotone over the ages (rising for "older", falling for "younger").
    steps = np.diff(result.likelihood_posteriors, axis=1)
    assert np.all((steps >= -1e-15).all(axis=1) | (steps <= 1e-15).all(axis=1))


def test_a_synthetic_model_prior_saves_comparisons_and_power_zero_changes_nothing(setup):
    pool, ages, genders = setup
    shifted = _gaussian_priors(ages + np.random.default_rng(1).normal(0, 4, len(ages)), 4.0)
    uniform = simulate_protocol(ages, genders, pool, Protocol(ACTIVE), seed=0)
    informed = simulate_protocol(ages, genders, pool, Protocol(ACTIVE), seed=0,
                                 log_priors=model_log_prior(shifted, 1.0, 100))
    assert informed.comparisons.mean() < 0.8 * uniform.comparisons.mean()
    zero = simulate_protocol(ages, genders, pool, Protocol(ACTIVE), seed=0,
                             log_priors=model_log_prior(shifted, 0.0, 100))
    np.testing.assert_array_equal(zero.comparisons, uniform.comparisons)
    np.testing.assert_allclose(zero.posteriors, uniform.posteriors, atol=1e-12)


def test_paper_protocol_takes_the_models_estimate(setup):
    pool, ages, genders = setup
    model = _gaussian_priors(ages, 1.0)
    result = simulate_protocol(ages, genders, pool, Protocol(PAPER), seed=0,
                               log_priors=model_log_prior(model, 1.0, 100))
    assert result.comparisons.max() == 6
    with pytest.raises(ValueError, match="log_priors"):
        simulate_protocol(ages, genders, pool, Protocol(PAPER), log_priors=np.zeros((3, 101)))


def test_uniform_log_prior_row_gives_the_same_posteriors_as_none():
    # The store's "uniform" path passes no prior at all; this pins that an all-equal prior is the same thing.
    p = posterior_from_comparisons([30, 50], [1, 0], 0.36, 100, log_prior=normalize_log(np.zeros(101)))
    np.testing.assert_allclose(p, posterior_from_comparisons([30, 50], [1, 0], 0.36, 100), rtol=1e-13)
