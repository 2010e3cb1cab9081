"""The current age posterior of each query: the vector over ages 0..age_max (float32 bytes) and its summary.

Unlike comparisons these are derived values, recomputed from the comparisons and overwritten.
"""

from __future__ import annotations

import numpy as np
import sqlite_utils

from ageapp.core.posterior import PosteriorSummary


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
