"""Ground-truth distributions P_gt over ages 0..A (method.md section 3), in numpy.

1. exact age: a discretised Gaussian, sigma = 2 years, normalised over 0..A;
2. an age range lo..hi: a Gaussian centred on the range with sigma = (hi - lo) / 3.29, so that the range is
   (about) its 90% interval;
3. a posterior from comparisons: used as it is (renormalised, resized to 0..A by clipping).
Ages above A clip to A. The ground-truth age of any target is its mode.
"""

from __future__ import annotations

import numpy as np

EXACT_SIGMA = 2.0
RANGE_Z = 3.29  # 2 x 1.645: a 90% central interval spans 3.29 sigma
MIN_SIGMA = 0.5


def gaussian_target(centre: float, sigma: float, age_max: int) -> np.ndarray:
    ages = np.arange(age_max + 1, dtype=np.float64)
    centre = min(max(float(centre), 0.0), float(age_max))
    log_p = -0.5 * ((ages - centre) / max(sigma, MIN_SIGMA)) ** 2
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


def exact_age_target(age: float, age_max: int, sigma: float = EXACT_SIGMA) -> np.ndarray:
    """Discretised Gaussian around the age (clipped to age_max)."""
    return gaussian_target(age, sigma, age_max)


def age_range_target(low: float, high: float, age_max: int) -> np.ndarray:
    """Gaussian centred on [low, high] whose 90% interval is the range; low == high is an exact age."""
    if high < low:
        raise ValueError(f"age range {low}-{high} is reversed")
    if high == low:
        return exact_age_target(low, age_max)
    return gaussian_target((low + high) / 2.0, (high - low) / RANGE_Z, age_max)


def posterior_target(p, age_max: int) -> np.ndarray:
    """A comparison posterior used as it is: mass beyond age_max folded onto age_max, zero-padded if short."""
    p = np.asarray(p, dtype=np.float64)
    out = np.zeros(age_max + 1)
    n = min(len(p), age_max + 1)
    out[:n] = p[:n]
    out[age_max] += p[age_max + 1:].sum()
    total = out.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("a posterior target must have positive finite mass")
    return out / total


def make_target(age_max: int, age=None, age_min=None, age_max_label=None, posterior=None) -> np.ndarray:
    """The target for one label, whichever kind it is (posterior > exact age > range)."""
    if posterior is not None:
        return posterior_target(posterior, age_max)
    if age is not None:
        return exact_age_target(age, age_max)
    if age_min is not None and age_max_label is not None:
        return age_range_target(age_min, age_max_label, age_max)
    raise ValueError("a label needs an age, an age range or a posterior")


def target_age(target: np.ndarray) -> int:
    """Ground-truth age of a target: its mode."""
    return int(np.argmax(target))
