from __future__ import annotations

import numpy as np
import pytest


class NoisyAgeModel:
    """Stands in for a network: a Gaussian posterior around a known age, its centre jittered per call."""

    age_max = 100

    def __init__(self, true_age: float = 40.0, noise_sd: float = 6.0, seed: int = 0):
        self.true_age = true_age
        self.noise_sd = noise_sd
        self.rng = np.random.default_rng(seed)
        self.centres: list[float] = []

    def predict_crops(self, crops):
        ages = np.arange(self.age_max + 1)
        posteriors = []
        for _ in crops:
            centre = self.true_age + self.rng.normal(0, self.noise_sd)
            self.centres.append(centre)
            p = np.exp(-0.5 * ((ages - centre) / 4.0) ** 2)
            posteriors.append(p / p.sum())
        return np.array(posteriors), np.full(len(crops), 0.8)


@pytest.fixture
def noisy_model():
    return NoisyAgeModel()
