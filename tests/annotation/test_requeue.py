"""Flagged queries sent back: served again (to another labeller first) until narrow enough or out of extra
comparisons, and counted as resolved in the queue and the project statistics."""

from __future__ import annotations

import pytest

from ageapp.annotation.queue import (
    FINISHED,
    REQUEUE_EXHAUSTED,
    REQUEUE_OPEN,
    REQUEUE_RESOLVED,
    SENT_BACK,
    QueueFilter,
    count_queue,
    queue_row,
)
from ageapp.store.requeue import RequeueCounts, is_open, requeue_counts, send_back, send_flagged_back
from ageapp.annotation.session import AnnotationSession
from ageapp.annotation.statistics import project_statistics
from ageapp.core.posterior import OUTLIER_WIDTH
from ageapp.core.selection import Protocol
from ageapp.store.posteriors import load_posterior
from ageapp.store.settings import set_setting
from tests.factories import make_project

PAPER3 = Protocol("paper", comparisons=3)  # three answers leave every interval wider than 15 years


@pytest.fixture
def labelled(tmp_path):
    """Six queries; alice answered the first four truthfully (3 each): three are flagged, one is not."""
    db, _, queries, ages = make_project(tmp_path / "p.ageproj", references=71, queries=6, seed=1)
    truth = dict(zip(queries, ages))
    reference_ages = dict(db.execute("SELECT id, age FROM images WHERE role = 'reference'").fetchall())

    def truthful(task):
        older = truth[task.query_image_id] > reference_ages[task.reference_image_id]
        return task.query_side if older else ("right" if task.query_side == "left" else "left")

    alice = AnnotationSession(db, "alice", PAPER3, gold_rate=0.0, seed=0)
    for _ in range(12):
        task = alice.next_task()
        alice.answer(task, truthful(task))
    flagged = [q for q in queries[:4] if load_posterior(db, q)["flagged"]]
    assert len(flagged) == 3 and count_queue(db, PAPER3, QueueFilter(flagged_only=True)) == 3
    return db, queries, flagged, truthful


def test_send_flagged_back_marks_only_flagged_queries(labelled):
    db, queries, flagged, _ = labelled
    assert send_flagged_back(db, PAPER3) == 3
    assert [is_open(db, q) for q in queries] == [q in flagged for q in queries]
    assert send_flagged_back(db, PAPER3) == 0  # already being served again
    assert send_back(db, [queries[4]]) == 0  # never answered: not flagged, not sent back
    rows = {row["query_image_id"]: row for row in db.query("SELECT * FROM requeued")}
    assert set(rows) == set(flagged)
    assert all(r["comparisons_at"] == 3 and r["until_comparisons"] == 3 + 12 and r["times"] == 1 for r in rows.values())
    assert all(queue_row(db, PAPER3, q).status == SENT_BACK for q in flagged)
    assert queue_row(db, PAPER3, queries[4]).status == "new"
    assert requeue_counts(db, PAPER3) == RequeueCounts(sent_back=3, open=3, resolved=0, exhausted=0)


def test_another_labeller_gets_them_first_and_resolves_them(labelled):
    db, queries, flagged, truthful = labelled
    send_flagged_back(db, PAPER3)
    bob = AnnotationSession(db, "bob", PAPER3, gold_rate=0.0, seed=1)
    # alice answered them before and bob labels too: her session goes on with the fresh queries first ...
    alice = AnnotationSession(db, "alice", PAPER3, gold_rate=0.0, seed=1)
    assert not alice.alone and alice.next_task().query_image_id == queries[4]
    # ... while bob, who never saw them, is served the sent-back ones before anything else.
    served = []
    while (task := bob.next_task()) is not None:
        served.append(task.query_image_id)
        bob.answer(task, truthful(task))
    assert served[: len(served) - 6] and set(served[: len(served) - 6]) == set(flagged)
    assert served[-6:] == [queries[4]] * 3 + [queries[5]] * 3  # then the fresh ones, three answers each
    for query in flagged:
        stored = load_posterior(db, query)
        assert stored["ci_high"] - stored["ci_low"] <= OUTLIER_WIDTH and not stored["flagged"]
        assert 3 < stored["n_comparisons"] <= 15
        row = queue_row(db, PAPER3, query)
        assert (row.status, row.requeue, row.flagged) == (FINISHED, REQUEUE_RESOLVED, False)
    assert requeue_counts(db, PAPER3) == RequeueCounts(sent_back=3, open=0, resolved=3, exhausted=0)
    assert project_statistics(db, PAPER3).requeue.resolved == 3


def test_a_lone_labeller_gets_them_next(labelled):
    db, queries, flagged, truthful = labelled
    send_flagged_back(db, PAPER3)
    alice = AnnotationSession(db, "alice", PAPER3, gold_rate=0.0, seed=2)
    assert alice.alone  # nobody else to prefer for them: they come back to her at once
    served = []
    while (task := alice.next_task()) is not None:
        served.append(task.query_image_id)
        alice.answer(task, truthful(task))
    assert set(served[:-6]) == set(flagged)
    assert served[-6:] == [queries[4]] * 3 + [queries[5]] * 3
    assert requeue_counts(db, PAPER3).resolved == 3


def test_a_query_that_stays_wide_is_served_up_to_the_cap(labelled):
    db, queries, flagged, _ = labelled
    set_setting(db, "requeue_comparisons", 4)
    assert send_back(db, flagged[:1]) == 1
    bob = AnnotationSession(db, "bob", PAPER3, gold_rate=0.0, seed=0)
    served = 0
    while (task := bob.next_task()) is not None and task.query_image_id == flagged[0]:
        bob.answer(task, "unsure")  # no information: the interval stays wide
        served += 1
    assert served == 4 and load_posterior(db, flagged[0])["n_comparisons"] == 3 + 4
    assert queue_row(db, PAPER3, flagged[0]).requeue == REQUEUE_EXHAUSTED
    assert requeue_counts(db, PAPER3) == RequeueCounts(sent_back=1, open=0, resolved=0, exhausted=1)
    # Sent back again: a new allowance from now, counted once more.
    assert send_flagged_back(db, PAPER3) == 3
    row = db.execute("SELECT times, comparisons_at, until_comparisons FROM requeued WHERE query_image_id = ?",
                     [flagged[0]]).fetchone()
    assert tuple(row) == (2, 7, 11)
    assert queue_row(db, PAPER3, flagged[0]).requeue == REQUEUE_OPEN


def test_extra_comparisons_must_be_positive(labelled):
    db, _, flagged, _ = labelled
    with pytest.raises(ValueError, match="at least one more comparison"):
        send_back(db, flagged, extra=0)
