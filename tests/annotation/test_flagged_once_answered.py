"""A query is flagged (interval wider than 15 years) only once its answers are in: after one answer every query is
that wide, and is not flagged for it. The counts the dock shows, the queue's filter and `ageapp stats` agree."""

from __future__ import annotations

import json

from ageapp.__main__ import main
from ageapp.annotation.counts import FLAGGED, ProjectCounts
from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.annotation.queue import QueueFilter, count_queue
from ageapp.annotation.session import AnnotationSession
from ageapp.core.selection import Protocol
from tests.factories import make_project

PROTOCOL = Protocol("paper", comparisons=3)


def stats_flagged(capsys, path) -> int:
    assert main(["stats", str(path)]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["flagged"]


def test_one_answer_is_not_a_flag_three_unsure_ones_are(tmp_path, capsys):
    path = tmp_path / "p.ageproj"
    db = make_project(path, references=71, queries=3)[0]
    save_labelling_settings(db, LabellingSettings(PROTOCOL, gold_rate=0.0))
    session = AnnotationSession(db, "alice", PROTOCOL, gold_rate=0.0, seed=0)
    session.answer(session.next_task(), "left")  # one answer: a wide interval, not finished
    assert db.execute("SELECT flagged FROM posteriors").fetchall() == [(1,)]  # the summary's raw flag
    assert ProjectCounts(db, PROTOCOL).counts().by_status[FLAGGED] == 0
    assert count_queue(db, PROTOCOL, QueueFilter(flagged_only=True)) == 0
    db.close()
    assert stats_flagged(capsys, path) == 0
    db = make_project(tmp_path / "q.ageproj", references=71, queries=3)[0]
    save_labelling_settings(db, LabellingSettings(PROTOCOL, gold_rate=0.0))
    session = AnnotationSession(db, "alice", PROTOCOL, gold_rate=0.0, seed=0)
    for _ in range(3):  # three can't-tell answers: finished, as wide as can be: flagged
        session.answer(session.next_task(), "unsure")
    assert ProjectCounts(db, PROTOCOL).counts().by_status[FLAGGED] == 1
    assert count_queue(db, PROTOCOL, QueueFilter(flagged_only=True)) == 1
    db.close()
    assert stats_flagged(capsys, tmp_path / "q.ageproj") == 1
