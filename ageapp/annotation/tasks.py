"""What a labeller is shown and what an answer means: a pair on screen (Task), a query's posterior with the
comparisons behind it (QueryState), and a key press turned into an answer about the query."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

import sqlite_utils

from ageapp.core.posterior import PosteriorSummary
from ageapp.store.posteriors import compute_posterior, likelihood_posterior, save_posterior


@dataclass
class Task:
    """One pair on screen. For a gold task, `query_image_id` is the reference shown in the query's place."""

    kind: str  # "query" or "gold"
    query_image_id: int
    reference_image_id: int
    query_side: str  # "left" or "right"
    query_crop: np.ndarray = field(repr=False)
    reference_crop: np.ndarray = field(repr=False)
    shown_at: float = field(default_factory=time.monotonic)

    @property
    def crops_left_right(self) -> tuple[np.ndarray, np.ndarray]:
        if self.query_side == "left":
            return self.query_crop, self.reference_crop
        return self.reference_crop, self.query_crop


@dataclass
class QueryState:
    """A query's posterior and the comparisons behind it, as the plot shows them."""

    query_image_id: int
    posterior: np.ndarray
    summary: PosteriorSummary
    comparisons: list[tuple[float, str]]  # (reference age, answer)
    prior: np.ndarray | None = None  # the prior the posterior started from (None: uniform), drawn faintly behind it
    prior_label: str = "uniform"  # what the stored posterior says about its prior (ageapp.core.prior.describe_prior)
    likelihood: np.ndarray | None = field(default=None, repr=False)  # the same answers under the uniform prior


def answer_for_choice(choice: str, query_side: str) -> str:
    """'left'/'right' (that face is older) or 'unsure' -> the answer about the QUERY."""
    if choice == "unsure":
        return "unsure"
    if choice not in ("left", "right"):
        raise ValueError(f"choice must be 'left', 'right' or 'unsure', not {choice!r}")
    return "older" if choice == query_side else "younger"


def query_state(db: sqlite_utils.Database, query_image_id: int, age_max: int, ranges=None) -> QueryState:
    """The query's posterior as its active comparisons imply it now (nothing written): each annotator's β
    with its uncertainty, the project's prior, and whether it lies beyond the references it can be shown."""
    posterior, summary, rows, prior = compute_posterior(db, query_image_id, age_max, ranges)
    return QueryState(query_image_id, posterior, summary, [(row["reference_age"], row["answer"]) for row in rows],
                      prior.probabilities, prior.label, likelihood_posterior(rows, age_max, prior))


def recompute_posterior(db: sqlite_utils.Database, query_image_id: int, age_max: int, ranges=None) -> QueryState:
    """The query's posterior from all its active comparisons (each with its annotator's beta), stored."""
    state = query_state(db, query_image_id, age_max, ranges)
    save_posterior(db, query_image_id, state.posterior, state.summary, len(state.comparisons), state.prior_label,
                   state.likelihood)
    return state
