"""Which reference face to show next with a query (method.md section 2): the paper and active protocols.

Two layers over one implementation:
- batched kernels over Q queries x R references (`pick_active`, `pick_paper`, `active_should_stop`), so the
  simulator can run thousands of queries at once;
- a one-query API for the UI (`ReferencePool`, `ShownComparison`, `next_reference`, `is_finished`) that
  calls the same kernels with Q = 1.

Rules common to both protocols: a reference is never shown twice with the same query, and a query of known
gender only sees references of the same gender or of unknown gender (FG-NET has no gender: all allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ageapp.core.posterior import (
    AGE_MAX_DEFAULT,
    BETA_DEFAULT,
    QUERY_OLDER,
    QUERY_YOUNGER,
    age_grid,
    credible_intervals,
    log_prob_outcome,
    posterior_from_comparisons,
)

PAPER = "paper"
ACTIVE = "active"
POLICIES = (PAPER, ACTIVE)

GENDER_UNKNOWN = -1
# The active protocol stops asking once this share of the posterior lies beyond the oldest (youngest)
# reference the query can be shown: no reference can narrow it further (core.posterior.beyond_references).
BEYOND_STOP = 0.9
# The active protocol's target is a width in years for adults and a share of the age for children (see
# `target_width_at`): below this age the target shrinks in proportion to the interval's upper end ...
RELATIVE_BELOW_AGE = 20
# ... but never below this many years (integer ages: a 90% interval over three ages, as at 0-2 years).
MIN_TARGET_WIDTH = 2


@dataclass(frozen=True)
class Protocol:
    """How references are chosen for a query and when it is finished.

    paper: `comparisons` references, half younger and half older than a rough estimate.
    active: the most informative reference each time, until the 90% interval is at most `target_width`
    years wide (for an adult; for a child, as wide relative to the age: `target_width_at`) or
    `max_comparisons` have been shown. `relative_below` 0 makes the target a width in years at every age
    (the outlier rule of a query sent back: flagged is wider than 15 years, whatever the age).
    """

    policy: str = ACTIVE
    comparisons: int = 6
    target_width: int = 8
    max_comparisons: int = 12
    relative_below: int = RELATIVE_BELOW_AGE

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.comparisons < 1 or self.max_comparisons < 1 or self.target_width < 0 or self.relative_below < 0:
            raise ValueError("comparisons and max_comparisons must be >= 1, target_width and relative_below >= 0")


# ---------------------------------------------------------------------------------------------------
# Batched kernels


def binary_entropy(q: np.ndarray) -> np.ndarray:
    """H(q) in nats, with 0 log 0 = 0."""
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(q * np.log(q) + (1.0 - q) * np.log1p(-q))
    return np.nan_to_num(h, nan=0.0)


def betas_at(beta, reference_ages) -> np.ndarray:
    """β at each reference age: `beta` is a number, or a function of the reference's age (a β curve)."""
    ages = np.asarray(reference_ages, dtype=np.float64)
    return np.asarray(beta(ages) if callable(beta) else np.full(ages.shape, float(beta)), dtype=np.float64)


def information_gain(posteriors: np.ndarray, reference_ages: np.ndarray, beta=BETA_DEFAULT) -> np.ndarray:
    """I(C_k; a) = H(sum_a p(a) P(C_k=1|a)) - sum_a p(a) H(P(C_k=1|a)), in nats.

    posteriors: [..., A+1] over ages 0..A; reference_ages: [K]; beta: a number or a function of the
    reference's age. Returns [..., K].
    """
    posteriors = np.asarray(posteriors, dtype=np.float64)
    ages = age_grid(posteriors.shape[-1] - 1)
    ks = np.asarray(reference_ages, dtype=np.float64)[:, None]
    b = betas_at(beta, reference_ages)[:, None]
    log_older = log_prob_outcome(ages[None, :], ks, QUERY_OLDER, b)  # [K, A+1]
    log_younger = log_prob_outcome(ages[None, :], ks, QUERY_YOUNGER, b)
    p_older = np.exp(log_older)
    # H(P(C_k=1|a)) from the logs directly: exact even where one outcome is nearly certain.
    answer_noise = -(p_older * log_older + np.exp(log_younger) * log_younger)
    return binary_entropy(posteriors @ p_older.T) - posteriors @ answer_noise.T


def gender_allowed(query_genders: np.ndarray, reference_genders: np.ndarray) -> np.ndarray:
    """[Q, R]: the reference may be shown with the query (same gender, or either gender unknown)."""
    q = np.asarray(query_genders)[:, None]
    r = np.asarray(reference_genders)[None, :]
    return (q == GENDER_UNKNOWN) | (r == GENDER_UNKNOWN) | (q == r)


def _random_members(mask: np.ndarray, counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Per row, up to counts[q] distinct column indices drawn at random where mask is True; -1 pads.

    keys: [Q, R] uniform in [0, 1); a row's draw is its highest-keyed allowed columns.
    """
    n_rows, n_cols = mask.shape
    width = int(min(np.max(counts, initial=0), n_cols))
    if width == 0:
        return np.full((n_rows, 0), -1, dtype=np.int64)
    scored = np.where(mask, keys, -1.0)
    top = np.argpartition(-scored, width - 1, axis=1)[:, :width]
    top_scores = np.take_along_axis(scored, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    top_scores = np.take_along_axis(top_scores, order, axis=1)
    valid = (top_scores >= 0.0) & (np.arange(width)[None, :] < np.asarray(counts)[:, None])
    return np.where(valid, top, -1)


def _compact(indices: np.ndarray, width: int) -> np.ndarray:
    """Move each row's valid (>= 0) entries to the front, keeping their order; trim to width."""
    order = np.argsort(indices < 0, axis=1, kind="stable")
    return np.take_along_axis(indices, order, axis=1)[:, :width]


def pick_active(
    posteriors: np.ndarray,
    reference_ages: np.ndarray,
    available: np.ndarray,
    beta,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per query, a reference of the most informative age among its available ones; -1 if none.

    Many references share an age, so the gain is computed once per distinct age (only ages with an
    available reference compete), then one available reference of the winning age is drawn at random.
    posteriors [Q, A+1], reference_ages [R], available [Q, R] bool. Returns reference indices [Q].
    """
    n_queries = available.shape[0]
    distinct, age_index = np.unique(np.asarray(reference_ages), return_inverse=True)
    rows, cols = np.nonzero(available)
    counts = np.bincount(rows * len(distinct) + age_index[cols], minlength=n_queries * len(distinct))
    counts = counts.reshape(n_queries, len(distinct))
    gains = np.where(counts > 0, information_gain(posteriors, distinct, beta), -np.inf)
    best_age = np.argmax(gains, axis=1)
    of_best_age = available & (age_index[None, :] == best_age[:, None])
    keys = rng.random(available.shape)
    return _random_members(of_best_age, np.ones(n_queries, dtype=np.int64), keys)[:, 0]


def pick_paper(
    estimates: np.ndarray,
    reference_ages: np.ndarray,
    available: np.ndarray,
    n_younger: np.ndarray,
    n_older: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per query, n_younger random references younger than its estimate and n_older older ones.

    Where a side runs short (an estimate near the ends of the reference ages), the remainder is drawn at
    random from the query's other available references, so the query still gets its comparisons.
    Returns [Q, max(n_younger + n_older)] reference indices, valid ones first, -1 padding.
    """
    estimates = np.asarray(estimates, dtype=np.float64)[:, None]
    ages = np.asarray(reference_ages, dtype=np.float64)[None, :]
    n_younger, n_older = np.asarray(n_younger), np.asarray(n_older)
    keys = rng.random(available.shape)
    younger = _random_members(available & (ages < estimates), n_younger, keys)
    older = _random_members(available & (ages > estimates), n_older, keys)
    chosen = np.concatenate([younger, older], axis=1)
    remaining = available.copy()
    rows = np.nonzero(chosen >= 0)[0]
    remaining[rows, chosen[chosen >= 0]] = False
    shortfall = n_younger + n_older - np.sum(chosen >= 0, axis=1)
    filler = _random_members(remaining, shortfall, keys)
    width = int(np.max(n_younger + n_older, initial=0))
    return _compact(np.concatenate([chosen, filler], axis=1), width)


def target_width_at(protocol: Protocol, ci_high) -> np.ndarray:
    """The widest 90% interval the active protocol accepts for a posterior whose interval ends at `ci_high`.

    The stopping rule must mean the same at 1 year as at 40. Faces change fastest in childhood: a year is a
    large step at 1 (walking, teeth, a face of another shape) and hardly visible at 40, and growth is over at
    about 20. So for adults the target is a width in years (`target_width`, 8 by default: 36-44), and below
    `relative_below` years it is the same share of the age: `target_width * ci_high / relative_below` (at most
    40% of the interval's upper end by default: 12-20, 6-10, 3-5), never below MIN_TARGET_WIDTH years (0-2: the
    integer grid holds nothing narrower that a labeller could still tell apart). The upper end is the age the
    share is taken of because it is the conservative one: an interval 0-8 is finished only if an 8-year-old
    could be told within 3 years, which it cannot. Before this rule a 1-year-old was finished at 0-8 years
    after 5 comparisons (as wide, for its age, as 20-100 for an adult)."""
    high = np.asarray(ci_high, dtype=np.float64)
    target = float(protocol.target_width)
    if protocol.relative_below <= 0:
        return np.full(high.shape, target)
    floor = min(target, float(MIN_TARGET_WIDTH))
    return np.maximum(floor, target * np.minimum(high, protocol.relative_below) / protocol.relative_below)


def active_should_stop(ci_lows: np.ndarray, ci_highs: np.ndarray, counts: np.ndarray, protocol: Protocol,
                       beyond_mass: np.ndarray | float = 0.0) -> np.ndarray:
    """The active stopping rule: the 90% interval is narrow enough for the age it covers (`target_width_at`),
    or enough references were shown, or the posterior lies beyond the references (BEYOND_STOP of its mass)
    where none can narrow it; and always at least one comparison (a model prior narrow enough by itself still
    gets the labeller's word)."""
    counts = np.asarray(counts)
    widths = np.asarray(ci_highs) - np.asarray(ci_lows)
    return (counts >= 1) & ((widths <= target_width_at(protocol, ci_highs)) | (counts >= protocol.max_comparisons)
                            | (np.asarray(beyond_mass) >= BEYOND_STOP))


def protocol_finished(protocol: Protocol, ci_low: int, ci_high: int, count: int, beyond_mass: float = 0.0) -> bool:
    """Whether a query with this 90% interval, count and mass beyond the references needs no more comparisons
    (the stopping rule the SQL of ageapp.store.progress states too)."""
    if protocol.policy == PAPER:
        return count >= protocol.comparisons
    return bool(active_should_stop(ci_low, ci_high, count, protocol, beyond_mass))


# ---------------------------------------------------------------------------------------------------
# One query at a time (the UI)


@dataclass(frozen=True)
class ReferencePool:
    """The references of known age a query can be compared with; build once, reuse for every query."""

    ids: np.ndarray
    ages: np.ndarray
    genders: np.ndarray  # 0 male, 1 female, GENDER_UNKNOWN

    @classmethod
    def build(cls, ids: Sequence, ages: Sequence[float], genders: Sequence[int | None] | None = None):
        ids = np.asarray(ids)
        ages = np.asarray(ages, dtype=np.float64)
        if genders is None:
            genders = np.full(len(ids), GENDER_UNKNOWN, dtype=np.int64)
        else:
            genders = np.array([GENDER_UNKNOWN if g is None else int(g) for g in genders], dtype=np.int64)
        if not (ids.shape == ages.shape == genders.shape) or ids.ndim != 1:
            raise ValueError("ids, ages and genders must be 1-D and of the same length")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("reference ids must be unique")
        return cls(ids, ages, genders)

    @property
    def median_age(self) -> float:
        return float(np.median(self.ages))


@dataclass(frozen=True)
class ShownComparison:
    """A reference already shown with the query and its answer (1 older, 0 younger, None can't tell).

    Skipped or undone comparisons are not passed at all: they leave no trace.
    """

    reference_id: object
    reference_age: float
    outcome: int | None
    beta: float = BETA_DEFAULT


def query_posterior(shown: Sequence[ShownComparison], age_max: int = AGE_MAX_DEFAULT,
                    log_prior: np.ndarray | None = None) -> np.ndarray:
    """The query's posterior from its answered comparisons, each with its annotator's beta, and the prior
    (ageapp.core.prior; None: uniform)."""
    return posterior_from_comparisons(
        [c.reference_age for c in shown], [c.outcome for c in shown], [c.beta for c in shown], age_max, log_prior
    )


def next_reference(
    protocol: Protocol,
    pool: ReferencePool,
    shown: Sequence[ShownComparison],
    query_gender: int | None,
    rng: np.random.Generator,
    *,
    beta=BETA_DEFAULT,
    estimate: float | None = None,
    age_max: int = AGE_MAX_DEFAULT,
    posterior: np.ndarray | None = None,
    log_prior: np.ndarray | None = None,
) -> object | None:
    """The id of the reference to show next with this query, or None if no allowed reference is left.

    beta: the slope of the annotator who will answer, a number or a function of the reference's age (active).
    posterior: the query's current posterior (active; computed from `shown` with plug-in β and `log_prior`, the
    query's prior (None: uniform), when None): the most informative reference is chosen under the prior.
    estimate: the current model's age prediction for the query (paper; the pool's median age without one).
    Ask `is_finished` first.
    """
    gender = GENDER_UNKNOWN if query_gender is None else int(query_gender)
    shown_mask = np.isin(pool.ids, [c.reference_id for c in shown])
    available = gender_allowed(np.array([gender]), pool.genders) & ~shown_mask[None, :]
    if protocol.policy == ACTIVE:
        current = query_posterior(shown, age_max, log_prior) if posterior is None else np.asarray(posterior, np.float64)
        index = pick_active(current[None, :], pool.ages, available, beta, rng)[0]
    else:
        estimate = pool.median_age if estimate is None else float(estimate)
        shown_ages = np.array([c.reference_age for c in shown], dtype=np.float64)
        half = protocol.comparisons // 2
        need_younger = max(0, half - int(np.sum(shown_ages < estimate)))
        need_older = max(0, protocol.comparisons - half - int(np.sum(shown_ages > estimate)))
        plan = pick_paper(np.array([estimate]), pool.ages, available, np.array([need_younger]), np.array([need_older]), rng)
        plan = plan[plan >= 0]
        # Any member of the remaining plan, at random, so the annotator sees no younger/older pattern.
        index = rng.choice(plan) if len(plan) else -1
    return None if index < 0 else pool.ids[index].item()


def is_finished(protocol: Protocol, shown: Sequence[ShownComparison], age_max: int = AGE_MAX_DEFAULT,
                log_prior: np.ndarray | None = None) -> bool:
    """Whether this query needs no more comparisons under the protocol (and the query's prior)."""
    if protocol.policy == PAPER:
        return len(shown) >= protocol.comparisons
    low, high = credible_intervals(query_posterior(shown, age_max, log_prior))
    return bool(active_should_stop(low, high, len(shown), protocol))
