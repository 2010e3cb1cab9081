"""Gold comparisons and the per-annotator beta fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ageapp.core.annotators import (
    BETA_BOUNDS,
    GoldAnswer,
    choose_gold_pair,
    fit_beta,
    fit_betas,
    is_gold_turn,
)
from ageapp.core.selection import ReferencePool


def sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.fixture
def pool() -> ReferencePool:
    rng = np.random.default_rng(0)
    return ReferencePool.build(np.arange(1000), rng.integers(0, 70, 1000))


def simulate_gold(pool, beta, n, rng):
    pairs = [choose_gold_pair(pool, rng) for _ in range(n)]
    first = pool.ages[[p[0] for p in pairs]]
    second = pool.ages[[p[1] for p in pairs]]
    older = [bool(rng.random() < sigma(beta * (a1 - a2))) for a1, a2 in zip(first, second)]
    return first, second, older


@pytest.mark.parametrize("beta", [0.36, 0.8])
def test_fit_recovers_a_known_beta_from_2000_answers(pool, beta):
    first, second, older = simulate_gold(pool, beta, 2000, np.random.default_rng(1))
    assert fit_beta(first, second, older) == pytest.approx(beta, abs=0.05)


def log_likelihood(beta, first, second, older):
    return sum(math.log(sigma(beta * (a - b)) if y else sigma(beta * (b - a))) for a, b, y in zip(first, second, older))


def test_fit_is_the_likelihood_maximum(pool):
    first, second, older = simulate_gold(pool, 0.5, 300, np.random.default_rng(2))
    fitted = fit_beta(first, second, older)
    best = log_likelihood(fitted, first, second, older)
    for step in (0.01, 0.001):
        assert best >= log_likelihood(fitted + step, first, second, older)
        assert best >= log_likelihood(fitted - step, first, second, older)


def test_default_until_enough_answers_and_cant_tell_does_not_count():
    first, second = [40.0] * 19, [30.0] * 19
    assert fit_beta(first, second, [True] * 19) == 0.36
    assert fit_beta(first + [40.0], second + [30.0], [True] * 19 + [None]) == 0.36
    assert fit_beta(first + [40.0], second + [30.0], [True] * 20) != 0.36


def test_cant_tell_answers_leave_the_fit_unchanged(pool):
    first, second, older = simulate_gold(pool, 0.36, 200, np.random.default_rng(3))
    with_cant_tell = fit_beta(list(first) + [50, 10], list(second) + [20, 60], older + [None, None])
    assert with_cant_tell == fit_beta(first, second, older)


def test_consistent_and_contrary_annotators_hit_the_bounds():
    first, second = [40.0, 20.0] * 15, [30.0, 35.0] * 15
    always_right = [a > b for a, b in zip(first, second)]
    always_wrong = [not y for y in always_right]
    assert fit_beta(first, second, always_right) == BETA_BOUNDS[1]
    assert fit_beta(first, second, always_wrong) == BETA_BOUNDS[0]


def test_each_annotator_is_fitted_from_their_own_answers(pool):
    rng = np.random.default_rng(4)
    answers = []
    for annotator, beta in (("careful", 1.0), ("hasty", 0.15)):
        first, second, older = simulate_gold(pool, beta, 2000, rng)
        answers += [GoldAnswer(annotator, a, b, y) for a, b, y in zip(first, second, older)]
    answers.append(GoldAnswer("new", 40, 30, True))
    betas = fit_betas(answers)
    assert betas["careful"] == pytest.approx(1.0, abs=0.1)
    assert betas["hasty"] == pytest.approx(0.15, abs=0.05)
    assert betas["new"] == 0.36
    careful_alone = fit_betas(a for a in answers if a.annotator == "careful")["careful"]
    assert betas["careful"] == careful_alone


def test_gold_pairs_spread_their_age_gaps(pool):
    rng = np.random.default_rng(5)
    pairs = [choose_gold_pair(pool, rng) for _ in range(2000)]
    first = pool.ages[[p[0] for p in pairs]]
    second = pool.ages[[p[1] for p in pairs]]
    gaps = np.abs(first - second)
    assert set(gaps.astype(int).tolist()) == set(range(1, 21))  # every gap 1..20, nothing else
    assert np.bincount(gaps.astype(int))[1:].min() > 50  # roughly uniform over gaps (100 each expected)
    assert 0.45 < np.mean(first > second) < 0.55  # the older face is first about half the time
    assert all(p[0] != p[1] for p in pairs)


def test_no_gold_pair_without_a_usable_gap():
    rng = np.random.default_rng(6)
    assert choose_gold_pair(ReferencePool.build([1, 2, 3], [30, 30, 30]), rng) is None
    assert choose_gold_pair(ReferencePool.build([1, 2], [10, 50]), rng) is None  # gap 40 > 20
    assert set(choose_gold_pair(ReferencePool.build([1, 2], [10, 25]), rng)) == {1, 2}


def test_gold_turns_come_at_the_configured_rate():
    rng = np.random.default_rng(7)
    turns = [is_gold_turn(rng) for _ in range(20_000)]
    assert np.mean(turns) == pytest.approx(0.1, abs=0.01)
    assert not any(is_gold_turn(rng, rate=0.0) for _ in range(1000))
