"""Simulated annotation: the yardstick for the reference-choice protocols (method.md section 2).

A simulated annotator answers "older" with probability sigma(beta_true (a_true - k)), the paper's own
answer model. Queries run in vectorised batches through the same kernels the UI uses one query at a time
(ageapp.core.selection), so the simulation measures the code that ships. The posterior uses the annotator's
true beta, as if the per-annotator fit (ageapp.core.annotators) had converged.

Randomness: one seed gives independent streams for the rough estimates, the reference draws and the
answers, so the queries and references are the same whichever policy runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ageapp.core.metrics import interval_coverage, mae
from ageapp.core.posterior import (
    AGE_MAX_DEFAULT,
    BETA_DEFAULT,
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


@dataclass(frozen=True)
class SimulationResult:
    """Per query: true age, posterior summaries and the number of comparisons shown."""

    true_ages: np.ndarray
    posteriors: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    comparisons: np.ndarray

    @property
    def ci_width(self) -> np.ndarray:
        return self.ci_high - self.ci_low

    def summary(self) -> dict:
        """median_ci_width, frac_ci_below_8 (width <= 8 years), frac_flagged (width > 15), MAEs, coverage."""
        widths = self.ci_width
        means = self.posteriors @ age_grid(self.posteriors.shape[1] - 1)
        return {
            "n_queries": int(len(self.true_ages)),
            "median_ci_width": float(np.median(widths)),
            "frac_ci_below_8": float(np.mean(widths <= NARROW_WIDTH)),
            "frac_flagged": float(np.mean(widths > OUTLIER_WIDTH)),
            "mae_mode": mae(np.argmax(self.posteriors, axis=1), self.true_ages),
            "mae_mean": mae(means, self.true_ages),
            "coverage90": interval_coverage(self.posteriors, self.true_ages) / 100.0,
            "mean_comparisons": float(np.mean(self.comparisons)),
        }


def simulated_answers(true_ages, reference_ages, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Outcomes (1 older, 0 younger) of an annotator with slope beta, elementwise."""
    p_older = np.exp(log_prob_outcome(true_ages, reference_ages, QUERY_OLDER, beta))
    return (rng.random(np.shape(p_older)) < p_older).astype(np.int64)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    names = ("estimates", "references", "answers")
    return dict(zip(names, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(names)))))


def _run_paper(true_ages, allowed, pool, protocol, beta, estimate_sd, age_max, streams) -> tuple[np.ndarray, np.ndarray]:
    n_queries = len(true_ages)
    estimates = true_ages + streams["estimates"].normal(0.0, estimate_sd, n_queries)
    half = protocol.comparisons // 2
    plan = pick_paper(
        estimates,
        pool.ages,
        allowed,
        np.full(n_queries, half),
        np.full(n_queries, protocol.comparisons - half),
        streams["references"],
    )
    shown = plan >= 0
    reference_ages = pool.ages[np.where(shown, plan, 0)]
    outcomes = simulated_answers(true_ages[:, None], reference_ages, beta, streams["answers"])
    terms = log_prob_outcome(age_grid(age_max), reference_ages[..., None], outcomes[..., None], beta)
    log_posteriors = normalize_log(np.sum(np.where(shown[..., None], terms, 0.0), axis=1))
    return np.exp(log_posteriors), shown.sum(axis=1)


def _run_active(true_ages, allowed, pool, protocol, beta, age_max, streams) -> tuple[np.ndarray, np.ndarray]:
    n_queries = len(true_ages)
    ages = age_grid(age_max)
    log_posteriors = normalize_log(np.zeros((n_queries, len(ages))))
    available = allowed.copy()
    counts = np.zeros(n_queries, dtype=np.int64)
    running = np.ones(n_queries, dtype=bool)
    while running.any():
        # The UI's loop, for many queries at once: finished? else show the next reference.
        low, high = credible_intervals(np.exp(log_posteriors))
        running &= ~active_should_stop(high - low, counts, protocol)
        rows = np.flatnonzero(running)
        if len(rows) == 0:
            break
        picks = pick_active(np.exp(log_posteriors[rows]), pool.ages, available[rows], beta, streams["references"])
        running[rows[picks < 0]] = False  # no allowed reference left
        rows, picks = rows[picks >= 0], picks[picks >= 0]
        outcomes = simulated_answers(true_ages[rows], pool.ages[picks], beta, streams["answers"])
        terms = log_prob_outcome(ages[None, :], pool.ages[picks][:, None], outcomes[:, None], beta)
        log_posteriors[rows] = normalize_log(log_posteriors[rows] + terms)
        available[rows, picks] = False
        counts[rows] += 1
    return np.exp(log_posteriors), counts


def simulate_protocol(
    query_ages,
    query_genders,
    pool: ReferencePool,
    protocol: Protocol,
    *,
    beta: float = BETA_DEFAULT,
    estimate_sd: float = ESTIMATE_SD_DEFAULT,
    age_max: int = AGE_MAX_DEFAULT,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> SimulationResult:
    """Annotate every query (true ages on 0..age_max) under the protocol with a simulated annotator."""
    query_ages = np.asarray(query_ages, dtype=np.int64)
    query_genders = np.asarray(query_genders, dtype=np.int64)
    if np.any(query_ages < 0) or np.any(query_ages > age_max):
        raise ValueError(f"query ages must lie in 0..{age_max}")
    streams = _streams(seed)
    posteriors, comparisons = [], []
    for start in range(0, len(query_ages), batch_size):
        true_ages = query_ages[start : start + batch_size]
        allowed = gender_allowed(query_genders[start : start + batch_size], pool.genders)
        if protocol.policy == ACTIVE:
            batch = _run_active(true_ages, allowed, pool, protocol, beta, age_max, streams)
        else:
            batch = _run_paper(true_ages, allowed, pool, protocol, beta, estimate_sd, age_max, streams)
        posteriors.append(batch[0])
        comparisons.append(batch[1])
    posteriors = np.concatenate(posteriors) if posteriors else np.zeros((0, age_max + 1))
    low, high = credible_intervals(posteriors)
    return SimulationResult(
        true_ages=query_ages,
        posteriors=posteriors,
        ci_low=low,
        ci_high=high,
        comparisons=np.concatenate(comparisons) if comparisons else np.zeros(0, dtype=np.int64),
    )
