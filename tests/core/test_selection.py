"""Reference choice (method.md section 2): information gain, the paper and active rules, the UI API."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ageapp.core.posterior import posterior_from_comparisons, summarize
from ageapp.core.selection import (
    ACTIVE,
    PAPER,
    Protocol,
    ReferencePool,
    ShownComparison,
    information_gain,
    is_finished,
    next_reference,
    pick_active,
    pick_paper,
    query_posterior,
)


def sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def brute_force_information(p, k, beta):
    """I(C; a) as the KL divergence of the joint P(a, c) from P(a) P(c), by explicit sums over (a, c)."""
    joint = {(a, c): p[a] * (sigma(beta * (a - k)) if c == 1 else sigma(beta * (k - a))) for a in range(len(p)) for c in (0, 1)}
    p_c = {c: sum(joint[a, c] for a in range(len(p))) for c in (0, 1)}
    # v / p[a] / p_c[c], not v / (p[a] * p_c[c]): the product underflows to 0 for a subnormal p[a] (5e-324)
    return sum(v * math.log(v / p[a] / p_c[c]) for (a, c), v in joint.items() if v > 0)


posteriors = st.lists(st.floats(0.0, 1.0), min_size=11, max_size=11).filter(lambda w: sum(w) > 1e-3)


@settings(max_examples=60, deadline=None)
@given(posteriors, st.lists(st.integers(-5, 15), min_size=1, max_size=6), st.sampled_from([0.1, 0.36, 2.0]))
def test_information_gain_matches_brute_force(weights, reference_ages, beta):
    p = np.array(weights) / sum(weights)
    gains = information_gain(p, np.array(reference_ages), beta)
    expected = [brute_force_information(p.tolist(), k, beta) for k in reference_ages]
    np.testing.assert_allclose(gains, expected, atol=1e-12)


def test_information_gain_is_batched_and_zero_for_a_known_age():
    certain = np.zeros(71)
    certain[30] = 1.0
    uniform = np.full(71, 1 / 71)
    gains = information_gain(np.stack([certain, uniform]), np.array([10.0, 35.0, 60.0]), 0.36)
    assert gains.shape == (2, 3)
    np.testing.assert_allclose(gains[0], 0.0, atol=1e-12)  # nothing left to learn
    assert np.argmax(gains[1]) == 1  # the middle splits a uniform posterior best


def pool_of(ages, genders=None):
    return ReferencePool.build(np.arange(len(ages)), ages, genders)


def test_active_picks_the_most_informative_available_age():
    rng = np.random.default_rng(0)
    ages = np.array([5.0, 20, 20, 35, 50, 65])
    p = posterior_from_comparisons([10, 30], [1, 0])  # between 10 and 30
    brute = {age: brute_force_information(p.tolist(), age, 0.36) for age in set(ages.tolist())}
    assert max(brute, key=brute.get) == 20
    available = np.ones((1, len(ages)), dtype=bool)
    assert ages[pick_active(p[None, :], ages, available, 0.36, rng)[0]] == 20
    available[0, [1, 2]] = False  # both 20s already shown: the next best age
    second = max((a for a in brute if a != 20), key=brute.get)
    assert ages[pick_active(p[None, :], ages, available, 0.36, rng)[0]] == second
    assert pick_active(p[None, :], ages, np.zeros_like(available), 0.36, rng)[0] == -1


def test_active_draws_uniformly_among_references_of_the_best_age():
    pool = pool_of([5, 35, 35, 35, 65])  # a uniform posterior is split best at 35
    rng = np.random.default_rng(1)
    picks = [next_reference(Protocol(ACTIVE), pool, [], None, rng) for _ in range(600)]
    counts = np.bincount(picks, minlength=5)
    assert counts[0] == counts[4] == 0
    assert all(150 < c < 250 for c in counts[1:4])


def run_to_exhaustion(protocol, pool, query_gender, estimate=None, seed=0):
    rng = np.random.default_rng(seed)
    shown = []
    while (ref := next_reference(protocol, pool, shown, query_gender, rng, estimate=estimate)) is not None:
        age = float(pool.ages[pool.ids == ref][0])
        shown.append(ShownComparison(ref, age, int(rng.random() < 0.5)))
    return [c.reference_id for c in shown]


@pytest.mark.parametrize("policy", [PAPER, ACTIVE])
def test_never_twice_and_same_gender(policy):
    rng = np.random.default_rng(2)
    genders = [0] * 10 + [1] * 10 + [None] * 5
    pool = pool_of(rng.integers(0, 70, 25), genders)
    protocol = Protocol(policy, comparisons=100, target_width=0, max_comparisons=100)
    shown = run_to_exhaustion(protocol, pool, query_gender=1, estimate=30)
    assert len(shown) == len(set(shown))  # never twice
    assert sorted(shown) == list(range(10, 25))  # every female or unknown reference, no male one
    assert sorted(run_to_exhaustion(protocol, pool, query_gender=None, estimate=30)) == list(range(25))


def test_paper_three_younger_three_older_than_the_estimate():
    rng = np.random.default_rng(3)
    pool = pool_of(np.arange(0, 70), [0, 1] * 35)  # ages 0..69, alternating gender
    protocol = Protocol(PAPER)
    for trial in range(50):
        shown = []
        while not is_finished(protocol, shown):
            ref = next_reference(protocol, pool, shown, 1, rng, estimate=30.5)
            shown.append(ShownComparison(ref, float(pool.ages[ref]), 1))
        ages = [c.reference_age for c in shown]
        assert sum(a < 30.5 for a in ages) == 3 and sum(a > 30.5 for a in ages) == 3
        assert all(pool.genders[c.reference_id] == 1 for c in shown)


def test_paper_estimate_defaults_to_the_reference_median():
    pool = pool_of([10, 20, 30, 40, 50, 60, 70, 80])  # median 45
    rng = np.random.default_rng(4)
    shown = []
    while not is_finished(Protocol(PAPER), shown):
        ref = next_reference(Protocol(PAPER), pool, shown, None, rng)
        shown.append(ShownComparison(ref, float(pool.ages[ref]), 0))
    ages = sorted(c.reference_age for c in shown)
    assert sum(a < 45 for a in ages) == 3 and sum(a > 45 for a in ages) == 3


def test_paper_fills_a_short_side_from_the_other():
    ages = np.array([0.0, 10, 20, 30, 40, 50, 60])
    rng = np.random.default_rng(5)
    plan = pick_paper(np.array([2.0, 80.0]), ages, np.ones((2, 7), dtype=bool), np.array([3, 3]), np.array([3, 3]), rng)
    for row in plan:
        assert len(set(row.tolist())) == 6 and np.all(row >= 0)
    assert 0 in plan[0]  # the only younger reference
    assert sorted(plan[1]) == [1, 2, 3, 4, 5, 6]  # nothing is older than 80: the six oldest


def test_paper_keeps_a_reference_at_the_estimate_for_last():
    ages = np.array([10.0, 20, 30, 30, 40, 50])
    rng = np.random.default_rng(6)
    for _ in range(20):
        plan = pick_paper(np.array([30.0]), ages, np.ones((1, 6), dtype=bool), np.array([2]), np.array([2]), rng)[0]
        assert sorted(plan) == [0, 1, 4, 5]


def test_is_finished_rules():
    paper = Protocol(PAPER, comparisons=6)
    five = [ShownComparison(i, 30.0, None) for i in range(5)]  # can't-tell answers still count as shown
    assert not is_finished(paper, five)
    assert is_finished(paper, five + [ShownComparison(5, 30.0, 1)])
    active = Protocol(ACTIVE, target_width=8, max_comparisons=12)
    assert not is_finished(active, [])
    assert is_finished(active, [ShownComparison(i, 30.0, None) for i in range(12)])  # the count
    narrow = [ShownComparison(i, k, c) for i, (k, c) in enumerate([(28, 1)] * 20 + [(32, 0)] * 20)]
    assert summarize(query_posterior(narrow)).ci_width <= 8
    assert is_finished(Protocol(ACTIVE, max_comparisons=100), narrow)  # the width


def test_protocol_rejects_nonsense():
    with pytest.raises(ValueError):
        Protocol("random")
    with pytest.raises(ValueError):
        Protocol(PAPER, comparisons=0)


def test_reference_pool_rejects_duplicate_ids():
    with pytest.raises(ValueError):
        ReferencePool.build([1, 1], [20, 30])
