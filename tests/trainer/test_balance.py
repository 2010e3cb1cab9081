"""Balanced sampling of rare ages: weights by hand, and the loader drawing in proportion to them."""

from __future__ import annotations

import torch
import pytest

from trainer.balance import balanced_weights, label_density
from trainer.batches import BatchLoader


def one_hot(ages, age_max=30):
    targets = torch.zeros(len(ages), age_max + 1)
    targets[torch.arange(len(ages)), torch.tensor(ages)] = 1.0
    return targets


def test_square_root_inverse_weights_by_hand():
    """Without smoothing (a tiny sigma), 16 faces of age 5 and 4 of age 25: densities 0.8 and 0.2, weights
    0.8^-0.5 and 0.2^-0.5 (ratio 2), normalised to mean 1: an age with four times the faces gets half the
    weight each, so it is drawn twice as often in all, not four times."""
    targets = one_hot([5] * 16 + [25] * 4)
    weights = balanced_weights(targets, 0.5, sigma=0.01)
    raw = torch.tensor([0.8 ** -0.5] * 16 + [0.2 ** -0.5] * 4)
    assert torch.allclose(weights, raw / raw.mean(), rtol=1e-5)
    assert float(weights.mean()) == pytest.approx(1.0)
    assert torch.allclose(balanced_weights(targets, 0.0), torch.ones(20))


def test_the_density_is_smoothed_sums_to_one_and_weights_are_capped():
    targets = one_hot([10] * 999 + [30])
    density = label_density(targets)
    assert float(density.sum()) == pytest.approx(1.0)
    assert float(density[11]) > 0 and float(density[12]) < float(density[11]) < float(density[10])
    weights = balanced_weights(targets, 1.0, cap=8.0)
    assert float(weights.max()) <= 8.0 * float(weights.mean()) * (1 + 1e-6)
    with pytest.raises(ValueError):
        balanced_weights(targets, -1.0)


def test_the_loader_draws_in_proportion_to_the_weights():
    n = 400
    crops = torch.zeros(n, 8, 8, 3, dtype=torch.uint8)
    weights = torch.ones(n)
    weights[:100] = 3.0  # the first quarter drawn three times as often each
    loader = BatchLoader(crops, torch.zeros(n, 5), torch.zeros(n, dtype=torch.int64), 50, prefetch=False,
                         size=8, weights=weights)
    drawn = []
    for epoch in range(25):
        loader.set_epoch(epoch)
        drawn += [index for *_, batch in loader for index in batch.tolist()]
    share = sum(i < 100 for i in drawn) / len(drawn)
    assert share == pytest.approx(300 / 600, abs=0.02)  # 10,000 draws: standard error 0.005
    assert len(drawn) == 25 * n
    with pytest.raises(ValueError):
        BatchLoader(crops, torch.zeros(n, 5), torch.zeros(n, dtype=torch.int64), 50, weights=torch.ones(3))
