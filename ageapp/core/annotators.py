"""Per-annotator slope beta from gold comparisons (method.md section 1, beyond the paper).

A gold comparison shows two reference faces of known ages a1 and a2; the annotator's answer "the first is
older" follows the same likelihood as any comparison, P = sigma(beta (a1 - a2)). Mixing a few of these into
the task lets the project fit each annotator's own discrimination beta by maximum likelihood.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable, Sequence

import numpy as np

from ageapp.core.posterior import BETA_DEFAULT, QUERY_OLDER, log_prob_outcome
from ageapp.core.selection import ReferencePool

GOLD_RATE = 0.1  # one task item in ten is a gold comparison
GOLD_MIN_GAP = 1
GOLD_MAX_GAP = 20  # a spread of age gaps: small gaps pin beta down, large ones check attention
MIN_GOLD_ANSWERS = 20  # below this many answered gold comparisons, the default beta is used
BETA_BOUNDS = (0.0, 5.0)  # 0: answers carry no information; 5: a one-year gap is judged right 99% of the time
_BISECTION_STEPS = 60


def is_gold_turn(rng: np.random.Generator, rate: float = GOLD_RATE) -> bool:
    """Whether the next task item should be a gold comparison: each item is gold with probability `rate`.

    Random rather than every n-th, so an annotator cannot learn when the check comes.
    """
    return bool(rng.random() < rate)


def choose_gold_pair(
    pool: ReferencePool,
    rng: np.random.Generator,
    min_gap: int = GOLD_MIN_GAP,
    max_gap: int = GOLD_MAX_GAP,
) -> tuple[object, object] | None:
    """Two reference ids (first, second) whose ages differ by a gap drawn uniformly from those available.

    Drawing the gap first (not the pair) spreads the gaps over min_gap..max_gap, which is what makes beta
    identifiable. The older face comes first or second at random. None if no pair has such a gap.
    """
    ages = np.unique(pool.ages)
    gaps = ages[None, :] - ages[:, None]  # [younger, older]
    usable = (gaps >= min_gap) & (gaps <= max_gap)
    if not usable.any():
        return None
    gap = rng.choice(np.unique(gaps[usable]))
    age_pairs = np.argwhere(usable & (gaps == gap))
    younger_age_index, older_age_index = age_pairs[rng.integers(len(age_pairs))]
    younger = rng.choice(pool.ids[pool.ages == ages[younger_age_index]])
    older = rng.choice(pool.ids[pool.ages == ages[older_age_index]])
    pair = (older.item(), younger.item())
    return pair if rng.random() < 0.5 else pair[::-1]


def fit_beta(
    first_ages: Sequence[float],
    second_ages: Sequence[float],
    first_older: Sequence[bool | None],
    *,
    min_answers: int = MIN_GOLD_ANSWERS,
    default: float = BETA_DEFAULT,
    bounds: tuple[float, float] = BETA_BOUNDS,
) -> float:
    """Maximum-likelihood beta for one annotator from gold answers; `default` until min_answers.

    Answers of None ("can't tell") carry no term. The log-likelihood is concave in beta (logistic
    regression through the origin), so its derivative sum_i (y_i - sigma(beta d_i)) d_i decreases
    monotonically and bisection on it within `bounds` finds the maximum; a perfectly consistent annotator
    gets the upper bound.
    """
    answered = np.array([y is not None for y in first_older], dtype=bool)
    if int(answered.sum()) < min_answers:
        return float(default)
    gaps = (np.asarray(first_ages, dtype=np.float64) - np.asarray(second_ages, dtype=np.float64))[answered]
    older = np.array([bool(y) for y, kept in zip(first_older, answered) if kept], dtype=np.float64)

    def slope(beta: float) -> float:
        p_first_older = np.exp(log_prob_outcome(gaps, 0.0, QUERY_OLDER, beta))
        return float(np.sum((older - p_first_older) * gaps))

    low, high = bounds
    if slope(low) <= 0.0:
        return float(low)
    if slope(high) >= 0.0:
        return float(high)
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if slope(middle) > 0.0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@dataclass(frozen=True)
class GoldAnswer:
    """One annotator's answer to a gold comparison: first_older True, False, or None (can't tell)."""

    annotator: Hashable
    first_age: float
    second_age: float
    first_older: bool | None


def fit_betas(answers: Iterable[GoldAnswer], **fit_options) -> dict[Hashable, float]:
    """beta per annotator, each fitted from that annotator's gold answers only."""
    by_annotator: dict[Hashable, list[GoldAnswer]] = defaultdict(list)
    for answer in answers:
        by_annotator[answer.annotator].append(answer)
    return {
        annotator: fit_beta(
            [a.first_age for a in own], [a.second_age for a in own], [a.first_older for a in own], **fit_options
        )
        for annotator, own in by_annotator.items()
    }
