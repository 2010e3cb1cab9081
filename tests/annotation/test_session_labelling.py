"""What the labeller's window needs from the session: skip, focus with an extra round, can_undo, and a
next_query that stays an index lookup at MegaAge scale."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.session import AnnotationSession
from ageapp.store.progress import unfinished_condition
from ageapp.core.selection import Protocol
from ageapp.store.comparisons import active_comparisons
from ageapp.store.posteriors import load_posterior
from tests.factories import make_project


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "p.ageproj", references=71, queries=5)


def test_skip_leaves_no_trace_and_the_pair_does_not_come_back(project):
    db, _, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=6), gold_rate=0.0, seed=1)
    first = session.next_task()
    session.skip(first)
    assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0
    assert load_posterior(db, first.query_image_id) is None  # nothing computed, nothing stored
    shown = [first.reference_image_id]
    for _ in range(6):  # the query still gets its six comparisons, none with the skipped reference
        task = session.next_task()
        assert task.query_image_id == query_ids[0]
        shown.append(task.reference_image_id)
        session.answer(task, "left")
    assert first.reference_image_id not in shown[1:]
    assert [row["reference_image_id"] for row in active_comparisons(db, query_ids[0])] == shown[1:]
    assert session.next_task().query_image_id == query_ids[1]


def test_skipping_a_gold_pair_just_moves_on(project):
    db, *_ = project
    session = AnnotationSession(db, "ann", Protocol("paper"), gold_rate=1.0, seed=2)
    gold = session.next_task()
    assert gold.kind == "gold"
    session.skip(gold)
    assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0
    assert session.next_task() is not None


def test_focus_on_a_finished_query_asks_for_one_more_round(project):
    db, _, query_ids, _ = project
    protocol = Protocol("paper", comparisons=4)
    session = AnnotationSession(db, "ann", protocol, gold_rate=0.0, seed=3)
    for _ in range(4):
        session.answer(session.next_task(), "right")
    first_round = [row["reference_image_id"] for row in active_comparisons(db, query_ids[0])]
    assert session.next_task().query_image_id == query_ids[1]  # finished: the session moved on

    session.focus(query_ids[0])
    second_round = []
    for _ in range(4):
        task = session.next_task()
        assert task.query_image_id == query_ids[0]
        second_round.append(task.reference_image_id)
        session.answer(task, "right")
    assert not set(second_round) & set(first_round)  # earlier references are not shown again
    assert load_posterior(db, query_ids[0])["n_comparisons"] == 8
    assert session.next_task().query_image_id == query_ids[1]  # the round is over


def test_focus_on_an_unfinished_query_continues_it(project):
    db, _, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=3), gold_rate=0.0, seed=4)
    session.focus(query_ids[3])
    for _ in range(3):
        task = session.next_task()
        assert task.query_image_id == query_ids[3]
        session.answer(task, "left")
    assert session.next_task().query_image_id == query_ids[0]


def test_can_undo_follows_this_annotators_answers(project):
    db, *_ = project
    session = AnnotationSession(db, "ann", Protocol("paper"), gold_rate=0.0, seed=5)
    other = AnnotationSession(db, "other", Protocol("paper"), gold_rate=0.0, seed=6)
    assert not session.can_undo()
    other.answer(other.next_task(), "left")
    assert not session.can_undo()
    session.answer(session.next_task(), "left")
    assert session.can_undo()
    session.undo()
    assert not session.can_undo()


def test_fresh_queries_come_in_order_after_the_cursor_moves(project):
    db, _, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=1), gold_rate=0.0, seed=7)
    order = []
    while (task := session.next_task()) is not None:
        order.append(task.query_image_id)
        session.answer(task, "left")
    assert order == query_ids
    # Undo across queries reaches one far behind the cursor: it is asked again all the same.
    session.undo()
    state = session.undo()
    assert state.query_image_id == query_ids[-2]
    assert session.next_task().query_image_id == query_ids[-2]


@pytest.mark.parametrize(("policy", "index"), [("paper", "posteriors_by_comparisons"), ("active", "posteriors_by_width")])
def test_resuming_a_query_is_an_index_search_not_a_scan(tmp_path, policy, index):
    db, _, query_ids, _ = make_project(tmp_path / "i.ageproj", references=20, queries=30)
    session = AnnotationSession(db, "ann", Protocol(policy, comparisons=2), gold_rate=0.0, seed=8)
    for _ in range(4):
        session.answer(session.next_task(), "left")
    condition, params = unfinished_condition(session.protocol)
    plan = " ".join(row[3] for row in db.execute(
        f"EXPLAIN QUERY PLAN SELECT p.query_image_id FROM posteriors AS p WHERE +p.n_comparisons > 0 AND {condition}"
        " ORDER BY p.n_comparisons DESC, p.query_image_id LIMIT 1", params))
    assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan
    assert "SCAN p" not in plan


@pytest.mark.parametrize("policy", ["paper", "active"])
def test_the_sql_stopping_rule_agrees_with_the_sessions(tmp_path, policy):
    """unfinished_condition (SQL over stored summaries) and the session's own test say the same."""
    db, _, query_ids, ages = make_project(tmp_path / "r.ageproj", references=142, queries=12, seed=9)
    protocol = Protocol(policy, comparisons=4, target_width=10, max_comparisons=6)
    session = AnnotationSession(db, "ann", protocol, gold_rate=0.0, seed=9)
    rng = np.random.default_rng(9)
    for _ in range(40):
        task = session.next_task()
        if task is None:
            break
        session.answer(task, "left" if rng.random() < 0.5 else "right")
    condition, params = unfinished_condition(protocol)
    unfinished = {row[0] for row in db.execute(f"SELECT p.query_image_id FROM posteriors AS p WHERE {condition}", params)}
    for query in query_ids:
        stored = load_posterior(db, query)
        if stored is None:
            continue
        n, width = stored["n_comparisons"], stored["ci_high"] - stored["ci_low"]
        finished = n >= 4 if policy == "paper" else (width <= 10 or n >= 6)
        assert (query in unfinished) == (not finished)
