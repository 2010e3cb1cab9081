"""A simulated participant of the user study, answering as the paper models a person (the study's tests, the
screenshots, the simulation of adopting a study's β)."""

from __future__ import annotations

import numpy as np

from ageapp.annotation.study import GUESS, LEFT, OLDEST_GUESS, PAPER_BETA, RIGHT, Trial, correct_probability


class SimulatedPerson:
    """Answers as the paper models a person: a guess is the true age plus Gaussian noise (rounded, within
    0..OLDEST_GUESS); the left face is judged older with probability σ(β (left age − right age))."""

    def __init__(self, beta: float = PAPER_BETA, guess_sd: float = 6.0, seed: int | None = None):
        self.beta, self.guess_sd = beta, guess_sd
        self.rng = np.random.default_rng(seed)

    def answer(self, trial: Trial):
        if trial.test == GUESS:
            return int(np.clip(np.rint(trial.true_ages[0] + self.rng.normal(0.0, self.guess_sd)), 0, OLDEST_GUESS))
        p_left = float(correct_probability(trial.true_ages[0] - trial.true_ages[1], self.beta))
        return LEFT if self.rng.random() < p_left else RIGHT
