"""The simulated annotator and the batched protocol runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ageapp.core.posterior import summarize
from ageapp.core.selection import (
    ACTIVE,
    PAPER,
    Protocol,
    ReferencePool,
    ShownComparison,
    is_finished,
    next_reference,
    query_posterior,
)
from ageapp.core.simulate import simulate_protocol, simulated_answers


def test_simulated_annotator_answers_with_the_logistic_probability():
    rng = np.random.default_rng(0)
    answers = simulated_answers(np.full(40_000, 40), np.full(40_000, 30), 0.36, rng)
    assert set(np.unique(answers)) == {0, 1}
    assert answers.mean() == pytest.approx(1 / (1 + math.exp(-3.6)), abs=0.005)


@pytest.fixture
def pool() -> ReferencePool:
    rng = np.random.default_rng(1)
    return ReferencePool.build(np.arange(400), rng.integers(0, 71, 400), rng.integers(0, 2, 400))


@pytest.fixture
def queries():
    rng = np.random.default_rng(2)
    return rng.integers(1, 71, 600), rng.integers(0, 2, 600)


def test_same_seed_same_result_other_seed_other_result(pool, queries):
    protocol = Protocol(ACTIVE, max_comparisons=6)
    first = simulate_protocol(*queries, pool, protocol, seed=3)
    again = simulate_protocol(*queries, pool, protocol, seed=3)
    np.testing.assert_array_equal(first.posteriors, again.posteriors)
    assert first.summary() == again.summary()
    other = simulate_protocol(*queries, pool, protocol, seed=4)
    assert not np.array_equal(first.posteriors, other.posteriors)


def test_paper_shows_its_count_and_active_obeys_its_stopping_rule(pool, queries):
    paper = simulate_protocol(*queries, pool, Protocol(PAPER, comparisons=6), seed=0)
    assert np.all(paper.comparisons == 6)
    protocol = Protocol(ACTIVE, target_width=8, max_comparisons=9)
    active = simulate_protocol(*queries, pool, protocol, seed=0)
    assert np.all(active.comparisons <= 9)
    # each query stopped because its interval was narrow enough, it used them all, or it lies beyond the
    # references (BEYOND_STOP of its posterior past the oldest or youngest), and not earlier
    assert np.all((active.ci_width <= 8) | (active.comparisons == 9) | (active.beyond != 0))
    np.testing.assert_array_equal(paper.true_ages, active.true_ages)


def test_active_beats_paper_at_the_same_budget(pool, queries):
    paper = simulate_protocol(*queries, pool, Protocol(PAPER, comparisons=6), seed=0).summary()
    active = simulate_protocol(*queries, pool, Protocol(ACTIVE, max_comparisons=6), seed=0).summary()
    assert active["median_ci_width"] < paper["median_ci_width"]
    assert active["mae_mode"] < paper["mae_mode"]
    assert active["mean_comparisons"] <= paper["mean_comparisons"]


def test_summary_by_hand():
    pool = ReferencePool.build([0], [30.0])
    result = simulate_protocol([20, 50], [-1, -1], pool, Protocol(PAPER, comparisons=1), seed=0)
    s = result.summary()
    # one comparison each against the only reference (30): wide intervals, one comparison each, and each
    # posterior mostly beyond that reference (younger than 30 for the 20-year-old, older for the other), so
    # neither is flagged: what they need is references beyond 30, not more answers
    assert s["n_queries"] == 2 and s["mean_comparisons"] == 1.0 and s["n_above_range"] == 0
    assert s["frac_beyond"] == 1.0 and s["frac_flagged"] == 0.0 and s["frac_ci_below_8"] == 0.0
    assert result.beyond.tolist() in ([-1, 1], [1, -1], [-1, -1], [1, 1])
    modes = np.argmax(result.posteriors, axis=1)
    assert s["mae_mode"] == pytest.approx(np.mean(np.abs(modes - [20, 50])))
    assert set(modes.tolist()) <= {0, 100}  # a single answer puts the mode at an end


def test_batched_active_run_is_the_ui_loop():
    # Half-year reference ages and a steep slope make every answer certain and every choice unique,
    # so the batched simulation and the one-query UI loop must make exactly the same moves.
    beta = 40.0
    pool = ReferencePool.build(np.arange(70), np.arange(70) + 0.5)
    protocol = Protocol(ACTIVE, target_width=2, max_comparisons=12)
    true_ages = [3, 27, 64]
    batch = simulate_protocol(true_ages, [-1, -1, -1], pool, protocol, beta=beta, seed=0)
    rng = np.random.default_rng(0)
    for row, true_age in enumerate(true_ages):
        shown = []
        while not is_finished(protocol, shown):
            ref = next_reference(protocol, pool, shown, None, rng, beta=beta)
            age = float(pool.ages[ref])
            shown.append(ShownComparison(ref, age, int(true_age > age), beta))
        assert batch.comparisons[row] == len(shown)
        np.testing.assert_allclose(batch.posteriors[row], query_posterior(shown), atol=1e-12)
        summary = summarize(batch.posteriors[row])
        assert summary.ci_low <= true_age <= summary.ci_high and summary.ci_width <= 2
