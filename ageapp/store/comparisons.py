"""Comparisons: append-only facts, one row per answer, keyed by a UUID.

Nothing here changes or deletes a comparison (triggers in the schema refuse it). Undoing one appends its
UUID to `undone`; every reader goes through active_comparisons, which leaves undone ones out.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import numpy as np
import sqlite_utils

from ageapp.core.posterior import QUERY_OLDER, QUERY_YOUNGER, log_posterior_over_annotators
from ageapp.store.annotators import model_of

ANSWERS = ("older", "younger", "unsure")
# The answer as the posterior's outcome: 1 query older, 0 query younger, None no likelihood term.
OUTCOME_OF_ANSWER = {"older": QUERY_OLDER, "younger": QUERY_YOUNGER, "unsure": None}


def _check_roles(db: sqlite_utils.Database, query_image_id: int | None, reference_ids: list[int]) -> None:
    """A comparison only means something against references of exact known age."""
    if query_image_id is not None:
        row = db.execute("SELECT role FROM images WHERE id = ?", [query_image_id]).fetchone()
        if row is None:
            raise ValueError(f"no image {query_image_id} to compare")
    for reference_id in reference_ids:
        row = db.execute("SELECT role, age FROM images WHERE id = ?", [reference_id]).fetchone()
        if row is None or row[0] != "reference" or row[1] is None:
            raise ValueError(f"image {reference_id} is not a reference with an exact known age")


def _insert(db: sqlite_utils.Database, row: dict) -> str:
    if row["answer"] not in ANSWERS:
        raise ValueError(f"answer must be one of {ANSWERS}, not {row['answer']!r}")
    if row["query_side"] not in (None, "left", "right"):
        raise ValueError(f"query_side must be 'left' or 'right', not {row['query_side']!r}")
    row["id"] = str(uuid.uuid4())
    columns = ", ".join(row)
    db.execute(f"INSERT INTO comparisons ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return row["id"]


def record_comparison(
    db: sqlite_utils.Database,
    *,
    query_image_id: int,
    reference_image_id: int,
    answer: str,
    annotator_id: int,
    response_ms: int | None = None,
    query_side: str | None = None,
    query_face_id: int | None = None,
) -> str:
    """Append one answer ('older' / 'younger' / 'unsure': the QUERY compared with the reference) and
    commit it at once; return its UUID."""
    _check_roles(db, query_image_id, [reference_image_id])
    return _insert(db, {
        "query_image_id": query_image_id, "query_face_id": query_face_id, "reference_image_id": reference_image_id,
        "answer": answer, "annotator_id": annotator_id, "response_ms": response_ms, "query_side": query_side,
    })


def record_gold_comparison(
    db: sqlite_utils.Database,
    *,
    shown_as_query_image_id: int,
    reference_image_id: int,
    answer: str,
    annotator_id: int,
    response_ms: int | None = None,
    query_side: str | None = None,
) -> str:
    """Append a gold answer: two references of known age, the first shown in the query's place (the answer is
    about it). Gold answers measure the annotator; they never enter a query's posterior."""
    _check_roles(db, None, [shown_as_query_image_id, reference_image_id])
    return _insert(db, {
        "second_reference_image_id": shown_as_query_image_id, "reference_image_id": reference_image_id,
        "answer": answer, "annotator_id": annotator_id, "response_ms": response_ms, "query_side": query_side,
        "is_gold": 1,
    })


def undo_comparison(db: sqlite_utils.Database, comparison_id: str) -> None:
    """Record that a comparison is withdrawn (the comparison row itself stays)."""
    if db.execute("SELECT 1 FROM comparisons WHERE id = ?", [comparison_id]).fetchone() is None:
        raise ValueError(f"no comparison {comparison_id} to undo")
    try:
        db.execute("INSERT INTO undone (comparison_id) VALUES (?)", [comparison_id])
    except sqlite3.IntegrityError:
        raise ValueError(f"comparison {comparison_id} is already undone") from None


def not_undone(alias: str = "comparisons") -> str:
    """The one statement of "this comparison still counts" (its UUID is not in `undone`), over `alias`."""
    return f"{alias}.id NOT IN (SELECT comparison_id FROM undone)"


ACTIVE_SQL = f"""
SELECT comparisons.*, reference.age AS reference_age, annotators.beta AS beta,
       annotators.beta_log_sd AS beta_log_sd, annotators.beta_curve AS beta_curve
FROM comparisons
JOIN images AS reference ON reference.id = comparisons.reference_image_id
JOIN annotators ON annotators.id = comparisons.annotator_id
WHERE {not_undone()} AND comparisons.is_gold = ?
"""


def active_comparisons(
    db: sqlite_utils.Database, query_image_id: int | None = None, *, gold: bool = False, queries=None
) -> list[dict]:
    """The comparisons not undone, oldest first, each with the reference's age and the annotator's beta.

    gold=False gives query comparisons (all, one query's, or those of the query ids in `queries`); gold=True
    gives the gold ones.
    """
    sql, params = ACTIVE_SQL, [int(gold)]
    if query_image_id is not None:
        sql += " AND comparisons.query_image_id = ?"
        params.append(query_image_id)
    if queries is not None:
        wanted = sorted({int(q) for q in queries})
        sql += " AND comparisons.query_image_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(wanted))
    return list(db.query(sql + " ORDER BY comparisons.rowid", params))


def posterior_of_comparisons(rows: list[dict], age_max: int, models: dict | None = None,
                             log_prior: np.ndarray | None = None):
    """The posterior implied by active comparison rows (each carries its reference's age and its annotator's
    β estimate, as active_comparisons gives them): the one route from stored answers to a posterior. Each
    annotator's answers use that annotator's β (read at each reference's age where it has a curve),
    integrated over its uncertainty (ageapp.core.posterior.log_posterior_over_annotators). `models`
    (annotator id -> AnnotatorModel) replaces stored estimates: what a new β would do, nothing written.
    log_prior: the query's prior (store.priors; None: uniform, the likelihood-only posterior)."""
    models = {**{row["annotator_id"]: model_of(row) for row in rows}, **(models or {})}
    return np.exp(log_posterior_over_annotators(
        [row["reference_age"] for row in rows], [OUTCOME_OF_ANSWER[row["answer"]] for row in rows],
        [row["annotator_id"] for row in rows], models, age_max, log_prior,
    ))


def count_comparisons(db: sqlite_utils.Database) -> int:
    """Active (not undone) query comparisons."""
    return db.execute(f"SELECT count(*) FROM comparisons WHERE is_gold = 0 AND {not_undone()}").fetchone()[0]


def gold_answers_of(db: sqlite_utils.Database, annotator_id: int) -> list[dict]:
    """An annotator's gold answers that still count, oldest first: first_age (the face in the query's place),
    second_age (the other face), answer."""
    return list(db.query(
        "SELECT first.age AS first_age, second.age AS second_age, c.answer FROM comparisons AS c"
        " JOIN images AS first ON first.id = c.second_reference_image_id"
        " JOIN images AS second ON second.id = c.reference_image_id"
        f" WHERE c.is_gold = 1 AND c.annotator_id = ? AND {not_undone('c')} ORDER BY c.rowid",
        [annotator_id],
    ))


def queries_answered_by(db: sqlite_utils.Database, annotator_id: int) -> list[int]:
    """The queries an annotator ever compared (undone answers included: their posterior may need a redo)."""
    return [row[0] for row in db.execute(
        "SELECT DISTINCT query_image_id FROM comparisons WHERE annotator_id = ? AND is_gold = 0", [annotator_id])]


# ---------------------------------------------------------------------------------- merging (annotation.exchange)
def comparison_ids(db: sqlite_utils.Database) -> set[str]:
    return {row[0] for row in db.execute("SELECT id FROM comparisons")}


def comparison_rows(db: sqlite_utils.Database) -> list[dict]:
    """Every comparison, undone ones included, in the order they were written."""
    return list(db.query("SELECT * FROM comparisons ORDER BY rowid"))


def comparisons_by_id(db: sqlite_utils.Database, ids) -> dict[str, dict]:
    """The comparisons with these UUIDs (those that are here), by UUID."""
    return {row["id"]: row for row in db.query(
        "SELECT * FROM comparisons WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(ids))])}


def copy_comparison(db: sqlite_utils.Database, row: dict) -> None:
    """Write a comparison from another project with its own UUID (the caller has mapped its image ids)."""
    columns = ["id", "query_image_id", "query_face_id", "reference_image_id", "answer", "annotator_id", "created",
               "response_ms", "query_side", "is_gold", "second_reference_image_id"]
    db.execute(f"INSERT INTO comparisons ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
               [row[column] for column in columns])


def undo_rows(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(comparison id, when) of every undo."""
    return [tuple(row) for row in db.execute("SELECT comparison_id, undone FROM undone")]


def copy_undo(db: sqlite_utils.Database, comparison_id: str, when: str) -> int | None:
    """Record another project's undo with its time; returns the comparison's query image id."""
    db.execute("INSERT INTO undone (comparison_id, undone) VALUES (?, ?)", [comparison_id, when])
    return db.execute("SELECT query_image_id FROM comparisons WHERE id = ?", [comparison_id]).fetchone()[0]
