"""A labeller's β as an estimate with its uncertainty, and as a curve over the reference's age (beyond the paper).

β scales every one of an annotator's answers (P(older | a) = σ(β (a − k))), so a wrong β makes every posterior
that annotator touches too narrow or too wide. Three things here:

1. **Shrinkage.** β is estimated on log β with a normal prior centred on the population value (0.36, the paper's
   user study, or the project's pooled labellers) with sd PRIOR_LOG_SD: the maximum a posteriori estimate. The
   prior weighs as much as about a dozen informative answers, so 30 answers cannot move β from 0.36 to 1.19 on
   their own, while after 2,000 it no longer matters.
2. **Uncertainty.** The 95% profile-likelihood interval of β (the set where twice the drop of Firth's penalised
   log-likelihood stays below 3.84), reported with the number of answers; and the posterior sd of log β
   (Laplace's approximation at the MAP), which the comparison posterior integrates over
   (ageapp.core.posterior.posterior_over_annotators) instead of plugging in a point estimate.
3. **β by age** (the paper's "different logistic functions across ages", left to future work): β(k) piecewise
   linear over knots in the reference's age, each knot's log β shrunk towards the single β, chosen over the
   single β only when it predicts held-out gold answers better (K-fold cross-validated log-likelihood).

Gold answers: (age of the face in the query's place, age of the reference, first older?), answer None for
"can't tell" (no term). The reference's age is the one β(k) is read at, as for a query's comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ageapp.core.posterior import BETA_DEFAULT

PRIOR_LOG_SD = 0.5  # population spread of log β: 95% of labellers within ×/÷ 2.7 of the population value
CHI2_95 = 3.841  # twice the log-likelihood drop at the edges of a 95% profile interval (1 degree of freedom)
LOG_BETA_RANGE = (math.log(0.01), math.log(10.0))
CURVE_KNOTS = (0.0, 20.0, 40.0, 60.0, 80.0)
CURVE_SHRINK = 1.0  # precision (1 / sd^2) pulling each knot's log β towards the single log β
CV_FOLDS = 5
MIN_ANSWERS_FOR_CURVE = 60
DEFAULT, GOLD, STUDY = "default", "gold pairs", "study"


# ------------------------------------------------------------------------------------------------ curves
@dataclass(frozen=True)
class BetaCurve:
    """β at knots of the reference's age, linear in between and constant beyond the ends."""

    knots: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self):
        if len(self.knots) != len(self.values) or not self.knots:
            raise ValueError("a β curve needs as many values as knots, at least one")
        if any(b <= a for a, b in zip(self.knots, self.knots[1:])):
            raise ValueError("a β curve's ages must increase")
        if any(not (v > 0 and math.isfinite(v)) for v in self.values):
            raise ValueError("β must be positive at every age of the curve")

    def at(self, ages) -> np.ndarray:
        return np.interp(np.asarray(ages, dtype=np.float64), self.knots, self.values)

    def describe(self) -> str:
        return ", ".join(f"{k:g}:{v:.2f}" for k, v in zip(self.knots, self.values))

    def as_dict(self) -> dict:
        return {"knots": list(self.knots), "values": [round(v, 6) for v in self.values]}

    @classmethod
    def from_dict(cls, data) -> "BetaCurve | None":
        if not isinstance(data, dict):
            return None
        try:
            return cls(tuple(float(k) for k in data["knots"]), tuple(float(v) for v in data["values"]))
        except (KeyError, TypeError, ValueError):
            return None


def parse_beta_curve(text: str) -> BetaCurve:
    """`0:0.6,40:0.3,70:0.15` -> a curve (ages and β values; piecewise linear in the reference's age)."""
    try:
        pairs = [item.split(":") for item in text.replace(" ", "").split(",") if item]
        points = sorted((float(age), float(beta)) for age, beta in pairs)
    except ValueError:
        raise ValueError(f"{text!r} is not AGE:BETA,AGE:BETA,... (e.g. 0:0.6,40:0.3,70:0.15)") from None
    return BetaCurve(tuple(p[0] for p in points), tuple(p[1] for p in points))


def interpolation_weights(ages, knots) -> np.ndarray:
    """[N, K]: β(ages) = weights @ β(knots) for the piecewise-linear curve (constant beyond the ends)."""
    ages = np.clip(np.asarray(ages, dtype=np.float64), knots[0], knots[-1])
    weights = np.zeros((len(ages), len(knots)))
    for j in range(len(knots)):
        unit = np.zeros(len(knots))
        unit[j] = 1.0
        weights[:, j] = np.interp(ages, knots, unit)
    return weights


# ------------------------------------------------------------------------------------------------ the model
@dataclass(frozen=True)
class AnnotatorModel:
    """What the posterior needs to know of an annotator: β (at a reference age, through the curve if any),
    and the sd of log β's uncertainty, a common factor on the whole curve (0: β known exactly).

    beta: the single β (the curve's scale when a curve is used); interval: its 95% profile-likelihood interval
    (None until it was fitted); n: answers it was fitted from; source: DEFAULT, GOLD or STUDY."""

    beta: float = BETA_DEFAULT
    log_sd: float = PRIOR_LOG_SD
    curve: BetaCurve | None = None
    interval: tuple[float, float] | None = None
    n: int = 0
    source: str = DEFAULT
    cv_gain: float | None = field(default=None, compare=False)  # held-out log-likelihood gain of the curve

    def beta_at(self, reference_ages) -> np.ndarray:
        ages = np.asarray(reference_ages, dtype=np.float64)
        return self.curve.at(ages) if self.curve is not None else np.full(ages.shape, float(self.beta))

    @classmethod
    def known(cls, beta: float) -> "AnnotatorModel":
        """A β taken as exact (a simulated annotator's true β; tests)."""
        return cls(beta=float(beta), log_sd=0.0, source="known")

    def describe(self) -> str:
        """'β = 0.41 (95%: 0.30–0.57, 240 gold pairs)', 'β = 0.36 (default: no gold answers yet)'."""
        if self.source == DEFAULT:
            return f"β = {self.beta:.2f} (default: no gold answers yet)"
        span = f"95%: {self.interval[0]:.2f}–{self.interval[1]:.2f}, " if self.interval else ""
        noun = "pair" if self.source == STUDY else "gold answer"
        text = f"β = {self.beta:.2f} ({span}{self.n} {noun}{'' if self.n == 1 else 's'}, {self.source})"
        return text + (f"; by age {self.curve.describe()}" if self.curve is not None else "")


# ------------------------------------------------------------------------------------------------ fitting
def _answered(first_ages, reference_ages, first_older):
    keep = np.array([y is not None for y in first_older], dtype=bool)
    gaps = (np.asarray(first_ages, np.float64) - np.asarray(reference_ages, np.float64))[keep]
    older = np.array([bool(y) for y, k in zip(first_older, keep) if k], dtype=np.float64)
    return gaps, older, np.asarray(reference_ages, np.float64)[keep]


def log_likelihood(betas, gaps, older) -> float:
    """Σ log P(answer) for per-answer β (array or scalar)."""
    x = np.asarray(betas, np.float64) * gaps
    return float(np.sum(-np.logaddexp(0.0, np.where(older > 0, -x, x))))


def _newton_log_beta(gaps, older, prior_mean: float | None, prior_precision: float) -> tuple[float, float]:
    """(θ, curvature) maximising ℓ(e^θ) − precision (θ − mean)² / 2 (no prior when prior_mean is None), by a
    safeguarded Newton iteration on θ = log β; curvature is minus the second derivative at the optimum."""
    theta = 0.0 if prior_mean is None else prior_mean
    low, high = LOG_BETA_RANGE
    for _ in range(100):
        beta = math.exp(theta)
        s = 1.0 / (1.0 + np.exp(-beta * gaps))
        dl_dbeta = float(np.sum((older - s) * gaps))
        d2l_dbeta2 = float(-np.sum(s * (1 - s) * gaps ** 2))
        grad = beta * dl_dbeta
        hess = beta * dl_dbeta + beta ** 2 * d2l_dbeta2
        if prior_mean is not None:
            grad -= prior_precision * (theta - prior_mean)
            hess -= prior_precision
        if hess >= -1e-9:  # not concave here: a gradient step
            step = math.copysign(0.5, grad) if grad else 0.0
        else:
            step = max(-1.0, min(1.0, -grad / hess))
        new = min(high, max(low, theta + step))
        if abs(new - theta) < 1e-10:
            theta = new
            break
        theta = new
    beta = math.exp(theta)
    s = 1.0 / (1.0 + np.exp(-beta * gaps))
    dl = float(np.sum((older - s) * gaps))
    curvature = -(beta * dl - beta ** 2 * float(np.sum(s * (1 - s) * gaps ** 2)))
    if prior_mean is not None:
        curvature += prior_precision
    return theta, max(curvature, 1e-9)


def penalized_log_likelihood(beta: float, gaps, older) -> float:
    """ℓ(β) + ½ log I(β): Firth's penalty (Jeffreys' prior), which keeps the estimate finite when every answer
    was right, where the plain likelihood grows without bound."""
    s = 1.0 / (1.0 + np.exp(-beta * gaps))
    information = float(np.sum(s * (1 - s) * gaps ** 2))
    return log_likelihood(beta, gaps, older) + 0.5 * math.log(max(information, 1e-300))


def profile_interval(gaps, older, level_chi2: float = CHI2_95, points: int = 300) -> tuple[float, float]:
    """The 95% profile-likelihood interval of β: where twice the drop of the penalised log-likelihood from its
    maximum stays below 3.84 (Heinze and Schemper's interval for logistic regression in small samples: the
    plain likelihood's excludes the true β whenever every answer happened to be right, 7% of 30-pair studies
    at β = 0.36). Found on a grid of log β and refined by bisection; clipped to LOG_BETA_RANGE."""
    if len(gaps) == 0:
        return math.exp(LOG_BETA_RANGE[0]), math.exp(LOG_BETA_RANGE[1])
    grid = np.linspace(*LOG_BETA_RANGE, points)
    values = np.array([penalized_log_likelihood(math.exp(t), gaps, older) for t in grid])
    best = float(values.max())

    def inside(t: float) -> bool:
        return 2.0 * (best - penalized_log_likelihood(math.exp(t), gaps, older)) <= level_chi2

    kept = np.flatnonzero(2.0 * (best - values) <= level_chi2)

    def edge(index: int, step: int) -> float:
        if index + step < 0 or index + step >= points:
            return float(grid[index])
        a, b = float(grid[index]), float(grid[index + step])  # a inside, b outside: bisection
        for _ in range(40):
            m = 0.5 * (a + b)
            a, b = (m, b) if inside(m) else (a, m)
        return a

    return math.exp(edge(int(kept[0]), -1)), math.exp(edge(int(kept[-1]), 1))


def fit_single(first_ages, reference_ages, first_older, prior_beta: float = BETA_DEFAULT,
               prior_log_sd: float = PRIOR_LOG_SD, source: str = GOLD) -> AnnotatorModel:
    """The shrunk single β (MAP on log β), its posterior sd on log β, and the 95% profile interval."""
    gaps, older, _ = _answered(first_ages, reference_ages, first_older)
    if len(gaps) == 0:
        return AnnotatorModel(beta=prior_beta, log_sd=prior_log_sd)
    theta, curvature = _newton_log_beta(gaps, older, math.log(prior_beta), 1.0 / prior_log_sd ** 2)
    return AnnotatorModel(beta=math.exp(theta), log_sd=1.0 / math.sqrt(curvature),
                          interval=profile_interval(gaps, older), n=len(gaps), source=source)


def fit_curve(first_ages, reference_ages, first_older, single: AnnotatorModel,
              knots=CURVE_KNOTS, shrink: float = CURVE_SHRINK) -> BetaCurve:
    """β at each knot (MAP of log β with each knot shrunk towards the single β), by Newton's method."""
    gaps, older, ref = _answered(first_ages, reference_ages, first_older)
    weights = interpolation_weights(ref, knots)
    prior = math.log(single.beta)
    theta = np.full(len(knots), prior)
    for _ in range(100):
        b = np.exp(theta)
        beta_i = weights @ b
        s = 1.0 / (1.0 + np.exp(-beta_i * gaps))
        g_beta = (older - s) * gaps  # dℓ/dβ_i
        h_beta = -s * (1 - s) * gaps ** 2  # d²ℓ/dβ_i²
        jac = weights * b[None, :]  # dβ_i/dθ_j
        grad = jac.T @ g_beta - shrink * (theta - prior)
        hess = jac.T @ (h_beta[:, None] * jac) + np.diag(b * (weights.T @ g_beta)) - shrink * np.eye(len(knots))
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = 0.1 * grad
        if not np.all(np.linalg.eigvalsh(hess) < 0):  # not concave here: a damped gradient step
            step = 0.1 * grad / max(1.0, float(np.max(np.abs(grad))))
        step = np.clip(step, -1.0, 1.0)
        theta = np.clip(theta + step, *LOG_BETA_RANGE)
        if float(np.max(np.abs(step))) < 1e-9:
            break
    return BetaCurve(tuple(float(k) for k in knots), tuple(float(v) for v in np.exp(theta)))


def held_out_gain(first_ages, reference_ages, first_older, prior_beta: float = BETA_DEFAULT,
                  folds: int = CV_FOLDS, seed: int = 0) -> float:
    """Held-out log-likelihood of the curve minus that of the single β, summed over K folds (> 0: the curve
    predicts unseen gold answers better)."""
    first_ages, reference_ages = np.asarray(first_ages, float), np.asarray(reference_ages, float)
    first_older = list(first_older)
    order = np.random.default_rng(seed).permutation(len(first_older))
    gain = 0.0
    for fold in range(folds):
        test = np.zeros(len(first_older), bool)
        test[order[fold::folds]] = True
        train = ~test
        pick = lambda values, mask: [v for v, m in zip(values, mask) if m]  # noqa: E731
        single = fit_single(first_ages[train], reference_ages[train], pick(first_older, train), prior_beta)
        curve = fit_curve(first_ages[train], reference_ages[train], pick(first_older, train), single)
        gaps, older, ref = _answered(first_ages[test], reference_ages[test], pick(first_older, test))
        gain += log_likelihood(curve.at(ref), gaps, older) - log_likelihood(single.beta, gaps, older)
    return gain


def fit_annotator(first_ages, reference_ages, first_older, prior_beta: float = BETA_DEFAULT,
                  by_age: bool = True, source: str = GOLD) -> AnnotatorModel:
    """The annotator's model from gold answers: the shrunk single β with its uncertainty, and β by age when
    there are enough answers and the curve predicts held-out answers better."""
    single = fit_single(first_ages, reference_ages, first_older, prior_beta, source=source)
    if not by_age or single.n < MIN_ANSWERS_FOR_CURVE:
        return single
    gain = held_out_gain(first_ages, reference_ages, first_older, prior_beta)
    if gain <= 0:
        return AnnotatorModel(single.beta, single.log_sd, None, single.interval, single.n, source, cv_gain=gain)
    curve = fit_curve(first_ages, reference_ages, first_older, single)
    return AnnotatorModel(single.beta, single.log_sd, curve, single.interval, single.n, source, cv_gain=gain)
