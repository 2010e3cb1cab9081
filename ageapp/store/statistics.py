"""The SQL behind a project's statistics (ageapp.annotation.statistics computes from these): queries by
progress, the finished queries' interval widths, an annotator's answer times, answers per annotator."""

from __future__ import annotations

import numpy as np
import sqlite_utils

from ageapp.core.selection import Protocol
from ageapp.store.comparisons import not_undone
from ageapp.store.progress import finished_sql, flagged_sql


def progress_counts(db: sqlite_utils.Database, protocol: Protocol) -> tuple[int, int, int, int]:
    """(queries with a face, started, finished, flagged)."""
    finished, finished_params = finished_sql(protocol)
    flagged, flagged_params = flagged_sql(protocol)
    row = db.execute(
        f"SELECT count(*), COALESCE(sum(COALESCE(p.n_comparisons, 0) > 0), 0), COALESCE(sum({finished}), 0),"
        f" COALESCE(sum({flagged}), 0)"
        " FROM images AS i LEFT JOIN posteriors AS p ON p.query_image_id = i.id"
        " WHERE i.role = 'query' AND EXISTS (SELECT 1 FROM faces AS f WHERE f.image_id = i.id)",
        finished_params + flagged_params,
    ).fetchone()
    return tuple(int(v) for v in row)


def width_distribution(db: sqlite_utils.Database, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """(widths, counts) of the finished queries' 90% intervals, widths ascending."""
    finished, params = finished_sql(protocol)
    rows = db.execute(
        f"SELECT p.ci_high - p.ci_low AS width, count(*) FROM posteriors AS p WHERE {finished}"
        " GROUP BY width ORDER BY width",
        params,
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.int64)


def answer_times(db: sqlite_utils.Database, annotator_id: int, last: int) -> np.ndarray:
    """Unix seconds of the annotator's most recent `last` answers (gold included, undone ones too: they took
    the labeller's time as well)."""
    rows = db.execute(
        "SELECT (julianday(created) - 2440587.5) * 86400.0 FROM comparisons WHERE annotator_id = ?"
        " ORDER BY rowid DESC LIMIT ?",
        [annotator_id, last],
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.float64)


def answers_per_annotator(db: sqlite_utils.Database) -> dict[int, int]:
    """Query comparisons that still count, by annotator id."""
    return dict(db.execute(
        f"SELECT annotator_id, count(*) FROM comparisons WHERE is_gold = 0 AND {not_undone()} GROUP BY annotator_id"
    ).fetchall())
