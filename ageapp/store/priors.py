"""The prior of each query's comparison posterior (ageapp.core.prior), owner of the `model_priors` table.

The project's settings say which prior (`prior`: "uniform" or "model") and how much of the model's opinion
(`prior_power`); `model_priors` keeps the model's posterior for a query's face, stored once when the query is
first served (ageapp.annotation.model_prior runs the model; the store never does). A query without a stored
model posterior (no face, no usable model) starts from the uniform prior, and its posterior says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlite_utils

from ageapp.core.prior import (
    MODEL,
    PRIOR_POWER_DEFAULT,
    PRIORS,
    UNIFORM,
    check_power,
    describe_prior,
    model_log_prior,
)
from ageapp.store.settings import get_setting


@dataclass(frozen=True)
class PriorChoice:
    kind: str  # uniform | model
    power: float


def prior_choice(db: sqlite_utils.Database) -> PriorChoice:
    """The project's prior; a stored value that no longer makes sense reads as the uniform prior."""
    kind = get_setting(db, "prior")
    try:
        power = check_power(get_setting(db, "prior_power"))
    except (TypeError, ValueError):
        return PriorChoice(UNIFORM, PRIOR_POWER_DEFAULT)
    return PriorChoice(kind if kind in PRIORS else UNIFORM, power)


def save_model_prior(db: sqlite_utils.Database, query_image_id: int, model: str, probabilities) -> None:
    """Store (or replace) the model's posterior for a query's face."""
    vector = np.asarray(probabilities, dtype="<f4")
    if vector.ndim != 1 or len(vector) < 2 or not np.all(np.isfinite(vector)) or vector.sum() <= 0:
        raise ValueError("a model prior is a finite distribution over ages 0..age_max")
    db.execute("INSERT OR REPLACE INTO model_priors (query_image_id, model, age_max, probabilities)"
               " VALUES (?, ?, ?, ?)", [int(query_image_id), str(model), len(vector) - 1, vector.tobytes()])


def has_model_prior(db: sqlite_utils.Database, query_image_id: int) -> bool:
    row = db.execute("SELECT 1 FROM model_priors WHERE query_image_id = ?", [int(query_image_id)]).fetchone()
    return row is not None


def model_priors(db: sqlite_utils.Database, query_ids=None) -> dict[int, tuple[str, np.ndarray]]:
    """query id -> (model name, the model's posterior as stored), for all queries or the ones given."""
    sql, params = "SELECT query_image_id, model, probabilities FROM model_priors", []
    if query_ids is not None:
        ids = [int(q) for q in query_ids]
        sql += f" WHERE query_image_id IN ({','.join('?' * len(ids)) or 'NULL'})"
        params = ids
    return {row[0]: (row[1], np.frombuffer(row[2], dtype="<f4").astype(np.float64))
            for row in db.execute(sql, params)}


@dataclass(frozen=True)
class QueryPrior:
    """A query's prior as the posterior uses it: the log prior over 0..age_max (None: uniform) and its label."""

    log_prior: np.ndarray | None
    label: str = UNIFORM

    @property
    def probabilities(self) -> np.ndarray | None:
        return None if self.log_prior is None else np.exp(self.log_prior)


UNIFORM_PRIOR = QueryPrior(None, UNIFORM)


def query_prior(choice: PriorChoice, stored: tuple[str, np.ndarray] | None, age_max: int) -> QueryPrior:
    """The prior of one query under the project's choice, from its stored model posterior (or None)."""
    if choice.kind != MODEL or stored is None or choice.power == 0.0:
        return UNIFORM_PRIOR
    model, probabilities = stored
    return QueryPrior(model_log_prior(probabilities, choice.power, age_max), describe_prior(MODEL, choice.power, model))


def prior_of_query(db: sqlite_utils.Database, query_image_id: int, age_max: int) -> QueryPrior:
    choice = prior_choice(db)
    if choice.kind != MODEL:
        return UNIFORM_PRIOR
    return query_prior(choice, model_priors(db, [query_image_id]).get(int(query_image_id)), age_max)
