"""What a labeller is shown and what an answer means: a pair on screen (Task), a query's posterior with the
comparisons behind it (QueryState), and a key press turned into an answer about the query."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ageapp.core.posterior import PosteriorSummary


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
