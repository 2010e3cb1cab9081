"""A query's progress in SQL, each rule written once: unfinished (the stopping rule of the protocol in use),
finished, flagged (finished and still wider than the outlier width), sent back and still open (table
`requeued`), answered by an annotator before it was sent back. The session, the queue, the statistics and the
requeue all compose these; `ageapp.core.selection.is_finished` is the same stopping rule on a posterior.
"""

from __future__ import annotations

import json

from ageapp.core.selection import BEYOND_STOP, MIN_TARGET_WIDTH, PAPER, Protocol


def unfinished_condition(protocol: Protocol, alias: str = "p") -> tuple[str, list]:
    """SQL over a posteriors row (`alias`) that is true while its query needs more comparisons, and its
    parameters.

    Written for the indexes of schema migration 2: paper is a range of n_comparisons; active is a range of
    the interval's width (wider than the narrowest target, ageapp.core.selection.target_width_at: years for an
    adult, a share of the age for a child), and the unary + keeps SQLite from scanning the n_comparisons index.
    """
    if protocol.policy == PAPER:
        return f"{alias}.n_comparisons < ?", [protocol.comparisons]
    width = f"{alias}.ci_high - {alias}.ci_low"
    target, floor = float(protocol.target_width), float(min(protocol.target_width, MIN_TARGET_WIDTH))
    if protocol.relative_below > 0:
        narrow_enough = (f"{width} > ? AND {width} > MAX(?, ? * MIN({alias}.ci_high, ?) / ?)",
                         [floor, floor, target, protocol.relative_below, float(protocol.relative_below)])
    else:
        narrow_enough = (f"{width} > ?", [target])
    return (f"({narrow_enough[0]} AND +{alias}.n_comparisons < ? AND {alias}.beyond_mass < ?)",
            narrow_enough[1] + [protocol.max_comparisons, BEYOND_STOP])


def beyond_sql(protocol: Protocol, alias: str = "p") -> tuple[str, list]:
    """SQL true for a finished query that lies beyond the references it can be shown (older or younger)."""
    finished, params = finished_sql(protocol, alias)
    return f"({finished} AND {alias}.beyond != 0)", params


def finished_sql(protocol: Protocol, alias: str = "p") -> tuple[str, list]:
    """SQL true when the query's posterior row (`alias`, possibly NULL from a LEFT JOIN) says it is finished."""
    unfinished, params = unfinished_condition(protocol, alias)
    return f"({alias}.query_image_id IS NOT NULL AND {alias}.n_comparisons > 0 AND NOT {unfinished})", params


def flagged_sql(protocol: Protocol, alias: str = "p") -> tuple[str, list]:
    """SQL true for a finished query whose 90% interval is still wider than the outlier width."""
    finished, params = finished_sql(protocol, alias)
    return f"({finished} AND {alias}.flagged = 1)", params


def requeue_open_sql(p: str = "p", r: str = "r") -> str:
    """SQL over a posteriors row `p` and a requeued row `r`: true while the query is served again."""
    return f"({r}.query_image_id IS NOT NULL AND {p}.flagged = 1 AND {p}.n_comparisons < {r}.until_comparisons)"


def answered_before_sql(annotator_param: str = "?", r: str = "r") -> str:
    """SQL true when the annotator (a parameter) had an answer for the query before it was (last) sent back."""
    return (f"EXISTS (SELECT 1 FROM comparisons AS rc WHERE rc.query_image_id = {r}.query_image_id"
            f" AND rc.annotator_id = {annotator_param} AND rc.created <= {r}.requeued)")


def query_progress_rows(db, protocol: Protocol, ids=None) -> list[tuple]:
    """Per query with a face (or only those of `ids`): (id, comparisons, finished, flagged, beyond, sent back
    and open, 90% interval width), in one pass (the counts' starting point: ageapp.annotation.counts keeps
    them up to date from there)."""
    finished, finished_params = finished_sql(protocol)
    only, only_params = ("", []) if ids is None else (
        " AND i.id IN (SELECT value FROM json_each(?))", [json.dumps(sorted({int(q) for q in ids}))])
    return db.execute(
        f"SELECT i.id, COALESCE(p.n_comparisons, 0), COALESCE({finished}, 0), COALESCE(p.flagged, 0),"
        f" COALESCE(p.beyond, 0), COALESCE({requeue_open_sql()}, 0), COALESCE(p.ci_high - p.ci_low, 0)"
        " FROM images AS i LEFT JOIN posteriors AS p ON p.query_image_id = i.id"
        " LEFT JOIN requeued AS r ON r.query_image_id = i.id"
        " WHERE i.role = 'query' AND EXISTS (SELECT 1 FROM faces AS f WHERE f.image_id = i.id)" + only,
        finished_params + only_params,
    ).fetchall()


def answer_counts(db) -> tuple[int, int]:
    """(query answers, gold answers) that still count."""
    row = db.execute(
        "SELECT COALESCE(sum(is_gold = 0), 0), COALESCE(sum(is_gold = 1), 0) FROM comparisons"
        " WHERE id NOT IN (SELECT comparison_id FROM undone)"
    ).fetchone()
    return int(row[0]), int(row[1])


def answer_counts_by_annotator(db) -> dict[int, tuple[int, int]]:
    """annotator id -> (query answers, gold answers) that still count (one pass, no per-query work)."""
    return {row[0]: (int(row[1]), int(row[2])) for row in db.execute(
        "SELECT annotator_id, sum(is_gold = 0), sum(is_gold = 1) FROM comparisons"
        " WHERE id NOT IN (SELECT comparison_id FROM undone) GROUP BY annotator_id")}
