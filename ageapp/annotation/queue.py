"""The labeller's queue: the project's queries with their posterior summaries, one window of rows at a time.

No Qt and no copy of the table: the SQL (ageapp.store.queue) returns one window at a time and this module makes
QueueRows of them; the window's Qt model (ageapp.ui.queue_panel) keeps only a few such windows.

"Finished" follows the session's own stopping rule for the protocol in use. "Flagged" is the paper's outlier
rule applied to a FINISHED query (a 90% interval wider than 15 years after labelling): a query with only a few
answers so far is always that wide and is not flagged for it. A flagged query sent back (store.requeue) reads
"sent back" while it is served again; `QueueRow.requeue` says what came of it. Each row carries the query's
gender (annotation.gender: label, prediction, unknown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import sqlite_utils

from ageapp.annotation.counts import (  # noqa: F401  (the statuses, read through the queue too)
    BEYOND,
    FINISHED,
    FLAGGED,
    IN_PROGRESS,
    NEW,
    SENT_BACK,
    query_status,
)
from ageapp.annotation.gender import UNKNOWN, GenderInfo, gender_confidence, info_from
from ageapp.core.selection import Protocol
from ageapp.faces.alignment import decode_crop
from ageapp.store import queue as queue_store
from ageapp.store.faces import largest_face_crop
from ageapp.store.genders import gender_rows
from ageapp.store.queue import REQUEUE_EXHAUSTED, REQUEUE_OPEN, REQUEUE_RESOLVED, SORT_KEYS  # noqa: F401



@dataclass(frozen=True)
class QueueFilter:
    flagged_only: bool = False
    unfinished_only: bool = False
    beyond_only: bool = False
    search: str = ""  # a query's number ("#1141" or "1141") or a part of its file name; "" lists all

    def active(self) -> bool:
        """Whether the filter leaves any query out (an answer may then move a query in or out of the list)."""
        return self != QueueFilter()


def query_thumbnail(db: sqlite_utils.Database, query_image_id: int) -> np.ndarray | None:
    """The query's face crop (BGR, 112×96), for the queue's tooltip; None without one or if it cannot be read."""
    stored = largest_face_crop(db, query_image_id)
    if stored is None:
        return None
    try:
        return decode_crop(stored[0])
    except ValueError:
        return None


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
    path: str  # relative to its root; the table shows `shown_name(path)` (dataset names can carry the age)
    n_comparisons: int
    mode: int | None  # None until the query has a posterior with at least one comparison
    ci_width: int | None
    flagged: bool
    status: str  # one of annotation.counts.STATUSES (the one rule: counts.query_status)
    gender: GenderInfo = field(default_factory=lambda: GenderInfo(UNKNOWN, None))
    requeue: str = ""  # "" never sent back, else REQUEUE_OPEN, REQUEUE_RESOLVED or REQUEUE_EXHAUSTED
    beyond: str = ""  # "older than 69" / "younger than 3" for a query beyond the references, else ""


def count_queue(db: sqlite_utils.Database, protocol: Protocol, queue_filter: QueueFilter = QueueFilter()) -> int:
    return queue_store.count_queue(db, protocol, queue_filter.flagged_only, queue_filter.unfinished_only,
                                   queue_filter.beyond_only, queue_filter.search)


def _rows(db: sqlite_utils.Database, found: list) -> list[QueueRow]:
    """The rows with their genders, looked up in one query over just those rows."""
    confidence = gender_confidence(db)
    genders = {row[0]: info_from(row[1], row[2], row[3], confidence) for row in gender_rows(db, [r[0] for r in found])}
    return [_row(genders[r[0]], *r) for r in found]


def _row(gender: GenderInfo, image_id, path, n, mode, width, flagged, is_finished, _rank, requeue, beyond,
         beyond_age) -> QueueRow:
    started = n > 0
    status = query_status(n, bool(is_finished), bool(flagged), beyond, requeue == REQUEUE_OPEN)
    beyond_text = f"{'older' if beyond > 0 else 'younger'} than {beyond_age}" if beyond and started else ""
    return QueueRow(image_id, path, n, mode if started else None, width if started else None, bool(flagged), status,
                    gender, requeue, beyond_text)


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
    return _rows(db, queue_store.queue_window(db, protocol, queue_filter.flagged_only, queue_filter.unfinished_only,
                                              order.key, order.descending, offset, limit, queue_filter.beyond_only,
                                              queue_filter.search))


def queue_row(db: sqlite_utils.Database, protocol: Protocol, query_image_id: int) -> QueueRow | None:
    """One query's row as it is now (after an answer), whatever the filter; None if it is not a query."""
    row = queue_store.queue_entry(db, protocol, query_image_id)
    return None if row is None else _rows(db, [row])[0]
