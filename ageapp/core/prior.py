"""The prior of the comparison posterior (method.md section 1: P(a | C) ∝ P(a) · Π P(C | a)).

Two priors a project can choose:
- "uniform": the paper's; every age equally likely before the first answer (exactly today's posteriors);
- "model": the age model's own posterior for the face, tempered by a power t in [0, 1]: P(a) ∝ p_model(a)^t.
  t = 1 trusts the model fully, t = 0 is the uniform prior again; in between widens the model's opinion so
  that a model that is too sure of itself does not make the labels overconfident.

The model's posterior enters here as an array (the core never runs a model): `model_log_prior` resamples it
onto the project's range 0..age_max and tempers it. The likelihood-only posterior (the uniform prior) is
what training should learn from, so that a network does not learn its own opinion back.
"""

from __future__ import annotations

import numpy as np

from ageapp.core.posterior import normalize_log

UNIFORM = "uniform"
MODEL = "model"
PRIORS = (UNIFORM, MODEL)
# Chosen by simulation on 2,000 UTKFace queries with FG-NET references (docs/results.md, section "model-prior"):
# the largest power tried whose final 90% intervals cover at least 88% of the true ages with both default models
# measured (the uncalibrated first one: 0.89 at 0.75 but 0.87 at 1; the calibrated one: 0.92 at both), at about
# 0.62 of the comparisons of the uniform prior.
PRIOR_POWER_DEFAULT = 0.75
PRIOR_FLOOR = 1e-9  # no age is ruled out by the model alone: the labeller's answers can still reach it


def check_power(power: float) -> float:
    """The power as a float; ValueError outside [0, 1]."""
    power = float(power)
    if not 0.0 <= power <= 1.0:  # also refuses NaN
        raise ValueError(f"the prior's power must lie between 0 and 1, not {power:g}")
    return power


def on_range(p: np.ndarray, age_max: int) -> np.ndarray:
    """A distribution over 0..len(p)-1 put onto 0..age_max (last axis; rows of a batch alike): ages beyond
    age_max fold into age_max (it means "age_max or older"), and a model's last age, which means "that age or
    older", is spread evenly over itself and the ages beyond it. Normalised."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, None)
    last = p.shape[-1] - 1
    if last > age_max:
        folded = p[..., : age_max + 1].copy()
        folded[..., age_max] += p[..., age_max + 1:].sum(axis=-1)
        p = folded
    elif last < age_max:
        tail = np.repeat(p[..., last:] / (age_max - last + 1), age_max - last + 1, axis=-1)
        p = np.concatenate([p[..., :last], tail], axis=-1)
    total = p.sum(axis=-1, keepdims=True)
    if np.any(total <= 0) or not np.all(np.isfinite(total)):
        raise ValueError("a prior needs a finite distribution with some mass")
    return p / total


def tempered_log_prior(p: np.ndarray, power: float) -> np.ndarray:
    """log of p^power renormalised (last axis), p floored at PRIOR_FLOOR; power 0 gives the uniform prior
    exactly (all zeros after normalising: log(1 / (A + 1)) at every age)."""
    power = check_power(power)
    p = np.asarray(p, dtype=np.float64)
    log_p = power * np.log(np.maximum(p / p.sum(axis=-1, keepdims=True), PRIOR_FLOOR))
    return normalize_log(log_p)


def model_log_prior(p: np.ndarray, power: float, age_max: int) -> np.ndarray:
    """The model prior on the project's range: `on_range` then `tempered_log_prior`."""
    return tempered_log_prior(on_range(p, age_max), power)


def describe_prior(kind: str, power: float | None = None, model: str = "") -> str:
    """What a stored posterior says about its prior: 'uniform', or 'model default.onnx ^0.5'."""
    if kind == UNIFORM or power is None:
        return UNIFORM
    return f"{MODEL} {model or '?'} ^{power:g}"
