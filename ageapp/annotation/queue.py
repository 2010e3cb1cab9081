"""The labeller's queue: the project's queries with their posterior summaries, one window of rows at a time.

No Qt and no copy of the table: `count_queue` and `queue_rows` are SQL queries with the filter in WHERE,
the sort in ORDER BY (ties broken by id, so windows never overlap or skip) and the window in LIMIT/OFFSET.
The window's Qt model (ageapp.ui.queue_panel) keeps only a few such windows.

A query is listed when it has a face crop (one that has none cannot be compared). "Finished" follows the
session's own stopping rule (annotation.session.unfinished_condition) for the protocol in use. "Flagged" is
the paper's outlier rule applied to a FINISHED query (a 90% interval wider than 15 years after labelling):
a query with only a few answers so far is always that wide and is not flagged for it. A flagged query sent
back (annotation.requeue) reads "sent back" while it is served again; `QueueRow.requeue` says what came of
it. Each row carries the query's gender (annotation.gender: label, prediction, unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlite_utils

from ageapp.annotation.gender import UNKNOWN, GenderInfo, gender_confidence, info_from, predicted_sql
from ageapp.annotation.requeue import open_sql as requeue_open_sql
from ageapp.annotation.session import unfinished_condition
from ageapp.core.selection import Protocol

NEW, IN_PROGRESS, FINISHED = "new", "in progress", "finished"
SENT_BACK = "sent back"  # flagged, sent back for more comparisons (annotation.requeue), still open
# What became of a query that was sent back (QueueRow.requeue): still open, narrow enough now, or out of
# extra comparisons and still flagged.
REQUEUE_OPEN, REQUEUE_RESOLVED, REQUEUE_EXHAUSTED = "open", "resolved", "exhausted"


def _gender_rank_sql() -> str:
    """Sort key of the Gender column: labelled female, labelled male, predicted female, predicted male (surer
    first), unknown. Only evaluated when sorting by gender (the faces' predictions are looked up per row)."""
    predicted, probability = predicted_sql("i")
    return (f"(CASE WHEN i.gender IS NOT NULL THEN 1 - i.gender WHEN {predicted} IS NOT NULL"
            f" THEN 3 - {predicted} - {probability} ELSE 4 END)")


# Sort keys: the column a user can sort by -> its SQL. A query without answers (no posterior row, or one
# whose answers were all undone) sorts as 0 comparisons and an unknown (NULL) mode and width, as it is shown;
# SQLite puts NULLs first in ascending order.
SORT_KEYS: dict[str, str] = {
    "id": "i.id",
    "comparisons": "COALESCE(p.n_comparisons, 0)",
    "mode": "(CASE WHEN p.n_comparisons > 0 THEN p.mode END)",
    "width": "(CASE WHEN p.n_comparisons > 0 THEN p.ci_high - p.ci_low END)",
    "flagged": "flag",
    "status": "status_rank",
    "gender": _gender_rank_sql(),
}


@dataclass(frozen=True)
class QueueFilter:
    flagged_only: bool = False
    unfinished_only: bool = False


@dataclass(frozen=True)
class QueueOrder:
    key: str = "id"
    descending: bool = False

    def __post_init__(self):
        if self.key not in SORT_KEYS:
            raise ValueError(f"cannot sort the queue by {self.key!r}; choose one of {', '.join(SORT_KEYS)}")


@dataclass(frozen=True)
class QueueRow:
    query_image_id: int
    path: str  # relative to its root: a tooltip, never shown in the table (dataset names can carry the age)
    n_comparisons: int
    mode: int | None  # None until the query has a posterior with at least one comparison
    ci_width: int | None
    flagged: bool
    status: str  # NEW, IN_PROGRESS, SENT_BACK or FINISHED
    gender: GenderInfo = field(default_factory=lambda: GenderInfo(UNKNOWN, None))
    requeue: str = ""  # "" never sent back, else REQUEUE_OPEN, REQUEUE_RESOLVED or REQUEUE_EXHAUSTED


def finished_sql(protocol: Protocol, alias: str = "p") -> tuple[str, list]:
    """SQL true when the query's posterior row (`alias`, possibly NULL from a LEFT JOIN) says it is finished."""
    unfinished, params = unfinished_condition(protocol, alias)
    return f"({alias}.query_image_id IS NOT NULL AND {alias}.n_comparisons > 0 AND NOT {unfinished})", params


def flagged_sql(protocol: Protocol, alias: str = "p") -> tuple[str, list]:
    """SQL true for a finished query whose 90% interval is still wider than the outlier width."""
    finished, params = finished_sql(protocol, alias)
    return f"({finished} AND {alias}.flagged = 1)", params


def _where(protocol: Protocol, queue_filter: QueueFilter) -> tuple[str, list]:
    clauses = ["i.role = 'query'", "EXISTS (SELECT 1 FROM faces AS f WHERE f.image_id = i.id)"]
    params: list = []
    if queue_filter.flagged_only:
        flagged, flagged_params = flagged_sql(protocol)
        clauses.append(flagged)
        params += flagged_params
    if queue_filter.unfinished_only:
        finished, finished_params = finished_sql(protocol)
        clauses.append(f"NOT {finished}")
        params += finished_params
    return " AND ".join(clauses), params


def count_queue(db: sqlite_utils.Database, protocol: Protocol, queue_filter: QueueFilter = QueueFilter()) -> int:
    where, params = _where(protocol, queue_filter)
    return db.execute(
        f"SELECT count(*) FROM images AS i LEFT JOIN posteriors AS p ON p.query_image_id = i.id WHERE {where}",
        params,
    ).fetchone()[0]


def _select(protocol: Protocol) -> tuple[str, list]:
    finished, finished_params = finished_sql(protocol)
    flagged, flagged_params = flagged_sql(protocol)
    reopened = requeue_open_sql("p", "r")
    sql = (
        "SELECT i.id, i.relative_path, COALESCE(p.n_comparisons, 0) AS n, p.mode, p.ci_high - p.ci_low AS width,"
        f" {flagged} AS flag, {finished} AS done,"
        f" CASE WHEN {reopened} THEN 1.5 WHEN {finished} THEN 2 WHEN COALESCE(p.n_comparisons, 0) > 0 THEN 1"
        " ELSE 0 END AS status_rank,"
        f" CASE WHEN r.query_image_id IS NULL THEN '' WHEN {reopened} THEN '{REQUEUE_OPEN}'"
        f" WHEN p.flagged = 1 THEN '{REQUEUE_EXHAUSTED}' ELSE '{REQUEUE_RESOLVED}' END AS requeue"
        " FROM images AS i LEFT JOIN posteriors AS p ON p.query_image_id = i.id"
        " LEFT JOIN requeued AS r ON r.query_image_id = i.id"  # `requeued` is small: a lookup per row
    )
    return sql, flagged_params + finished_params + finished_params


def _genders(db: sqlite_utils.Database, ids: list[int]) -> dict[int, GenderInfo]:
    """The shown rows' genders, in one query over just those rows (never computed for the whole queue)."""
    if not ids:
        return {}
    confidence = gender_confidence(db)
    predicted, probability = predicted_sql("i")
    rows = db.execute(f"SELECT i.id, i.gender, {predicted}, {probability} FROM images AS i"
                      f" WHERE i.id IN ({','.join('?' * len(ids))})", ids).fetchall()
    return {row[0]: info_from(row[1], row[2], row[3], confidence) for row in rows}


def _rows(db: sqlite_utils.Database, found: list) -> list[QueueRow]:
    genders = _genders(db, [r[0] for r in found])
    return [_row(genders[r[0]], *r) for r in found]


def _row(gender: GenderInfo, image_id, path, n, mode, width, flagged, is_finished, _rank, requeue) -> QueueRow:
    started = n > 0
    if requeue == REQUEUE_OPEN:
        status = SENT_BACK
    else:
        status = FINISHED if is_finished else (IN_PROGRESS if started else NEW)
    return QueueRow(image_id, path, n, mode if started else None, width if started else None, bool(flagged), status,
                    gender, requeue)


def queue_rows(
    db: sqlite_utils.Database,
    protocol: Protocol,
    queue_filter: QueueFilter = QueueFilter(),
    order: QueueOrder = QueueOrder(),
    *,
    offset: int = 0,
    limit: int = 100,
) -> list[QueueRow]:
    """Rows offset .. offset+limit-1 of the filtered, sorted queue."""
    select, select_params = _select(protocol)
    where, where_params = _where(protocol, queue_filter)
    direction = "DESC" if order.descending else "ASC"
    sql = f"{select} WHERE {where} ORDER BY {SORT_KEYS[order.key]} {direction}, i.id {direction} LIMIT ? OFFSET ?"
    return _rows(db, db.execute(sql, select_params + where_params + [int(limit), int(offset)]).fetchall())


def queue_row(db: sqlite_utils.Database, protocol: Protocol, query_image_id: int) -> QueueRow | None:
    """One query's row as it is now (after an answer), whatever the filter; None if it is not a query."""
    select, params = _select(protocol)
    row = db.execute(f"{select} WHERE i.id = ? AND i.role = 'query'", params + [query_image_id]).fetchone()
    return None if row is None else _rows(db, [row])[0]
