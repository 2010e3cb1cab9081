"""The current age posterior of each query: the vector over ages 0..age_max (float32 bytes) and its summary.

Unlike comparisons these are derived values, recomputed from the comparisons and overwritten. When the way a
posterior or its summary is computed changes (`ageapp.core.posterior.POSTERIOR_ENGINE`), a project opened for
writing recomputes them all once (`refresh_posteriors`), so stored summaries always follow the current rule.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import sqlite_utils

from ageapp.core.posterior import POSTERIOR_ENGINE, PosteriorSummary, summarize
from ageapp.store.comparisons import active_comparisons, posterior_of_comparisons
from ageapp.store.settings import get_setting, set_setting


def save_posterior(
    db: sqlite_utils.Database,
    query_image_id: int,
    probabilities: np.ndarray,
    summary: PosteriorSummary,
    n_comparisons: int,
) -> None:
    """Store (or replace) a query's posterior; committed at once unless inside db.atomic()."""
    vector = np.asarray(probabilities, dtype="<f4")
    if vector.ndim != 1 or len(vector) < 2:
        raise ValueError(f"a posterior is a vector over ages 0..age_max, not shape {vector.shape}")
    db.execute(
        "INSERT OR REPLACE INTO posteriors (query_image_id, age_max, probabilities, mode, mean, ci_low, ci_high,"
        " flagged, n_comparisons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [query_image_id, len(vector) - 1, vector.tobytes(), int(summary.mode), float(summary.mean),
         int(summary.ci_low), int(summary.ci_high), int(bool(summary.flagged)), n_comparisons],
    )


def load_posterior(db: sqlite_utils.Database, query_image_id: int) -> dict | None:
    """The stored posterior with `probabilities` as a float64 array, or None if the query has none yet."""
    rows = list(db.query("SELECT * FROM posteriors WHERE query_image_id = ?", [query_image_id]))
    if not rows:
        return None
    row = rows[0]
    row["probabilities"] = np.frombuffer(row["probabilities"], dtype="<f4").astype(np.float64)
    row["flagged"] = bool(row["flagged"])
    return row


def count_posteriors(db: sqlite_utils.Database, flagged_only: bool = False) -> int:
    sql = "SELECT count(*) FROM posteriors" + (" WHERE flagged = 1" if flagged_only else "")
    return db.execute(sql).fetchone()[0]


def expected_posteriors(db: sqlite_utils.Database) -> dict[int, tuple[np.ndarray, int]]:
    """query id -> (posterior recomputed from its active comparisons, their number), for every query that
    has comparisons or a stored posterior."""
    age_max = int(get_setting(db, "age_max"))
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in active_comparisons(db):
        grouped[row["query_image_id"]].append(row)
    queries = set(grouped) | {row[0] for row in db.execute("SELECT query_image_id FROM posteriors")}
    queries &= {row[0] for row in db.execute("SELECT id FROM images")}  # not comparisons of images now gone
    expected = {}
    for query in queries:
        rows = grouped.get(query, [])
        expected[query] = (posterior_of_comparisons(rows, age_max), len(rows))
    return expected


def refresh_posteriors(db: sqlite_utils.Database, force: bool = False) -> int:
    """Recompute every stored posterior from the comparisons when they were computed by another engine
    version (or always, with force); one transaction. Returns how many were rewritten (0: already current)."""
    if not force and get_setting(db, "posterior_engine") == POSTERIOR_ENGINE:
        return 0
    expected = expected_posteriors(db)
    with db.atomic():
        for query, (posterior, count) in expected.items():
            save_posterior(db, query, posterior, summarize(posterior), count)
        set_setting(db, "posterior_engine", POSTERIOR_ENGINE)
    return len(expected)
