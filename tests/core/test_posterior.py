"""The comparison likelihood and posterior summaries (method.md section 1), checked against hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ageapp.core.posterior import (
    age_grid,
    credible_interval,
    credible_intervals,
    log_prob_outcome,
    normalize_log,
    ordinal_posterior_layer,
    posterior_from_comparisons,
    posterior_from_ordinal_outputs,
    summarize,
)

AGE_MAX = 100  # the default range (AGE_MAX_DEFAULT)


def sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def log_sigma(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x > -30 else x - math.log1p(math.exp(x))


comparisons = st.lists(
    st.tuples(st.integers(0, AGE_MAX), st.sampled_from([0, 1])), min_size=0, max_size=30
)


def test_one_older_answer_gives_the_normalised_sigmoid_curve():
    p = posterior_from_comparisons([30], [1], 0.36, AGE_MAX)
    curve = [sigma(0.36 * (a - 30)) for a in range(AGE_MAX + 1)]
    expected = [c / sum(curve) for c in curve]
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_one_younger_answer_mirrors_it():
    p = posterior_from_comparisons([30], [0], 0.36, AGE_MAX)
    curve = [sigma(0.36 * (30 - a)) for a in range(AGE_MAX + 1)]
    np.testing.assert_allclose(p, np.array(curve) / sum(curve), rtol=1e-12)


def test_cant_tell_adds_nothing():
    with_cant_tell = posterior_from_comparisons([30, 50, 20, 40], [1, None, 0, None], [0.36, 0.5, 0.36, 0.2])
    without = posterior_from_comparisons([30, 20], [1, 0], [0.36, 0.36])
    np.testing.assert_array_equal(with_cant_tell, without)
    np.testing.assert_allclose(posterior_from_comparisons([30], [None]), np.full(AGE_MAX + 1, 1 / (AGE_MAX + 1)), rtol=1e-14)


def python_posterior(references, outcomes, beta=0.36, age_max=AGE_MAX):
    """An independent, loop-by-loop implementation in plain floats (log space, then log-sum-exp)."""
    logs = [
        sum(log_sigma(beta * (a - k)) if c == 1 else log_sigma(beta * (k - a)) for k, c in zip(references, outcomes))
        for a in range(age_max + 1)
    ]
    top = max(logs)
    total = sum(math.exp(x - top) for x in logs)
    return [math.exp(x - top) / total for x in logs]


def test_two_hundred_contradictory_answers_do_not_underflow():
    # "older than 70" and "younger than 0", 100 times each: the naive product is 0 at every age.
    references = [70] * 100 + [0] * 100
    outcomes = [1] * 100 + [0] * 100
    naive = [
        math.prod(sigma(0.36 * (a - 70)) for _ in range(100)) * math.prod(sigma(0.36 * (0 - a)) for _ in range(100))
        for a in range(AGE_MAX + 1)
    ]
    assert max(naive) == 0.0
    p = posterior_from_comparisons(references, outcomes, 0.36, AGE_MAX)
    assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0)
    assert int(np.argmax(p)) == 35  # symmetric about 35
    np.testing.assert_allclose(p, python_posterior(references, outcomes), rtol=1e-9)


def test_two_hundred_consistent_answers_match_an_independent_computation():
    rng = np.random.default_rng(7)
    references = rng.integers(0, AGE_MAX + 1, 200).tolist()
    outcomes = [int(rng.random() < sigma(0.36 * (30 - k))) for k in references]  # a true age of 30
    p = posterior_from_comparisons(references, outcomes, 0.36, AGE_MAX)
    np.testing.assert_allclose(p, python_posterior(references, outcomes), rtol=1e-8, atol=1e-300)
    assert abs(summarize(p).mode - 30) <= 2 and summarize(p).ci_width <= 6


@settings(max_examples=60, deadline=None)
@given(comparisons)
def test_posterior_is_normalised(pairs):
    p = posterior_from_comparisons([k for k, _ in pairs], [c for _, c in pairs])
    assert p.shape == (AGE_MAX + 1,)
    assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(comparisons, st.randoms(use_true_random=False))
def test_answers_are_order_independent(pairs, random):
    shuffled = list(pairs)
    random.shuffle(shuffled)
    p = posterior_from_comparisons([k for k, _ in pairs], [c for _, c in pairs])
    q = posterior_from_comparisons([k for k, _ in shuffled], [c for _, c in shuffled])
    np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-300)


@settings(max_examples=60, deadline=None)
@given(comparisons, st.integers(0, AGE_MAX))
def test_an_older_answer_never_lowers_the_mean(pairs, k):
    before = summarize(posterior_from_comparisons([r for r, _ in pairs], [c for _, c in pairs])).mean
    after = summarize(posterior_from_comparisons([r for r, _ in pairs] + [k], [c for _, c in pairs] + [1])).mean
    assert after >= before - 1e-9


def test_log_prob_outcome_is_the_logistic_likelihood_and_rejects_other_outcomes():
    assert math.exp(log_prob_outcome(40, 30, 1, 0.36)) == pytest.approx(sigma(3.6))
    assert math.exp(log_prob_outcome(40, 30, 0, 0.36)) == pytest.approx(sigma(-3.6))
    with pytest.raises(ValueError):
        log_prob_outcome(40, 30, 2, 0.36)
    with pytest.raises(ValueError):
        posterior_from_comparisons([30], [2])


def test_interval_of_a_hand_worked_distribution():
    p = np.zeros(AGE_MAX + 1)
    p[[10, 11, 12, 13]] = [0.04, 0.02, 0.90, 0.04]  # CDF 0.04, 0.06, 0.96, 1.0
    assert credible_interval(p) == (11, 12)
    s = summarize(p)
    assert (s.mode, s.median, s.ci_low, s.ci_high, s.ci_width) == (12, 12, 11, 12, 1)
    assert s.mean == pytest.approx(10 * 0.04 + 11 * 0.02 + 12 * 0.9 + 13 * 0.04)


def test_interval_of_a_uniform_distribution_holds_exactly_its_mass():
    p = np.zeros(AGE_MAX + 1)
    p[:20] = 0.05  # mid-CDF M(a) = 0.05 a + 0.025: 0.075 >= 0.05 first at age 1; 0.925 <= 0.95 last at 18
    assert credible_interval(p) == (1, 18)  # 18 ages of 0.05: exactly 90% of the mass
    assert credible_interval(p, 0.5) == (5, 14)  # M(5) = 0.275 >= 0.25, M(14) = 0.725 <= 0.75: 10 ages, 50%


def test_interval_of_a_point_mass_is_that_age():
    p = np.zeros(AGE_MAX + 1)
    p[33] = 1.0
    assert credible_interval(p) == (33, 33)
    assert credible_interval(p, 0.5) == (33, 33)


@pytest.mark.parametrize("top, width, flagged", [(17, 15, False), (18, 16, True)])
def test_outlier_flag_is_width_above_15(top, width, flagged):
    p = np.zeros(AGE_MAX + 1)
    # uniform on 0..top, n = top + 1 ages: M(a) = (a + 0.5) / n; the interval is [1, top - 1] for n = 18, 19
    p[: top + 1] = 1.0 / (top + 1)
    s = summarize(p)
    assert (s.ci_low, s.ci_width, s.flagged) == (1, width, flagged)


def test_a_calibrated_posterior_covers_its_nominal_share_where_the_plain_rule_over_covers():
    """True ages drawn from the posteriors themselves (perfect calibration), about 15 years wide at 90%."""
    rng = np.random.default_rng(0)
    ages = np.arange(101)
    centres, spreads = rng.uniform(15, 70, 6000), rng.uniform(2, 6, 6000)
    p = np.exp(-0.5 * ((ages[None] - centres[:, None]) / spreads[:, None]) ** 2)
    p /= p.sum(axis=1, keepdims=True)
    cdf = np.cumsum(p, axis=1)
    true = (rng.random(6000)[:, None] > cdf).sum(axis=1)  # inverse-CDF sampling
    for mass in (0.5, 0.8, 0.9, 0.95):
        low, high = credible_intervals(p, mass)
        assert np.mean((low <= true) & (true <= high)) == pytest.approx(mass, abs=0.015)
    # the plain rule (smallest age with CDF >= 0.25 .. smallest with CDF >= 0.75) covers about 58% at 50%
    plain_low, plain_high = np.argmax(cdf >= 0.25, axis=1), np.argmax(cdf >= 0.75, axis=1)
    assert np.mean((plain_low <= true) & (true <= plain_high)) > 0.55


def test_batched_helpers_match_row_by_row():
    rng = np.random.default_rng(3)
    log_p = rng.normal(0, 20, size=(5, AGE_MAX + 1))
    rows = normalize_log(log_p)
    for row, original in zip(rows, log_p):
        np.testing.assert_allclose(row, normalize_log(original))
    low, high = credible_intervals(np.exp(rows))
    assert [credible_interval(np.exp(r)) for r in rows] == list(zip(low.tolist(), high.tolist()))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=AGE_MAX, max_size=AGE_MAX), st.sampled_from([0.1, 0.36, 1.0]))
def test_ordinal_layer_softmax_equals_the_term_by_term_route(f, beta):
    weight, bias = ordinal_posterior_layer(AGE_MAX, beta)
    assert weight.shape == (AGE_MAX, AGE_MAX + 1) and bias.shape == (AGE_MAX + 1,)
    np.testing.assert_allclose(softmax(np.array(f) @ weight + bias), posterior_from_ordinal_outputs(f, AGE_MAX, beta), rtol=1e-9, atol=1e-300)


def test_binary_ordinal_outputs_are_comparisons_against_ages_one_to_k():
    f = [1.0] * 25 + [0.0] * (AGE_MAX - 25)  # older than 1..25, younger than 26..70
    expected = posterior_from_comparisons(list(range(1, AGE_MAX + 1)), [int(x) for x in f], 0.36, AGE_MAX)
    np.testing.assert_allclose(posterior_from_ordinal_outputs(f, AGE_MAX), expected, rtol=1e-9)


def test_all_ones_put_the_mass_at_the_top_ages():
    p = posterior_from_ordinal_outputs(np.ones(AGE_MAX), AGE_MAX)
    assert int(np.argmax(p)) == AGE_MAX
    assert np.all(np.diff(p) >= 0)  # non-decreasing all the way up (the youngest ages underflow to 0)
    assert p[-5:].sum() > 0.5


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 0.9), min_size=AGE_MAX, max_size=AGE_MAX),
    st.integers(0, AGE_MAX - 1),
    st.floats(0.01, 0.1),
)
def test_raising_an_ordinal_output_moves_the_posterior_up(f, k, raise_by):
    raised = list(f)
    raised[k] += raise_by
    before = posterior_from_ordinal_outputs(f, AGE_MAX)
    after = posterior_from_ordinal_outputs(raised, AGE_MAX)
    ages = age_grid(AGE_MAX)
    assert after @ ages > before @ ages
    assert np.all(np.cumsum(after) <= np.cumsum(before) + 1e-12)  # stochastically larger, not just the mean
