"""Between two key presses the next query is found by index lookups, not scans of `posteriors` (which holds a
row per compared query: 25,000 half way through a MegaAge-sized study)."""

from __future__ import annotations

from ageapp.core.selection import Protocol
from ageapp.store.labelling import requeued_query
from ageapp.store.requeue import requeue_counts
from tests.factories import make_project


def plans_of(db, call) -> list[str]:
    """The query plan of every SELECT that `call` runs."""
    statements = []
    db.conn.set_trace_callback(lambda sql: statements.append(sql) if sql.lstrip().upper().startswith("SELECT") else None)
    try:
        call()
    finally:
        db.conn.set_trace_callback(None)
    return [" / ".join(row[3] for row in db.conn.execute("EXPLAIN QUERY PLAN " + sql)) for sql in statements]


def test_the_small_requeued_table_drives_the_join(tmp_path):
    db, _, queries, _ = make_project(tmp_path / "p.ageproj", references=10, queries=30)
    for query in queries:  # every query compared: posteriors is the large table, requeued empty
        db.execute("INSERT INTO posteriors (query_image_id, age_max, probabilities, mode, mean, ci_low, ci_high,"
                   " flagged, n_comparisons) VALUES (?, 70, zeroblob(284), 0, 0, 0, 70, 0, 3)", [query])
    for call in (lambda: requeued_query(db, 1, False, set()), lambda: requeued_query(db, 1, True, {queries[0]}),
                 lambda: requeue_counts(db, Protocol("paper"))):
        plans = plans_of(db, call)
        assert plans and all("SCAN p" not in plan for plan in plans), plans
