"""Simulated annotation: the yardstick for the reference-choice protocols and for the β estimates
(method.md section 2).

A simulated annotator answers "older" with probability σ(β_true(k) (a_true − k)), the paper's answer model,
with β_true constant or a curve over the reference's age k (humans compare older faces less well). The
engine's posterior uses either a β it is told (known: what the annotator's β is assumed to be) or one it
fits, as the app does, from gold pairs (two references) the annotator answers at the project's gold rate as
labelling goes: queries run in chunks, each chunk under the estimate of the gold answers so far (shrunk, with
its uncertainty, by age where that predicts better: ageapp.core.beta_model), and every posterior is recomputed
at the end with the last estimate, as the app recomputes them when a β is refitted.

Queries run in vectorised batches through the kernels the UI uses one query at a time (ageapp.core.selection),
so the simulation measures the code that ships. A query whose posterior lies beyond every reference it can be
shown (core.posterior.beyond_references) stops (active protocol) and is counted as "beyond the references".

Randomness: one seed gives independent streams for the rough estimates, the reference draws, the answers and
the gold pairs, so the queries and references are the same whichever policy or engine runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ageapp.core.annotators import GOLD_RATE, choose_gold_pair
from ageapp.core.beta_model import AnnotatorModel, BetaCurve, fit_annotator
from ageapp.core.metrics import mae
from ageapp.core.posterior import (
    AGE_MAX_DEFAULT,
    BEYOND_MASS,
    GAUSS_HERMITE_POINTS,
    OUTLIER_WIDTH,
    QUERY_OLDER,
    age_grid,
    credible_intervals,
    log_prob_outcome,
    normalize_log,
)
from ageapp.core.selection import (
    ACTIVE,
    Protocol,
    ReferencePool,
    active_should_stop,
    gender_allowed,
    pick_active,
    pick_paper,
)

ESTIMATE_SD_DEFAULT = 6.0  # years: the paper protocol's rough estimate is the true age plus this much noise
NARROW_WIDTH = 8  # years: the interval width `frac_ci_below_8` counts (the active protocol's default target)
BATCH_SIZE = 2048  # queries per batch: bounds the [queries x references] working arrays
FIT_CHUNKS = 8  # with a fitted β: the queries run in this many chunks, β refitted before each


@dataclass(frozen=True)
class SimulationResult:
    """Per query: true age (unclamped), posterior summaries, comparisons shown, beyond-the-references side."""

    true_ages: np.ndarray
    posteriors: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    comparisons: np.ndarray
    beyond: np.ndarray
    model: AnnotatorModel | None = None  # the engine's last β estimate
    gold_answers: int = 0
    likelihood_posteriors: np.ndarray | None = None  # with a prior: the same answers under the uniform prior

    @property
    def ci_width(self) -> np.ndarray:
        return self.ci_high - self.ci_low

    def summary(self) -> dict:
        """median_ci_width, frac_ci_below_8, frac_flagged (width > 15, not beyond), frac_beyond, MAEs,
        coverage90 (a true age above the range counts as covered only if the interval reaches its end),
        mean_comparisons, n_above_range."""
        age_max = self.posteriors.shape[1] - 1
        widths, clamped = self.ci_width, np.minimum(self.true_ages, age_max)
        above = self.true_ages > age_max
        means = self.posteriors @ age_grid(age_max)
        return {
            "n_queries": int(len(self.true_ages)),
            "n_above_range": int(above.sum()),
            "median_ci_width": float(np.median(widths)),
            "frac_ci_below_8": float(np.mean(widths <= NARROW_WIDTH)),
            "frac_flagged": float(np.mean((widths > OUTLIER_WIDTH) & (self.beyond == 0))),
            "frac_beyond": float(np.mean(self.beyond != 0)),
            "mae_mode": mae(np.argmax(self.posteriors, axis=1), clamped),
            "mae_mean": mae(means, clamped),
            "coverage90": coverage90(self.posteriors, self.true_ages),
            "mean_comparisons": float(np.mean(self.comparisons)),
        }


def coverage90(posteriors: np.ndarray, true_ages) -> float:
    """The share of true ages inside the posteriors' 90% intervals; a true age above the range counts as
    covered only if the interval reaches the range's end."""
    age_max = posteriors.shape[1] - 1
    low, high = credible_intervals(posteriors)
    true_ages = np.asarray(true_ages)
    clamped = np.minimum(true_ages, age_max)
    return float(np.mean(np.where(true_ages > age_max, high >= age_max, (low <= clamped) & (clamped <= high))))


def true_betas(annotator, reference_ages) -> np.ndarray:
    """The simulated annotator's β at each reference age (a number, or a BetaCurve)."""
    ages = np.asarray(reference_ages, dtype=np.float64)
    return annotator.at(ages) if isinstance(annotator, BetaCurve) else np.full(ages.shape, float(annotator))


def simulated_answers(true_ages, reference_ages, beta, rng: np.random.Generator) -> np.ndarray:
    """Outcomes (1 older, 0 younger) of an annotator with slope beta (a number or a BetaCurve), elementwise."""
    p_older = np.exp(log_prob_outcome(true_ages, reference_ages, QUERY_OLDER, true_betas(beta, reference_ages)))
    return (rng.random(np.shape(p_older)) < p_older).astype(np.int64)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    names = ("estimates", "references", "answers", "gold")
    return dict(zip(names, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(names)))))


# ---------------------------------------------------------------------------------------------- the engine
def _nodes(model: AnnotatorModel) -> tuple[np.ndarray, np.ndarray]:
    """(β scale factors, log weights) of the quadrature over log β (one node when β is taken as known)."""
    if model.log_sd <= 0:
        return np.ones(1), np.zeros(1)
    z, w = np.polynomial.hermite_e.hermegauss(GAUSS_HERMITE_POINTS)
    return np.exp(model.log_sd * z), np.log(w / w.sum())


def _log_terms(model: AnnotatorModel, reference_ages, outcomes, age_max: int) -> np.ndarray:
    """[..., J, A+1]: log P(outcome | a, β(k) × node_j) for comparisons [...]."""
    scales, _ = _nodes(model)
    ks = np.asarray(reference_ages, dtype=np.float64)[..., None, None]
    betas = model.beta_at(reference_ages)[..., None, None] * scales[:, None]
    return log_prob_outcome(age_grid(age_max), ks, np.asarray(outcomes)[..., None, None], betas)


def _marginal(model: AnnotatorModel, log_accumulated: np.ndarray, log_priors: np.ndarray | None = None) -> np.ndarray:
    """Posteriors [Q, A+1] from per-node accumulated log-likelihoods [Q, J, A+1] and log priors [Q, A+1]
    (None: the uniform prior)."""
    _, log_weights = _nodes(model)
    joint = log_accumulated + log_weights[None, :, None]
    top = joint.max(axis=1, keepdims=True)
    log_p = np.log(np.exp(joint - top).sum(axis=1)) + top[:, 0]
    return np.exp(normalize_log(log_p if log_priors is None else log_p + log_priors))


def final_posteriors(model: AnnotatorModel, ks: np.ndarray, ys: np.ndarray, shown: np.ndarray, age_max: int,
                     log_priors: np.ndarray | None = None):
    """Posteriors [Q, A+1] of comparisons ks, ys [Q, M] (where shown) under the engine's model and the prior."""
    terms = np.where(shown[..., None, None], _log_terms(model, np.where(shown, ks, 0.0), ys, age_max), 0.0)
    return _marginal(model, terms.sum(axis=1), log_priors)


def beyond_sides(posteriors: np.ndarray, youngest: np.ndarray, oldest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: (side: +1 beyond the oldest reference it can be shown, -1 below the youngest, 0; mass)."""
    ages = age_grid(posteriors.shape[1] - 1)
    above = np.sum(np.where(ages[None, :] > oldest[:, None], posteriors, 0.0), axis=1)
    below = np.sum(np.where(ages[None, :] < youngest[:, None], posteriors, 0.0), axis=1)
    side = np.where((above >= BEYOND_MASS) & (above >= below), 1, np.where(below >= BEYOND_MASS, -1, 0))
    return side, np.maximum(above, below)


# ---------------------------------------------------------------------------------------------- protocols
def _run_paper(true_ages, allowed, pool, protocol, annotator, model, estimate_sd, age_max, streams, log_priors):
    n_queries = len(true_ages)
    estimates = np.minimum(true_ages, age_max) + streams["estimates"].normal(0.0, estimate_sd, n_queries)
    if log_priors is not None:  # the model's estimate, as the app's rough estimate is (its prior's mean)
        estimates = np.exp(log_priors) @ age_grid(age_max)
    half = protocol.comparisons // 2
    plan = pick_paper(estimates, pool.ages, allowed, np.full(n_queries, half),
                      np.full(n_queries, protocol.comparisons - half), streams["references"])
    shown = plan >= 0
    ks = pool.ages[np.where(shown, plan, 0)]
    ys = simulated_answers(true_ages[:, None], ks, annotator, streams["answers"])
    return ks, ys, shown


def _run_active(true_ages, allowed, pool, protocol, annotator, model, age_max, streams, youngest, oldest,
                log_priors):
    n_queries, width = len(true_ages), protocol.max_comparisons
    log_accumulated = np.zeros((n_queries, len(_nodes(model)[0]), age_max + 1))
    ks, ys = np.zeros((n_queries, width)), np.zeros((n_queries, width), dtype=np.int64)
    available = allowed.copy()
    counts = np.zeros(n_queries, dtype=np.int64)
    running = np.ones(n_queries, dtype=bool)
    while running.any():
        # The UI's loop, for many queries at once: finished? else show the next reference.
        posteriors = _marginal(model, log_accumulated, log_priors)
        low, high = credible_intervals(posteriors)
        _, mass = beyond_sides(posteriors, youngest, oldest)
        running &= ~active_should_stop(low, high, counts, protocol, np.where(counts > 0, mass, 0.0))
        rows = np.flatnonzero(running)
        if len(rows) == 0:
            break
        picks = pick_active(posteriors[rows], pool.ages, available[rows], model.beta_at, streams["references"])
        running[rows[picks < 0]] = False  # no allowed reference left
        rows, picks = rows[picks >= 0], picks[picks >= 0]
        outcomes = simulated_answers(true_ages[rows], pool.ages[picks], annotator, streams["answers"])
        log_accumulated[rows] += _log_terms(model, pool.ages[picks], outcomes, age_max)
        ks[rows, counts[rows]], ys[rows, counts[rows]] = pool.ages[picks], outcomes
        available[rows, picks] = False
        counts[rows] += 1
    return ks, ys, np.arange(width)[None, :] < counts[:, None]


def _gold_answers(pool: ReferencePool, annotator, count: int, rng: np.random.Generator):
    """`count` gold pairs drawn as the app draws them, answered by the simulated annotator."""
    ids = {int(i): float(a) for i, a in zip(pool.ids, pool.ages)}
    first, second = [], []
    for _ in range(count):
        pair = choose_gold_pair(pool, rng)
        if pair is None:
            break
        first.append(ids[int(pair[0])])
        second.append(ids[int(pair[1])])
    first, second = np.array(first), np.array(second)
    answers = simulated_answers(first, second, annotator, rng) if len(first) else np.zeros(0, dtype=np.int64)
    return first, second, answers


def simulate_protocol(
    query_ages,
    query_genders,
    pool: ReferencePool,
    protocol: Protocol,
    *,
    beta=0.36,
    annotator=None,
    fit_beta: bool = False,
    gold_rate: float = GOLD_RATE,
    estimate_sd: float = ESTIMATE_SD_DEFAULT,
    age_max: int = AGE_MAX_DEFAULT,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    log_priors: np.ndarray | None = None,
) -> SimulationResult:
    """Annotate every query (true ages, those above age_max kept as they are) under the protocol.

    annotator: the simulated person's β (a number or a BetaCurve; default `beta`). beta: what the engine takes
    the annotator's β to be, as known; with fit_beta the engine fits it from gold pairs instead (gold_rate per
    comparison), refitting before each of FIT_CHUNKS chunks of queries. log_priors: [Q, A+1] each query's log
    prior (ageapp.core.prior; None: uniform); the result then also has the likelihood-only posteriors."""
    query_ages = np.asarray(query_ages, dtype=np.int64)
    query_genders = np.asarray(query_genders, dtype=np.int64)
    if np.any(query_ages < 0):
        raise ValueError("query ages must not be negative")
    if log_priors is not None and np.shape(log_priors) != (len(query_ages), age_max + 1):
        raise ValueError(f"log_priors must be [queries, age_max + 1] = [{len(query_ages)}, {age_max + 1}], "
                         f"not {list(np.shape(log_priors))}")
    annotator = beta if annotator is None else annotator
    streams = _streams(seed)
    model = AnnotatorModel() if fit_beta else AnnotatorModel.known(beta)
    chunks = FIT_CHUNKS if fit_beta else 1
    gold = [np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)]
    allowed_all = gender_allowed(query_genders, pool.genders)
    youngest = np.array([pool.ages[row].min() if row.any() else 0 for row in allowed_all], dtype=np.float64)
    oldest = np.array([pool.ages[row].max() if row.any() else age_max for row in allowed_all], dtype=np.float64)
    width = protocol.max_comparisons if protocol.policy == ACTIVE else protocol.comparisons
    ks, ys = np.zeros((len(query_ages), width)), np.zeros((len(query_ages), width), dtype=np.int64)
    shown = np.zeros((len(query_ages), width), dtype=bool)
    bounds = np.linspace(0, len(query_ages), chunks + 1).astype(int)
    for chunk_start, chunk_end in zip(bounds[:-1], bounds[1:]):
        for start in range(chunk_start, chunk_end, batch_size):
            rows = slice(start, min(chunk_end, start + batch_size))
            true_ages, allowed = query_ages[rows], allowed_all[rows]
            priors = None if log_priors is None else log_priors[rows]
            if protocol.policy == ACTIVE:
                batch = _run_active(true_ages, allowed, pool, protocol, annotator, model, age_max, streams,
                                    youngest[rows], oldest[rows], priors)
            else:
                batch = _run_paper(true_ages, allowed, pool, protocol, annotator, model, estimate_sd, age_max, streams,
                                   priors)
            ks[rows, : batch[0].shape[1]], ys[rows, : batch[0].shape[1]], shown[rows, : batch[0].shape[1]] = batch
        if fit_beta:
            new = _gold_answers(pool, annotator, int(round(gold_rate * shown[chunk_start:chunk_end].sum())),
                                streams["gold"])
            gold = [np.concatenate([g, n]) for g, n in zip(gold, new)]
            if len(gold[0]):
                model = fit_annotator(gold[0], gold[1], [bool(y) for y in gold[2]])
    posteriors = final_posteriors(model, ks, ys, shown, age_max, log_priors)
    low, high = credible_intervals(posteriors)
    sides, _ = beyond_sides(posteriors, youngest, oldest)
    likelihood = None if log_priors is None else final_posteriors(model, ks, ys, shown, age_max)
    return SimulationResult(true_ages=query_ages, posteriors=posteriors, ci_low=low, ci_high=high,
                            comparisons=shown.sum(axis=1), beyond=np.where(shown.any(axis=1), sides, 0),
                            model=model, gold_answers=int(len(gold[0])), likelihood_posteriors=likelihood)

