"""Age posterior from pairwise comparisons (method.md section 1), and its summaries.

The one definition of the comparison likelihood: the annotation engine and the network's
parameter-free posterior module (trainer/heads.py) are both built from the functions here.

A comparison with a reference of known age k has outcome 1 ("the query is older") with
probability sigma(beta * (a - k)) and outcome 0 ("the query is younger") with
sigma(beta * (k - a)). "Can't tell" carries no likelihood term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

BETA_DEFAULT = 0.36
AGE_MAX_DEFAULT = 100  # what the default model covers (the paper's 70 left out UTKFace's oldest faces)
OUTLIER_WIDTH = 15  # years: a 90% interval wider than this flags the query (the paper's rule)
CREDIBLE_MASS = 0.90
# Bump when a posterior or its summary is computed differently: projects recompute their stored ones.
# 1: the first release; 2: mid-distribution intervals; 3: β with its uncertainty and by age, beyond the references.
POSTERIOR_ENGINE = 3
BEYOND_MASS = 0.5  # at least this share of the posterior older (younger) than every reference: "beyond"
GAUSS_HERMITE_POINTS = 5  # quadrature over an annotator's log β

QUERY_OLDER = 1
QUERY_YOUNGER = 0


def age_grid(age_max: int) -> np.ndarray:
    """The integer ages 0 ... age_max."""
    return np.arange(age_max + 1, dtype=np.float64)


def log_sigmoid(x: np.ndarray | float) -> np.ndarray:
    """log(sigma(x)) without overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    return -np.logaddexp(0.0, -x)


def log_prob_outcome(query_ages, reference_ages, outcomes, betas) -> np.ndarray:
    """log P(C_k = outcome | a) elementwise (numpy broadcasting): the comparison likelihood itself.

    Batched callers (information gain, the simulator, the beta fit) use this form; since
    sigma(beta (k - a)) = sigma(-beta (a - k)), an outcome only flips the sign of the argument.
    """
    outcomes = np.asarray(outcomes)
    valid = (outcomes == QUERY_OLDER) | (outcomes == QUERY_YOUNGER)
    if not np.all(valid):
        bad = outcomes[~valid].flat[0] if outcomes.ndim else outcomes.item()
        raise ValueError(f"outcome must be {QUERY_OLDER} (older) or {QUERY_YOUNGER} (younger), got {bad!r}")
    sign = np.where(outcomes == QUERY_OLDER, 1.0, -1.0)
    diff = np.asarray(query_ages, dtype=np.float64) - np.asarray(reference_ages, dtype=np.float64)
    return log_sigmoid(sign * np.asarray(betas, dtype=np.float64) * diff)


def comparison_log_likelihood(ages: np.ndarray, reference_age: float, outcome: int, beta: float) -> np.ndarray:
    """log P(C_k = outcome | a) over the age grid, for one answered comparison."""
    if outcome not in (QUERY_OLDER, QUERY_YOUNGER):
        raise ValueError(f"outcome must be {QUERY_OLDER} (older) or {QUERY_YOUNGER} (younger), got {outcome!r}")
    return log_prob_outcome(ages, reference_age, outcome, beta)


def normalize_log(log_p: np.ndarray) -> np.ndarray:
    """Subtract the log-sum-exp so that exp(result) sums to 1 (along the last axis: each row of a batch)."""
    top = np.max(log_p, axis=-1, keepdims=True)
    return log_p - (top + np.log(np.sum(np.exp(log_p - top), axis=-1, keepdims=True)))


def log_posterior_from_comparisons(
    reference_ages: Sequence[float],
    outcomes: Sequence[int | None],
    betas: Sequence[float] | float = BETA_DEFAULT,
    age_max: int = AGE_MAX_DEFAULT,
    log_prior: np.ndarray | None = None,
) -> np.ndarray:
    """Normalised log posterior over ages 0..age_max; outcomes of None ("can't tell") are ignored."""
    ages = age_grid(age_max)
    if np.isscalar(betas):
        betas = [float(betas)] * len(reference_ages)
    if not (len(reference_ages) == len(outcomes) == len(betas)):
        raise ValueError("reference_ages, outcomes and betas must have the same length")
    log_p = np.zeros_like(ages) if log_prior is None else np.array(log_prior, dtype=np.float64)
    for reference_age, outcome, beta in zip(reference_ages, outcomes, betas):
        if outcome is None:
            continue
        log_p = log_p + comparison_log_likelihood(ages, float(reference_age), int(outcome), float(beta))
    return normalize_log(log_p)


def posterior_from_comparisons(
    reference_ages: Sequence[float],
    outcomes: Sequence[int | None],
    betas: Sequence[float] | float = BETA_DEFAULT,
    age_max: int = AGE_MAX_DEFAULT,
    log_prior: np.ndarray | None = None,
) -> np.ndarray:
    """The posterior P(a | comparisons) over ages 0..age_max (sums to 1)."""
    return np.exp(log_posterior_from_comparisons(reference_ages, outcomes, betas, age_max, log_prior))


def ordinal_posterior_layer(age_max: int, beta: float = BETA_DEFAULT, log_prior: np.ndarray | None = None):
    """The frozen linear layer of the network's posterior module (method.md section 3).

    With K = age_max thresholds k = 1..K and ordinal outputs f_k ("older than k"),
    log P(a|I) = const + sum_k f_k * beta * (a - k) + c_a, c_a = log P(a) + sum_k log sigma(beta * (k - a)).
    Returns (weight [K, A+1], bias [A+1]) so that logits = f @ weight + bias.
    """
    ages = age_grid(age_max)
    thresholds = np.arange(1, age_max + 1, dtype=np.float64)
    weight = beta * (ages[None, :] - thresholds[:, None])
    bias = log_sigmoid(beta * (thresholds[:, None] - ages[None, :])).sum(axis=0)
    if log_prior is not None:
        bias = bias + np.asarray(log_prior, dtype=np.float64)
    return weight, bias


def posterior_from_ordinal_outputs(f: Sequence[float], age_max: int, beta: float = BETA_DEFAULT) -> np.ndarray:
    """Reference route for the posterior module: the geometric likelihood term by term.

    Each f_k weighs the 'older than k' likelihood and (1 - f_k) the 'younger' one; with f_k in {0, 1}
    this is exactly posterior_from_comparisons against references aged 1..K.
    """
    f = np.asarray(f, dtype=np.float64)
    if f.shape != (age_max,):
        raise ValueError(f"expected {age_max} ordinal outputs, got shape {f.shape}")
    ages = age_grid(age_max)
    log_p = np.zeros_like(ages)
    for k, f_k in enumerate(f, start=1):
        log_p += f_k * comparison_log_likelihood(ages, k, QUERY_OLDER, beta)
        log_p += (1.0 - f_k) * comparison_log_likelihood(ages, k, QUERY_YOUNGER, beta)
    return np.exp(normalize_log(log_p))


def log_posterior_over_annotators(
    reference_ages: Sequence[float],
    outcomes: Sequence[int | None],
    annotators: Sequence[object],
    models: dict,
    age_max: int = AGE_MAX_DEFAULT,
    log_prior: np.ndarray | None = None,
) -> np.ndarray:
    """The comparison posterior with each annotator's β as an estimate, not a known number.

    models[annotator] has `beta_at(reference_ages)` (β at each reference's age: a constant or a curve) and
    `log_sd` (the sd of log β's uncertainty, a factor shared by all of that annotator's answers). An annotator
    with log_sd 0 contributes Σ log P(C | a, β(k)) as `log_posterior_from_comparisons` does; otherwise the
    answers' joint likelihood is integrated over log β ~ N(log β̂, log_sd²) by Gauss-Hermite quadrature
    (GAUSS_HERMITE_POINTS nodes): log Σ_j w_j Π_m P(C_m | a, β_m e^(log_sd z_j)). Answers of None carry no term.
    """
    ages = age_grid(age_max)
    log_p = np.zeros_like(ages) if log_prior is None else np.array(log_prior, dtype=np.float64)
    grouped: dict = {}
    for reference_age, outcome, annotator in zip(reference_ages, outcomes, annotators):
        if outcome is not None:
            grouped.setdefault(annotator, []).append((float(reference_age), int(outcome)))
    for annotator, answers in grouped.items():
        model = models[annotator]
        ks = np.array([a for a, _ in answers])
        ys = np.array([y for _, y in answers])
        betas = np.asarray(model.beta_at(ks), dtype=np.float64)
        sd = float(getattr(model, "log_sd", 0.0) or 0.0)
        if sd <= 0:
            log_p = log_p + log_prob_outcome(ages[None, :], ks[:, None], ys[:, None], betas[:, None]).sum(axis=0)
            continue
        nodes, weights = np.polynomial.hermite_e.hermegauss(GAUSS_HERMITE_POINTS)
        scaled = betas[None, :] * np.exp(sd * nodes)[:, None]  # [J, M]
        terms = log_prob_outcome(ages[None, None, :], ks[None, :, None], ys[None, :, None],
                                 scaled[:, :, None]).sum(axis=1)  # [J, A+1]
        log_weights = np.log(weights / weights.sum())[:, None]
        top = np.max(terms + log_weights, axis=0)
        log_p = log_p + top + np.log(np.sum(np.exp(terms + log_weights - top), axis=0))
    return normalize_log(log_p)


def beyond_references(p: np.ndarray, youngest: float | None, oldest: float | None,
                      threshold: float = BEYOND_MASS) -> tuple[int, float]:
    """(side, mass): +1 when at least `threshold` of the posterior lies above the oldest reference the query
    can be shown (the answers place it older than every one), -1 below the youngest, else 0; and that mass."""
    p = np.asarray(p, dtype=np.float64)
    ages = age_grid(len(p) - 1)
    above = float(p[ages > oldest].sum()) if oldest is not None else 0.0
    below = float(p[ages < youngest].sum()) if youngest is not None else 0.0
    if above >= threshold and above >= below:
        return 1, above
    if below >= threshold:
        return -1, below
    return 0, max(above, below)


@dataclass(frozen=True)
class PosteriorSummary:
    mode: int
    mean: float
    median: int
    ci_low: int
    ci_high: int
    flagged: bool
    beyond: int = 0  # +1 older than every reference the query can be shown, -1 younger, 0 neither
    beyond_age: int | None = None  # that oldest (youngest) reference's age
    beyond_mass: float = 0.0  # the posterior's share beyond it

    @property
    def ci_width(self) -> int:
        return self.ci_high - self.ci_low

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "mean": round(self.mean, 3),
            "median": self.median,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_width": self.ci_width,
            "flagged": self.flagged,
            "beyond": self.beyond_text(),
        }

    def beyond_text(self) -> str:
        """'older than 69' / 'younger than 3' / '' (the "beyond the references" state)."""
        if self.beyond == 0 or self.beyond_age is None:
            return ""
        return f"{'older' if self.beyond > 0 else 'younger'} than {self.beyond_age}"


def quantile_ages(p: np.ndarray, q: float) -> np.ndarray:
    """Per posterior (last axis), the smallest age whose CDF is at least q; works on a batch of rows.

    A tiny tolerance absorbs float round-off; the last age is the answer if round-off keeps the CDF below q.
    """
    cdf = np.cumsum(np.asarray(p, dtype=np.float64), axis=-1)
    reached = cdf >= q - 1e-12
    reached[..., -1] = True
    return np.argmax(reached, axis=-1)


def quantile_age(p: np.ndarray, q: float) -> int:
    """The smallest age whose CDF is at least q (a tiny tolerance absorbs float round-off)."""
    return int(quantile_ages(p, q))


def credible_intervals(p: np.ndarray, mass: float = CREDIBLE_MASS) -> tuple[np.ndarray, np.ndarray]:
    """Central `mass` intervals of a batch of posteriors over integer ages (rows): arrays (a_lo, a_hi).

    The mid-distribution rule: with M(a) = P(age < a) + P(age = a) / 2, a_lo is the smallest age with
    M(a) >= (1 - mass) / 2 and a_hi the largest with M(a) <= 1 - (1 - mass) / 2 (never below a_lo). For a
    calibrated posterior over integer ages this covers the true age a share `mass` of the time. The plain
    rule (a_lo the smallest age with CDF >= 0.05, a_hi the smallest with CDF >= 0.95) over-covers by about
    half the probability of the two edge ages: 58% at a nominal 50% and 92% at 90% for a calibrated
    posterior about 15 years wide (tests/core/test_posterior.py measures both)."""
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"an interval's mass must lie in (0, 1], got {mass}")
    p = np.asarray(p, dtype=np.float64)
    tail = (1.0 - mass) / 2.0
    total = p.sum(axis=-1, keepdims=True)
    mid = (np.cumsum(p, axis=-1) - p / 2.0) / np.where(total > 0, total, 1.0)
    low_reached = mid >= tail - 1e-12
    low_reached[..., -1] = True
    low = np.argmax(low_reached, axis=-1)
    high = np.sum(mid <= 1.0 - tail + 1e-12, axis=-1) - 1
    return low, np.maximum(high, low)


def credible_interval(p: np.ndarray, mass: float = CREDIBLE_MASS) -> tuple[int, int]:
    """[a_lo, a_hi] of one posterior by the mid-distribution rule of `credible_intervals`."""
    low, high = credible_intervals(p, mass)
    return int(low), int(high)


def summarize(p: Iterable[float], outlier_width: int = OUTLIER_WIDTH,
              reference_range: tuple[float, float] | None = None) -> PosteriorSummary:
    """Mode, mean, median, 90% interval, the outlier flag (width > outlier_width) and, given the ages of the
    youngest and oldest references the query can be shown, whether it lies beyond them (then not flagged:
    what it needs is older or younger references, not more answers)."""
    p = np.asarray(p, dtype=np.float64)
    ages = age_grid(len(p) - 1)
    low, high = credible_interval(p)
    side, mass, beyond_age = 0, 0.0, None
    if reference_range is not None:
        side, mass = beyond_references(p, *reference_range)
        beyond_age = None if side == 0 else int(reference_range[1] if side > 0 else reference_range[0])
    return PosteriorSummary(
        mode=int(np.argmax(p)),
        mean=float(np.dot(p, ages) / p.sum()),
        median=quantile_age(p, 0.5),
        ci_low=low,
        ci_high=high,
        flagged=(high - low) > outlier_width and side == 0,
        beyond=side,
        beyond_age=beyond_age,
        beyond_mass=round(mass, 6),
    )
