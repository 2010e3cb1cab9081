"""The session tells what happened (ageapp.annotation.events): views listen instead of being refreshed by hand."""

from __future__ import annotations

from ageapp.annotation.events import Answered, EventBus, GenderCorrected, QueriesChanged, Undone
from ageapp.annotation.gender import FEMALE
from ageapp.annotation.session import AnnotationSession
from tests.factories import make_project


def test_answers_undos_and_corrections_are_told_in_order(tmp_path):
    db, refs, queries, _ = make_project(tmp_path / "p.ageproj", references=20, queries=3)
    bus = EventBus()
    seen = []
    unsubscribe = bus.subscribe(seen.append)
    session = AnnotationSession(db, "ann", gold_rate=0.0, seed=0, events=bus)
    task = session.next_task()
    state = session.answer(task, "left")
    assert seen == [Answered(session.annotator_id, gold=False, state=state, query_image_id=task.query_image_id)]
    undone = session.undo()
    assert seen[-1] == Undone(session.annotator_id, gold=False, state=undone, query_image_id=task.query_image_id)
    assert len(undone.comparisons) == 0 and len(state.comparisons) == 1
    info = session.correct_gender(task.query_image_id, FEMALE)
    assert seen[-1] == GenderCorrected(task.query_image_id, info) and info.gender == FEMALE
    session.genders_predicted()
    assert seen[-1] == QueriesChanged("genders predicted")
    unsubscribe()
    session.answer(session.next_task(), "right")
    assert len(seen) == 4  # nobody listens any more
    db.close()
