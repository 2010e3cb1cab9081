"""What a team's statistics read: each labeller's answers, and who answered which query (ageapp.annotation.agreement
turns them into progress and agreement)."""

from __future__ import annotations

import sqlite_utils

from ageapp.store.comparisons import ACTIVE_SQL, not_undone


def labeller_totals(db: sqlite_utils.Database) -> list[dict]:
    """Per annotator who answered anything (undone answers left out): id, name, answers (query pairs), gold
    answers, queries answered, first and last answer (ISO times); by name."""
    return list(db.query(
        "SELECT a.id, a.name, sum(c.is_gold = 0) AS answers, sum(c.is_gold = 1) AS gold,"
        " count(DISTINCT c.query_image_id) AS queries, min(c.created) AS first, max(c.created) AS last"
        f" FROM comparisons AS c JOIN annotators AS a ON a.id = c.annotator_id WHERE {not_undone('c')}"
        " GROUP BY a.id ORDER BY a.name"))


def answers_by_labeller_and_query(db: sqlite_utils.Database) -> list[dict]:
    """One row per (annotator, query) with answers that count: annotator_id, query_image_id, answers, labellers
    (how many annotators answered that query), and the query's stored posterior's width, mode, interval and
    mass beyond the references (NULL without one)."""
    return list(db.query(
        "WITH per AS (SELECT annotator_id, query_image_id, count(*) AS answers FROM comparisons"
        f" WHERE is_gold = 0 AND {not_undone()} GROUP BY annotator_id, query_image_id)"
        " SELECT per.annotator_id, per.query_image_id, per.answers,"
        " count(*) OVER (PARTITION BY per.query_image_id) AS labellers,"
        " p.ci_high - p.ci_low AS width, p.mode, p.ci_low, p.ci_high, p.beyond_mass"
        " FROM per LEFT JOIN posteriors AS p ON p.query_image_id = per.query_image_id"
        " ORDER BY per.query_image_id, per.annotator_id"))


def answers_of_labeller(db: sqlite_utils.Database, query_image_id: int, annotator_id: int) -> list[dict]:
    """One annotator's answers on one query that count, oldest first, as active_comparisons gives them (each with
    the reference's age and the annotator's β), ready for posterior_of_comparisons."""
    return list(db.query(ACTIVE_SQL + " AND comparisons.query_image_id = ? AND comparisons.annotator_id = ?"
                         " ORDER BY comparisons.rowid", [0, query_image_id, annotator_id]))
