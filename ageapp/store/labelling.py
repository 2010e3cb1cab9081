"""The SQL a labeller's session reads between two key presses (ageapp.annotation.session), each an index lookup
at MegaAge scale: the reference pool, the next query to work on (sent back, started, never compared), what a
query sent back may still have, a query's gender, and the comparisons an annotator can undo.
"""

from __future__ import annotations

import sqlite_utils

from ageapp.core.selection import Protocol
from ageapp.store.comparisons import not_undone
from ageapp.store.genders import effective_gender_sql
from ageapp.store.progress import answered_before_sql, requeue_open_sql, unfinished_condition


def reference_pool_rows(db: sqlite_utils.Database, gender_confidence: float, age_max: int) -> list[dict]:
    """References of exact age (at most age_max) with a face: id, age, and the gender the choice uses."""
    return list(db.query(
        f"SELECT images.id, images.age, {effective_gender_sql('images')} AS gender FROM images"
        " WHERE role = 'reference' AND age IS NOT NULL AND age <= ?"
        " AND EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id) ORDER BY images.id",
        [gender_confidence, age_max],
    ))


def _ids(ids) -> str:
    return ",".join(str(int(i)) for i in ids) or "-1"


def requeued_query(db: sqlite_utils.Database, annotator_id: int, answered_before: bool, excluded) -> int | None:
    """A query sent back that is still open, that the annotator had (True) or had not (False) answered before
    it was sent back; the oldest sending first. `requeued` is small: CROSS JOIN keeps it the outer loop (without
    statistics SQLite scanned all of `posteriors` instead: 4 ms a finished query at 50,000 queries)."""
    row = db.execute(
        "SELECT r.query_image_id FROM requeued AS r CROSS JOIN posteriors AS p ON p.query_image_id = r.query_image_id"
        f" WHERE {requeue_open_sql()} AND r.query_image_id NOT IN ({_ids(excluded)})"
        f" AND {'' if answered_before else 'NOT '}{answered_before_sql()}"
        " ORDER BY r.requeued, r.query_image_id LIMIT 1",
        [annotator_id],
    ).fetchone()
    return None if row is None else row[0]


def requeue_allowance(db: sqlite_utils.Database, query_image_id: int) -> int | None:
    """For a query sent back and still open: how many comparisons it may have in all; else None."""
    row = db.execute(
        "SELECT r.until_comparisons FROM requeued AS r JOIN posteriors AS p ON p.query_image_id = r.query_image_id"
        f" WHERE r.query_image_id = ? AND {requeue_open_sql()}",
        [query_image_id],
    ).fetchone()
    return None if row is None else int(row[0])


def started_query(db: sqlite_utils.Database, protocol: Protocol, excluded) -> int | None:
    """A query with comparisons that the protocol does not call finished, the most compared first."""
    condition, params = unfinished_condition(protocol, "p")
    row = db.execute(
        f"SELECT p.query_image_id FROM posteriors AS p WHERE +p.n_comparisons > 0 AND {condition}"
        f" AND p.query_image_id NOT IN ({_ids(excluded)}) ORDER BY p.n_comparisons DESC, p.query_image_id LIMIT 1",
        params,
    ).fetchone()
    return None if row is None else row[0]


def fresh_query(db: sqlite_utils.Database, from_id: int, excluded) -> int | None:
    """The first never-compared query with a face, at or after `from_id`."""
    row = db.execute(
        "SELECT images.id FROM images WHERE role = 'query' AND images.id >= ?"
        " AND NOT EXISTS (SELECT 1 FROM posteriors WHERE posteriors.query_image_id = images.id)"
        " AND EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id)"
        f" AND images.id NOT IN ({_ids(excluded)}) ORDER BY images.id LIMIT 1",
        [from_id],
    ).fetchone()
    return None if row is None else row[0]


def query_gender(db: sqlite_utils.Database, image_id: int, confidence: float) -> int | None:
    """The gender the reference choice uses for a query: its label, else its largest face's prediction when
    that reaches `confidence`, else None (any reference)."""
    row = db.execute(f"SELECT {effective_gender_sql('images')} FROM images WHERE images.id = ?",
                     [confidence, image_id]).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def has_answer_to_undo(db: sqlite_utils.Database, annotator_id: int) -> bool:
    return db.execute(
        f"SELECT 1 FROM comparisons WHERE annotator_id = ? AND {not_undone('comparisons')} LIMIT 1", [annotator_id]
    ).fetchone() is not None


def last_answer(db: sqlite_utils.Database, annotator_id: int) -> tuple | None:
    """(comparison id, query id, is_gold) of the annotator's latest answer that still counts."""
    return db.execute(
        f"SELECT id, query_image_id, is_gold FROM comparisons WHERE annotator_id = ? AND {not_undone('comparisons')}"
        " ORDER BY rowid DESC LIMIT 1",
        [annotator_id],
    ).fetchone()
