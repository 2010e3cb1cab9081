"""An annotator's β, as the labelling uses it: the gold answers it is fitted from, and setting a new estimate
(from the gold refit or a study) with every posterior that annotator's answers enter recomputed at once."""

from __future__ import annotations

import numpy as np
import sqlite_utils

from ageapp.core.beta_model import STUDY, AnnotatorModel
from ageapp.store.annotators import save_annotator_model
from ageapp.store.comparisons import gold_answers_of as stored_gold_answers
from ageapp.store.comparisons import queries_answered_by
from ageapp.store.posteriors import refresh_posteriors

MIN_BETA = 0.01


def gold_answers_of(db: sqlite_utils.Database, annotator_id: int) -> tuple[np.ndarray, np.ndarray, list[bool | None]]:
    """An annotator's gold answers not undone: (age of the face in the query's place, age of the other face,
    first older? True / False / None for can't tell), oldest first."""
    rows = stored_gold_answers(db, annotator_id)
    return (np.array([r["first_age"] for r in rows], float), np.array([r["second_age"] for r in rows], float),
            [{"older": True, "younger": False}.get(r["answer"]) for r in rows])


def apply_model(db: sqlite_utils.Database, annotator_id: int, model: AnnotatorModel) -> int:
    """Set an annotator's β estimate (ageapp.core.beta_model) and recompute every posterior that annotator's
    answers enter, in one transaction; returns how many were recomputed. The gold refit and the user study's
    "adopt β" go through it."""
    with db.atomic():
        save_annotator_model(db, annotator_id, model)
        touched = queries_answered_by(db, annotator_id)
        refresh_posteriors(db, queries=touched)
    return len(touched)


def apply_beta(db: sqlite_utils.Database, annotator_id: int, beta: float, age_max: int | None = None,
               log_sd: float = 0.0, source: str = STUDY) -> int:
    """apply_model with a single β (clipped to at least MIN_BETA)."""
    return apply_model(db, annotator_id, AnnotatorModel(beta=max(MIN_BETA, float(beta)), log_sd=log_sd, source=source))
