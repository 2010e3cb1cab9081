"""A labeller's β as an estimate: its profile interval's coverage, shrinkage towards the population, β by age,
and posteriors that integrate over β's uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ageapp.core.beta_model import (
    AnnotatorModel,
    fit_annotator,
    fit_single,
    parse_beta_curve,
    profile_interval,
)
from ageapp.core.annotators import fit_beta
from ageapp.core.posterior import (
    credible_interval,
    log_posterior_over_annotators,
    posterior_from_comparisons,
)


def study(n: int, beta_of, rng, reference_ages=None):
    """n gold pairs: a reference of age k (uniform 5..65 unless given), a face 1..20 years older or younger,
    answered by a person whose β at age k is beta_of(k)."""
    ks = rng.uniform(5, 65, n) if reference_ages is None else reference_ages
    gaps = rng.integers(1, 21, n) * rng.choice([-1, 1], n)
    first = ks + gaps
    p_older = 1 / (1 + np.exp(-beta_of(ks) * gaps))
    return first, ks, list(rng.random(n) < p_older)


def test_the_profile_interval_of_30_pairs_covers_the_true_beta_about_95_percent_of_the_time():
    covered = 0
    for seed in range(400):
        first, second, older = study(30, lambda k: np.full_like(k, 0.36), np.random.default_rng(seed))
        gaps = first - second
        low, high = profile_interval(gaps, np.array(older, float))
        covered += low <= 0.36 <= high
    assert 0.92 <= covered / 400 <= 0.98


def test_shrinkage_pulls_a_small_fit_towards_the_population_and_leaves_a_large_one():
    rng = np.random.default_rng(1)
    first, second, older = study(10, lambda k: np.full_like(k, 1.2), rng)
    mle = fit_beta(first, second, older, min_answers=1)
    shrunk = fit_single(first, second, older).beta
    assert abs(math.log(shrunk / 0.36)) < 0.6 * abs(math.log(mle / 0.36))  # most of the way back to 0.36
    first, second, older = study(2000, lambda k: np.full_like(k, 1.2), rng)
    mle = fit_beta(first, second, older, min_answers=1)
    large = fit_single(first, second, older)
    assert large.beta == pytest.approx(mle, rel=0.03) and large.beta == pytest.approx(1.2, rel=0.15)
    assert large.log_sd < 0.1 < fit_single(first[:10], second[:10], older[:10]).log_sd
    assert large.n == 2000 and large.interval[0] < large.beta < large.interval[1]


def test_beta_by_age_recovers_a_known_curve_from_3000_gold_answers():
    """Each band's β (the fitted curve averaged over 20 years of reference age) within 0.05 of the truth's, as a
    mean over five simulated labellers of 3,000 gold answers each (gaps 1-20 as the app draws them: at β 0.6
    most answers are sure, so the youngest band is the least pinned down); and the curve wins the held-out
    comparison with the single β."""
    truth = parse_beta_curve("0:0.6,40:0.3,70:0.15")
    bands = [np.arange(0, 20), np.arange(20, 40), np.arange(40, 60), np.arange(60, 70)]
    errors = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        first, second, older = study(3000, truth.at, rng, rng.uniform(0, 69, 3000))
        chosen = fit_annotator(first, second, older)
        assert chosen.curve is not None and chosen.cv_gain > 0
        errors.append([abs(chosen.curve.at(band).mean() - truth.at(band).mean()) for band in bands])
    assert np.all(np.mean(errors, axis=0) <= 0.05), np.mean(errors, axis=0)


def test_a_constant_beta_keeps_the_single_model():
    first, second, older = study(600, lambda k: np.full_like(k, 0.36), np.random.default_rng(3))
    chosen = fit_annotator(first, second, older)
    assert chosen.curve is None and chosen.beta == pytest.approx(0.36, rel=0.15)


def test_the_integrated_posterior_is_the_plug_in_one_when_beta_is_known_and_wider_otherwise():
    references, outcomes = [20, 30, 35, 40, 50], [1, 1, 1, 0, 0]
    who = ["a"] * 5
    plug_in = posterior_from_comparisons(references, outcomes, 0.5, 100)
    known = np.exp(log_posterior_over_annotators(references, outcomes, who, {"a": AnnotatorModel.known(0.5)}, 100))
    assert np.allclose(known, plug_in, atol=1e-12)
    uncertain = AnnotatorModel(beta=0.5, log_sd=0.6)
    integrated = np.exp(log_posterior_over_annotators(references, outcomes, who, {"a": uncertain}, 100))
    assert np.isclose(integrated.sum(), 1.0)
    low, high = credible_interval(integrated)
    plug_low, plug_high = credible_interval(plug_in)
    assert high - low > plug_high - plug_low  # an uncertain β: an honestly wider interval
    # by hand: the mixture over log β of the joint likelihood, with the same 5-point Gauss-Hermite rule
    nodes, weights = np.polynomial.hermite_e.hermegauss(5)
    ages = np.arange(101)
    mixture = sum(w * np.prod([1 / (1 + np.exp(-(1 if y else -1) * 0.5 * np.exp(0.6 * z) * (ages - k)))
                               for k, y in zip(references, outcomes)], axis=0) for z, w in zip(nodes, weights))
    assert np.allclose(integrated, mixture / mixture.sum(), atol=1e-10)


def test_two_annotators_each_with_their_own_beta():
    models = {"a": AnnotatorModel.known(0.2), "b": AnnotatorModel.known(0.8)}
    p = np.exp(log_posterior_over_annotators([30, 40], [1, 0], ["a", "b"], models, 70))
    expected = posterior_from_comparisons([30, 40], [1, 0], [0.2, 0.8], 70)
    assert np.allclose(p, expected, atol=1e-12)


def test_a_beta_curve_is_read_at_the_reference_age():
    curve = parse_beta_curve("0:0.6,40:0.3,70:0.15")
    assert curve.at([0, 20, 40, 55, 70, 100]).tolist() == pytest.approx([0.6, 0.45, 0.3, 0.225, 0.15, 0.15])
    with pytest.raises(ValueError, match="AGE:BETA"):
        parse_beta_curve("0:0.6,forty")
    model = AnnotatorModel(beta=0.36, log_sd=0.0, curve=curve)
    p = np.exp(log_posterior_over_annotators([20], [1], ["a"], {"a": model}, 70))
    assert np.allclose(p, posterior_from_comparisons([20], [1], 0.45, 70), atol=1e-12)
