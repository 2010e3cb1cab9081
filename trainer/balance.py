"""Balanced sampling of ages (Yang et al., "Delving into Deep Imbalanced Regression", ICML 2021): faces of rare
ages are drawn more often, so that a network trained on UTKFace (most faces 20-40 or under 5) does not pull
the very old and the teenagers towards the middle (measured on the default model: ages 80 and over
underestimated by 7 years, teenagers overestimated by 3).

The label density is the sum of the training targets (each a distribution over ages) smoothed by a Gaussian
kernel (label distribution smoothing, sigma 2 years); a face's weight is its target's expectation of
density^(-power): power 0.5 is the paper's square-root inverse ("sqrt_inv"), 1 full inverse frequency, 0 none.
Weights are normalised to mean 1 and capped at CAP times the mean, so that a handful of faces of a lone age
are not drawn a hundred times an epoch.
"""

from __future__ import annotations

import torch

SIGMA = 2.0
CAP = 8.0


def label_density(targets: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """The smoothed density of the training ages: (N, A + 1) targets -> (A + 1,), summing to 1."""
    histogram = targets.double().sum(dim=0)
    ages = torch.arange(histogram.shape[0], dtype=torch.float64)
    kernel = torch.exp(-0.5 * ((ages[:, None] - ages[None, :]) / sigma) ** 2)
    kernel = kernel / kernel.sum(dim=0, keepdim=True)  # each age's mass spread, none lost at the ends
    density = kernel @ histogram
    return density / density.sum()


def balanced_weights(targets: torch.Tensor, power: float, sigma: float = SIGMA, cap: float = CAP) -> torch.Tensor:
    """Per face, the sampling weight (mean 1): E_target[density^-power], capped at `cap` times the mean."""
    if power < 0:
        raise ValueError(f"--balance must be 0 or more, got {power}")
    density = label_density(targets, sigma).clamp_min(1e-12)
    weights = targets.double() @ density.pow(-power)
    for _ in range(20):  # capping lowers the mean, which raises the cap's share again: a few rounds settle it
        weights = weights / weights.mean()
        if float(weights.max()) <= cap * (1 + 1e-9):
            break
        weights = weights.clamp(max=cap)
    return weights.float()
