"""The SQL of the labeller's queue: the project's queries with their posterior summaries, one window of rows at
a time (the filter in WHERE, the sort in ORDER BY with ties broken by id, so windows never overlap or skip,
the window in LIMIT/OFFSET). Rows come back raw; ageapp.annotation.queue makes them QueueRows.

A query is listed when it has a face crop (one that has none cannot be compared). Finished, flagged and sent
back follow store.progress, the one statement of each rule.
"""

from __future__ import annotations

import sqlite_utils

from ageapp.core.names import shown_name
from ageapp.core.selection import Protocol
from ageapp.store.genders import predicted_sql
from ageapp.store.progress import beyond_sql, finished_sql, flagged_sql, requeue_open_sql

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


def _where(protocol: Protocol, flagged_only: bool, unfinished_only: bool,
           beyond_only: bool = False, search: str = "") -> tuple[str, list]:
    """The filters by the statuses' one rule (ageapp.annotation.counts.query_status): a query sent back and
    still open is "sent back", neither flagged nor beyond, and unfinished (it is being labelled again). `search`:
    a query's number (with or without "#") or a part of its file name as the labeller sees it (the age a dataset's
    name carries masked: ageapp.core.names.shown_name, called from SQL), any case."""
    clauses = ["i.role = 'query'", "EXISTS (SELECT 1 FROM faces AS f WHERE f.image_id = i.id)"]
    params: list = []
    reopened = f"COALESCE({requeue_open_sql('p', 'r')}, 0)"
    if beyond_only:
        beyond, beyond_params = beyond_sql(protocol)
        clauses.append(f"{beyond} AND NOT {reopened}")
        params += beyond_params
    if flagged_only:
        flagged, flagged_params = flagged_sql(protocol)
        clauses.append(f"{flagged} AND p.beyond = 0 AND NOT {reopened}")
        params += flagged_params
    if unfinished_only:
        finished, finished_params = finished_sql(protocol)
        clauses.append(f"(NOT {finished} OR {reopened})")
        params += finished_params
    text = search.strip()
    if text:
        number = text[1:] if text.startswith("#") else text
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if number.isdigit():
            clauses.append("(i.id = ? OR shown_name(i.relative_path) LIKE ? ESCAPE '\\')")
            params += [int(number), pattern]
        else:
            clauses.append("shown_name(i.relative_path) LIKE ? ESCAPE '\\'")
            params.append(pattern)
    return " AND ".join(clauses), params


def _names(db: sqlite_utils.Database) -> None:
    """Let this connection's SQL call shown_name (a search never matches the age a file name carries)."""
    db.conn.create_function("shown_name", 1, shown_name, deterministic=True)


def count_queue(db: sqlite_utils.Database, protocol: Protocol, flagged_only: bool = False,
                unfinished_only: bool = False, beyond_only: bool = False, search: str = "") -> int:
    where, params = _where(protocol, flagged_only, unfinished_only, beyond_only, search)
    _names(db)
    return db.execute(
        "SELECT count(*) FROM images AS i LEFT JOIN posteriors AS p ON p.query_image_id = i.id"
        f" LEFT JOIN requeued AS r ON r.query_image_id = i.id WHERE {where}",
        params,
    ).fetchone()[0]


def _select(protocol: Protocol) -> tuple[str, list]:
    finished, finished_params = finished_sql(protocol)
    flagged, flagged_params = flagged_sql(protocol)
    reopened = requeue_open_sql("p", "r")
    sql = (
        "SELECT i.id, i.relative_path, COALESCE(p.n_comparisons, 0) AS n, p.mode, p.ci_high - p.ci_low AS width,"
        f" {flagged} AS flag, {finished} AS done,"
        f" CASE WHEN {reopened} THEN 1.5 WHEN {finished} THEN 2 + 0.5 * p.flagged + (p.beyond != 0)"
        " WHEN COALESCE(p.n_comparisons, 0) > 0 THEN 1 ELSE 0 END AS status_rank,"
        f" CASE WHEN r.query_image_id IS NULL THEN '' WHEN {reopened} THEN '{REQUEUE_OPEN}'"
        f" WHEN p.flagged = 1 THEN '{REQUEUE_EXHAUSTED}' ELSE '{REQUEUE_RESOLVED}' END AS requeue,"
        " COALESCE(p.beyond, 0) AS beyond, p.beyond_age"
        " FROM images AS i LEFT JOIN posteriors AS p ON p.query_image_id = i.id"
        " LEFT JOIN requeued AS r ON r.query_image_id = i.id"  # `requeued` is small: a lookup per row
    )
    return sql, flagged_params + finished_params + finished_params


def queue_window(db: sqlite_utils.Database, protocol: Protocol, flagged_only: bool, unfinished_only: bool,
                 sort_key: str, descending: bool, offset: int, limit: int, beyond_only: bool = False,
                 search: str = "") -> list[tuple]:
    """Raw rows offset .. offset+limit-1 of the filtered, sorted queue: (id, path, comparisons, mode, width,
    flagged, finished, status rank, requeue, beyond side, beyond age)."""
    select, select_params = _select(protocol)
    where, where_params = _where(protocol, flagged_only, unfinished_only, beyond_only, search)
    _names(db)
    direction = "DESC" if descending else "ASC"
    sql = f"{select} WHERE {where} ORDER BY {SORT_KEYS[sort_key]} {direction}, i.id {direction} LIMIT ? OFFSET ?"
    return db.execute(sql, select_params + where_params + [int(limit), int(offset)]).fetchall()


def queue_entry(db: sqlite_utils.Database, protocol: Protocol, query_image_id: int) -> tuple | None:
    """One query's raw row, whatever the filter; None if it is not a query."""
    select, params = _select(protocol)
    return db.execute(f"{select} WHERE i.id = ? AND i.role = 'query'", params + [query_image_id]).fetchone()
