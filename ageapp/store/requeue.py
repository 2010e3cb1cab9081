"""Flagged queries back in the queue: the paper discarded a query whose 90% interval stayed wider than 15 years
(about 3% of its queries); the project sends it back for more comparisons instead, preferably by another
labeller, and counts how many come back narrow enough.

A query sent back has a row in `requeued` (schema migration 3; this module owns its SQL). It is "open" while its posterior is still
flagged (`posteriors.flagged`: a 90% interval wider than OUTLIER_WIDTH) and it has fewer comparisons than
`until_comparisons` (its count when sent back plus the project's `requeue_comparisons`, 12 unless changed);
the annotation session serves open ones, choosing each reference by information gain, first to labellers who
had not answered the query before it was sent back, and to the others only when they have nothing else to do.
It is "resolved" once finished and no longer flagged, "exhausted" when the cap came first (it can be sent
back again). No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import sqlite_utils

from ageapp.core.selection import Protocol
from ageapp.store.progress import finished_sql, flagged_sql
from ageapp.store.progress import requeue_open_sql as open_sql
from ageapp.store.settings import get_setting


def send_back(db: sqlite_utils.Database, query_ids: Iterable[int], *, annotator_id: int | None = None,
              extra: int | None = None) -> int:
    """Send these queries back for at most `extra` more comparisons each (default: the project's
    `requeue_comparisons`); a query already sent back gets a new allowance counted from now. Only queries
    whose posterior is flagged are sent back; returns how many were. Committed before it returns."""
    extra = int(get_setting(db, "requeue_comparisons")) if extra is None else int(extra)
    if extra < 1:
        raise ValueError(f"a query sent back needs at least one more comparison, not {extra}: "
                         "set requeue_comparisons to 1 or more")
    sent = 0
    with db.atomic():
        for query_id in query_ids:
            row = db.execute("SELECT ci_high - ci_low, n_comparisons, flagged FROM posteriors WHERE query_image_id = ?",
                             [int(query_id)]).fetchone()
            if row is None or not row[2]:
                continue
            width, count, _ = row
            db.execute(
                "INSERT INTO requeued (query_image_id, width_at, comparisons_at, until_comparisons, annotator_id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (query_image_id) DO UPDATE SET"
                " requeued = excluded.requeued, times = times + 1, width_at = excluded.width_at,"
                " comparisons_at = excluded.comparisons_at, until_comparisons = excluded.until_comparisons,"
                " annotator_id = excluded.annotator_id",
                [int(query_id), width, count, count + extra, annotator_id],
            )
            sent += 1
    return sent


def flagged_not_open(db: sqlite_utils.Database, protocol: Protocol) -> list[int]:
    """The flagged queries (store.progress's rule) that are not being served again already."""
    flagged, params = flagged_sql(protocol, "p")
    return [row[0] for row in db.execute(
        "SELECT i.id FROM images AS i JOIN posteriors AS p ON p.query_image_id = i.id"
        " LEFT JOIN requeued AS r ON r.query_image_id = i.id"
        f" WHERE i.role = 'query' AND {flagged} AND NOT {open_sql()} ORDER BY i.id",
        params,
    )]


def send_flagged_back(db: sqlite_utils.Database, protocol: Protocol, *, annotator_id: int | None = None,
                      extra: int | None = None) -> int:
    """"Send flagged back": every flagged query not already open again; returns how many."""
    return send_back(db, flagged_not_open(db, protocol), annotator_id=annotator_id, extra=extra)


def is_open(db: sqlite_utils.Database, query_id: int) -> bool:
    return db.execute(
        f"SELECT 1 FROM requeued AS r JOIN posteriors AS p ON p.query_image_id = r.query_image_id"
        f" WHERE r.query_image_id = ? AND {open_sql()}", [query_id],
    ).fetchone() is not None


@dataclass(frozen=True)
class RequeueCounts:
    sent_back: int = 0  # queries ever sent back
    open: int = 0  # being served again
    resolved: int = 0  # sent back, now finished and no longer flagged
    exhausted: int = 0  # got their extra comparisons and are still flagged (send them back again, or drop them)


def requeue_counts(db: sqlite_utils.Database, protocol: Protocol) -> RequeueCounts:
    finished, params = finished_sql(protocol, "p")
    row = db.execute(
        f"SELECT count(*), COALESCE(sum({open_sql()}), 0), COALESCE(sum({finished} AND p.flagged = 0), 0),"
        " COALESCE(sum(p.flagged = 1 AND p.n_comparisons >= r.until_comparisons), 0)"
        " FROM requeued AS r CROSS JOIN posteriors AS p ON p.query_image_id = r.query_image_id",
        params,
    ).fetchone()
    return RequeueCounts(*(int(v) for v in row))
