"""The queue's SQL: counts, filters, sort orders and windows against a hand-made set of posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.queue import (
    FINISHED,
    FLAGGED,
    IN_PROGRESS,
    NEW,
    QueueFilter,
    QueueOrder,
    count_queue,
    queue_row,
    queue_rows,
)
from ageapp.core.posterior import PosteriorSummary
from ageapp.core.selection import Protocol
from ageapp.store.images import add_image, root_id_for
from ageapp.store.posteriors import save_posterior
from tests.factories import make_project

ACTIVE = Protocol("active", target_width=8, max_comparisons=12)
PAPER = Protocol("paper", comparisons=6)

# query index -> (n_comparisons, mode, ci_low, ci_high); the flag follows the 15-year rule.
STATES = {
    0: (12, 30, 20, 40),  # active: finished by count, 20 years wide -> flagged
    1: (5, 44, 40, 47),  # finished by width (7 <= 8)
    2: (3, 10, 0, 25),  # in progress (wide, few answers): not flagged yet
    3: (0, 35, 3, 67),  # every answer undone: a stored uniform posterior, counts as new
    # 4 and 5: never compared, no posterior row
}


@pytest.fixture
def queue_db(tmp_path):
    db, _, query_ids, _ = make_project(tmp_path / "q.ageproj", references=10, queries=6)
    for index, (n, mode, low, high) in STATES.items():
        summary = PosteriorSummary(mode, float(mode), mode, low, high, high - low > 15)
        save_posterior(db, query_ids[index], np.full(71, 1 / 71), summary, n)
    # A query whose image had no face: not listed (it cannot be compared).
    add_image(db, root_id=root_id_for(db, tmp_path), relative_path="noface.jpg", sha1="f" * 40, size_bytes=1,
              source_format="synthetic", role="query")
    return db, query_ids


def ids(rows):
    return [row.query_image_id for row in rows]


def test_rows_carry_each_querys_state(queue_db):
    db, q = queue_db
    rows = {row.query_image_id: row for row in queue_rows(db, ACTIVE, limit=100)}
    assert set(rows) == set(q)
    # finished with a 20-year interval: "flagged", a status of its own (annotation.counts.query_status)
    assert (rows[q[0]].n_comparisons, rows[q[0]].mode, rows[q[0]].ci_width, rows[q[0]].flagged, rows[q[0]].status) \
        == (12, 30, 20, True, FLAGGED)
    assert (rows[q[1]].ci_width, rows[q[1]].flagged, rows[q[1]].status) == (7, False, FINISHED)
    assert (rows[q[2]].n_comparisons, rows[q[2]].flagged, rows[q[2]].status) == (3, False, IN_PROGRESS)
    assert (rows[q[3]].n_comparisons, rows[q[3]].mode, rows[q[3]].ci_width, rows[q[3]].status) == (0, None, None, NEW)
    assert (rows[q[4]].mode, rows[q[4]].status, rows[q[4]].path) == (None, NEW, "query/4.jpg")


def test_finished_depends_on_the_protocol(queue_db):
    db, q = queue_db
    statuses = {row.query_image_id: row.status for row in queue_rows(db, PAPER, limit=100)}
    # paper: finished at 6 comparisons, whatever the width
    assert statuses[q[0]] == FLAGGED and statuses[q[1]] == IN_PROGRESS and statuses[q[2]] == IN_PROGRESS


def test_filters(queue_db):
    db, q = queue_db
    assert count_queue(db, ACTIVE) == 6
    assert ids(queue_rows(db, ACTIVE, QueueFilter(flagged_only=True))) == [q[0]]
    unfinished = QueueFilter(unfinished_only=True)
    assert count_queue(db, ACTIVE, unfinished) == 4
    assert ids(queue_rows(db, ACTIVE, unfinished)) == [q[2], q[3], q[4], q[5]]
    assert count_queue(db, ACTIVE, QueueFilter(flagged_only=True, unfinished_only=True)) == 0
    assert count_queue(db, PAPER, unfinished) == 5  # only q0 has its six comparisons


def test_sort_orders_are_total_and_stable(queue_db):
    db, q = queue_db
    by = lambda key, descending=False: ids(queue_rows(db, ACTIVE, order=QueueOrder(key, descending)))  # noqa: E731
    assert by("id") == q and by("id", True) == q[::-1]
    # ties (0 comparisons for q3, q4, q5) are broken by id in the same direction
    assert by("comparisons") == [q[3], q[4], q[5], q[2], q[1], q[0]]
    assert by("comparisons", True) == [q[0], q[1], q[2], q[5], q[4], q[3]]
    assert by("width", True)[:3] == [q[2], q[0], q[1]]  # 25, 20, 7; then the ones without a width
    assert by("mode")[-3:] == [q[2], q[0], q[1]]  # 10, 30, 44 after the NULLs
    assert by("flagged", True)[0] == q[0]
    assert by("status", True)[:2] == [q[0], q[1]]  # flagged (finished and wide) ranks above finished


def test_windows_cover_the_list_once(queue_db):
    db, q = queue_db
    order = QueueOrder("comparisons", True)
    windows = [queue_rows(db, ACTIVE, order=order, offset=offset, limit=4) for offset in (0, 4, 8)]
    assert [len(w) for w in windows] == [4, 2, 0]
    assert ids(windows[0] + windows[1]) == ids(queue_rows(db, ACTIVE, order=order, limit=100))


def test_one_row_by_id(queue_db):
    db, q = queue_db
    assert queue_row(db, ACTIVE, q[1]).status == FINISHED
    assert queue_row(db, ACTIVE, 1) is None  # a reference is not in the queue


def test_an_unknown_sort_key_is_refused():
    with pytest.raises(ValueError, match="cannot sort the queue by 'age'"):
        QueueOrder("age")
