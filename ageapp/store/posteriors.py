"""The current age posterior of each query: the vector over ages 0..age_max (float32 bytes) and its summary.

Each posterior is prior × likelihoods (store.priors: the project's prior, uniform or the model's); it says which
prior it used (`prior`) and keeps the likelihood-only posterior (`likelihood`, NULL when the prior was uniform).
Unlike comparisons these are derived values, recomputed from the comparisons and overwritten. When the way a
posterior or its summary is computed changes (`ageapp.core.posterior.POSTERIOR_ENGINE`), a project opened for
writing recomputes them all once (`refresh_posteriors`), so stored summaries always follow the current rule.
"""

from __future__ import annotations

import json

from collections import defaultdict

import numpy as np
import sqlite_utils

from ageapp.core.posterior import POSTERIOR_ENGINE, PosteriorSummary, summarize
from ageapp.store.comparisons import active_comparisons, posterior_of_comparisons
from ageapp.store.genders import effective_gender_sql, gender_confidence
from ageapp.store.priors import UNIFORM_PRIOR, QueryPrior, model_priors, prior_choice, prior_of_query, query_prior
from ageapp.store.settings import get_setting, set_setting


def save_posterior(
    db: sqlite_utils.Database,
    query_image_id: int,
    probabilities: np.ndarray,
    summary: PosteriorSummary,
    n_comparisons: int,
    prior: str = "uniform",
    likelihood: np.ndarray | None = None,
) -> None:
    """Store (or replace) a query's posterior, with the label of its prior and (for another prior than the
    uniform one) its likelihood-only posterior; committed at once unless inside db.atomic()."""
    vector = np.asarray(probabilities, dtype="<f4")
    if vector.ndim != 1 or len(vector) < 2:
        raise ValueError(f"a posterior is a vector over ages 0..age_max, not shape {vector.shape}")
    only = None if likelihood is None else np.asarray(likelihood, dtype="<f4")
    if only is not None and only.shape != vector.shape:
        raise ValueError("the likelihood-only posterior must cover the same ages as the posterior")
    db.execute(
        "INSERT OR REPLACE INTO posteriors (query_image_id, age_max, probabilities, mode, mean, ci_low, ci_high,"
        " flagged, n_comparisons, beyond, beyond_age, beyond_mass, prior, likelihood)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [query_image_id, len(vector) - 1, vector.tobytes(), int(summary.mode), float(summary.mean),
         int(summary.ci_low), int(summary.ci_high), int(bool(summary.flagged)), n_comparisons,
         int(summary.beyond), summary.beyond_age, float(summary.beyond_mass), prior,
         None if only is None else only.tobytes()],
    )


def reference_age_ranges(db: sqlite_utils.Database, age_max: int) -> dict[int | None, tuple[float, float] | None]:
    """(youngest, oldest) age of the references a query can be shown, by the query's gender (None: unknown,
    any reference; 0 or 1: that gender's references and those of unknown gender): references of exact age,
    within the range, with a face. None where there is no such reference."""
    confidence = gender_confidence(db)
    rows = db.execute(
        f"SELECT {effective_gender_sql('images')} AS gender, min(age), max(age) FROM images"
        " WHERE role = 'reference' AND age IS NOT NULL AND age <= ?"
        " AND EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id) GROUP BY gender",
        [confidence, age_max],
    ).fetchall()
    by_gender = {row[0]: (row[1], row[2]) for row in rows}

    def span(genders) -> tuple[float, float] | None:
        found = [by_gender[g] for g in genders if g in by_gender]
        return (min(f[0] for f in found), max(f[1] for f in found)) if found else None

    return {None: span(list(by_gender)), 0: span([0, None]), 1: span([1, None])}


def query_genders(db: sqlite_utils.Database, query_ids) -> dict[int, int | None]:
    """The gender the reference choice uses for each query (the label, else a confident prediction)."""
    ids = [int(q) for q in query_ids]
    if not ids:
        return {}
    rows = db.execute(f"SELECT images.id, {effective_gender_sql('images')} FROM images"
                      f" WHERE images.id IN ({','.join('?' * len(ids))})", [gender_confidence(db), *ids]).fetchall()
    return {row[0]: row[1] for row in rows}


def compute_posterior(db: sqlite_utils.Database, query_image_id: int, age_max: int,
                      ranges: dict | None = None) -> tuple[np.ndarray, PosteriorSummary, list[dict], QueryPrior]:
    """(posterior, summary, active comparison rows, prior) of a query as its answers and the project's prior
    imply it now (nothing written): the summary says whether it lies beyond the references it can be shown."""
    rows = active_comparisons(db, query_image_id)
    prior = prior_of_query(db, query_image_id, age_max)
    posterior = posterior_of_comparisons(rows, age_max, log_prior=prior.log_prior)
    ranges = ranges if ranges is not None else reference_age_ranges(db, age_max)
    gender = query_genders(db, [query_image_id]).get(query_image_id)
    return posterior, summarize(posterior, reference_range=ranges.get(gender) if rows else None), rows, prior


def likelihood_posterior(rows: list[dict], age_max: int, prior: QueryPrior) -> np.ndarray | None:
    """The likelihood-only posterior (uniform prior) to store beside one computed under `prior`; None when the
    prior was uniform (then the posterior itself is it)."""
    return None if prior.log_prior is None else posterior_of_comparisons(rows, age_max)


def load_posterior(db: sqlite_utils.Database, query_image_id: int) -> dict | None:
    """The stored posterior with `probabilities` as a float64 array, or None if the query has none yet."""
    rows = list(db.query("SELECT * FROM posteriors WHERE query_image_id = ?", [query_image_id]))
    if not rows:
        return None
    row = rows[0]
    row["probabilities"] = np.frombuffer(row["probabilities"], dtype="<f4").astype(np.float64)
    row["likelihood"] = (row["probabilities"] if row["likelihood"] is None
                         else np.frombuffer(row["likelihood"], dtype="<f4").astype(np.float64))
    row["flagged"] = bool(row["flagged"])
    return row


def count_posteriors(db: sqlite_utils.Database, flagged_only: bool = False) -> int:
    sql = "SELECT count(*) FROM posteriors" + (" WHERE flagged = 1" if flagged_only else "")
    return db.execute(sql).fetchone()[0]


def expected_posteriors(db: sqlite_utils.Database) -> dict[int, tuple[np.ndarray, int]]:
    """query id -> (posterior recomputed from its active comparisons and its prior, their number), for every
    query that has comparisons or a stored posterior."""
    return {query: (posterior, count) for query, (posterior, count, _, _) in expected_parts(db).items()}


def expected_parts(db: sqlite_utils.Database, wanted=None) -> dict[int, tuple[np.ndarray, int, QueryPrior,
                                                                              np.ndarray | None]]:
    """query id -> (posterior, comparisons, prior, likelihood-only posterior or None) as they should be stored:
    every query's, or only those of the ids in `wanted` (what a β refit touches: reading only their comparisons
    keeps a refit on a 50,000-query project off the labeller's key path)."""
    age_max = int(get_setting(db, "age_max"))
    choice = prior_choice(db)
    stored_priors = model_priors(db) if choice.kind != "uniform" else {}
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in active_comparisons(db, queries=wanted):
        grouped[row["query_image_id"]].append(row)
    if wanted is None:
        queries = set(grouped) | {row[0] for row in db.execute("SELECT query_image_id FROM posteriors")}
        queries &= {row[0] for row in db.execute("SELECT id FROM images")}  # not comparisons of images now gone
    else:  # the wanted ones that still exist (a stored posterior without answers is recomputed too)
        queries = {row[0] for row in db.execute("SELECT id FROM images WHERE role = 'query' AND id IN (SELECT value FROM json_each(?))",
                                                [json.dumps(sorted({int(q) for q in wanted}))])}
    expected = {}
    for query in queries:
        rows = grouped.get(query, [])
        prior = query_prior(choice, stored_priors.get(query), age_max) if stored_priors else UNIFORM_PRIOR
        expected[query] = (posterior_of_comparisons(rows, age_max, log_prior=prior.log_prior), len(rows), prior,
                           likelihood_posterior(rows, age_max, prior))
    return expected


def refresh_posteriors(db: sqlite_utils.Database, force: bool = False, queries=None) -> int:
    """Recompute stored posteriors from the comparisons: all of them when they were computed by another engine
    version (or always, with force), or just `queries`; one transaction. Returns how many were rewritten."""
    if queries is None and not force and get_setting(db, "posterior_engine") == POSTERIOR_ENGINE:
        return 0
    age_max = int(get_setting(db, "age_max"))
    expected = expected_parts(db, queries)
    ranges = reference_age_ranges(db, age_max)
    genders = query_genders(db, list(expected))
    with db.atomic():
        for query, (posterior, count, prior, likelihood) in expected.items():
            summary = summarize(posterior, reference_range=ranges.get(genders.get(query)) if count else None)
            save_posterior(db, query, posterior, summary, count, prior.label, likelihood)
        if queries is None:
            set_setting(db, "posterior_engine", POSTERIOR_ENGINE)
    return len(expected)


def queries_with_posteriors(db: sqlite_utils.Database) -> list[int]:
    """Ids of the queries that have a posterior, in id order."""
    return [row[0] for row in db.execute(
        "SELECT images.id FROM images JOIN posteriors ON posteriors.query_image_id = images.id"
        " WHERE images.role = 'query' ORDER BY images.id").fetchall()]
