"""The labeller's session: pairs, answers committed with their posterior, undo, gold checks and beta."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.session import AnnotationSession, answer_for_choice
from ageapp.core.beta_model import AnnotatorModel
from ageapp.core.posterior import log_posterior_over_annotators, posterior_from_comparisons
from ageapp.core.selection import Protocol
from ageapp.store.comparisons import active_comparisons
from ageapp.store.posteriors import load_posterior
from tests.factories import make_project


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "p.ageproj", references=71, queries=5)


def test_choice_to_answer_about_the_query():
    assert answer_for_choice("left", "left") == "older"
    assert answer_for_choice("right", "left") == "younger"
    assert answer_for_choice("right", "right") == "older"
    assert answer_for_choice("unsure", "right") == "unsure"
    with pytest.raises(ValueError):
        answer_for_choice("up", "left")


def test_answer_is_committed_with_its_posterior(project):
    db, reference_ids, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("paper"), gold_rate=0.0, seed=1)
    task = session.next_task()
    assert task.kind == "query" and task.query_image_id == query_ids[0]
    state = session.answer(task, task.query_side)  # the query's face was chosen as older
    reference_age = db.execute("SELECT age FROM images WHERE id = ?", [task.reference_image_id]).fetchone()[0]
    # a new annotator's β: the population's 0.36, not known exactly (log sd 0.5): integrated over
    expected = np.exp(log_posterior_over_annotators([reference_age], [1], ["ann"], {"ann": AnnotatorModel()}, 70))
    plug_in = posterior_from_comparisons([reference_age], [1], [0.36], 70)
    assert np.allclose(state.posterior, expected) and not np.allclose(expected, plug_in, atol=1e-4)
    stored = load_posterior(db, task.query_image_id)
    assert stored["n_comparisons"] == 1 and np.allclose(stored["probabilities"], expected, atol=1e-6)
    assert active_comparisons(db, task.query_image_id)[0]["query_side"] == task.query_side


def test_paper_protocol_six_distinct_references_then_next_query(project):
    db, _, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=6), gold_rate=0.0, seed=2)
    seen = []
    for _ in range(6):
        task = session.next_task()
        assert task.query_image_id == query_ids[0]
        seen.append(task.reference_image_id)
        session.answer(task, "left")
    assert len(set(seen)) == 6
    median = 35.0  # references aged 0..70: no model loaded, so the rough estimate is their median
    ages = [db.execute("SELECT age FROM images WHERE id = ?", [r]).fetchone()[0] for r in seen]
    assert sum(a < median for a in ages) == 3 and sum(a > median for a in ages) == 3
    assert session.next_task().query_image_id == query_ids[1]


def test_undo_across_queries_restores_the_previous_posterior(project):
    db, _, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=2), gold_rate=0.0, seed=3)
    for _ in range(2):
        session.answer(session.next_task(), "left")
    first_done = load_posterior(db, query_ids[0])["probabilities"].copy()
    second = session.next_task()
    assert second.query_image_id == query_ids[1]
    session.answer(second, "right")
    assert session.undo().query_image_id == query_ids[1]
    assert load_posterior(db, query_ids[1])["n_comparisons"] == 0
    state = session.undo()  # crosses back into the finished first query
    assert state.query_image_id == query_ids[0] and load_posterior(db, query_ids[0])["n_comparisons"] == 1
    assert not np.allclose(load_posterior(db, query_ids[0])["probabilities"], first_done)
    assert session.next_task().query_image_id == query_ids[0]  # and it is asked again


def test_unsure_is_stored_but_adds_no_term(project):
    db, _, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("active"), gold_rate=0.0, seed=4)
    state = session.answer(session.next_task(), "unsure")
    assert np.allclose(state.posterior, 1 / 71) and load_posterior(db, query_ids[0])["n_comparisons"] == 1


def test_active_protocol_stops_at_the_target_width(tmp_path):
    db, _, query_ids, ages = make_project(tmp_path / "a.ageproj", references=142, queries=2, seed=5)
    session = AnnotationSession(db, "ann", Protocol("active", target_width=8, max_comparisons=30), gold_rate=0.0, seed=5)
    rng = np.random.default_rng(0)
    while (task := session.next_task()) is not None and task.query_image_id == query_ids[0]:
        reference_age = db.execute("SELECT age FROM images WHERE id = ?", [task.reference_image_id]).fetchone()[0]
        query_older = rng.random() < 1 / (1 + np.exp(-0.36 * (ages[0] - reference_age)))
        session.answer(task, task.query_side if query_older else ("right" if task.query_side == "left" else "left"))
    stored = load_posterior(db, query_ids[0])
    assert stored["ci_high"] - stored["ci_low"] <= 8 or stored["n_comparisons"] == 30


def test_gold_answers_fit_this_annotators_beta(tmp_path):
    db, *_ = make_project(tmp_path / "g.ageproj", references=71, queries=3, seed=6)
    session = AnnotationSession(db, "careful", Protocol("paper"), gold_rate=1.0, seed=6)
    other = AnnotationSession(db, "other", Protocol("paper"), gold_rate=1.0, seed=7)
    rng = np.random.default_rng(1)
    true_beta = 1.0
    for _ in range(200):
        task = session.next_task()
        assert task.kind == "gold"
        first_age, second_age = (db.execute("SELECT age FROM images WHERE id = ?", [i]).fetchone()[0]
                                 for i in (task.query_image_id, task.reference_image_id))
        first_older = rng.random() < 1 / (1 + np.exp(-true_beta * (first_age - second_age)))
        session.answer(task, task.query_side if first_older else ("right" if task.query_side == "left" else "left"))
    assert abs(session.beta - true_beta) < 0.3
    assert other.beta == pytest.approx(0.36)  # each annotator keeps their own


def test_finishing_a_query_reads_no_reference_spans_again(project, monkeypatch):
    """The references' age span is kept by the session (ageapp.annotation.reference_span): moving past a
    finished query must use it, not read all references again (8 ms a finished query at 10,000 references)."""
    import ageapp.store.posteriors as posteriors

    db, _, query_ids, _ = project
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=3), gold_rate=0.0, seed=4)
    session.spans.get()  # the session's copy, read once
    reads = []
    original = posteriors.reference_age_ranges
    monkeypatch.setattr(posteriors, "reference_age_ranges", lambda *a, **k: reads.append(1) or original(*a, **k))
    for _ in range(3):
        session.answer(session.next_task(), "left")
    nxt = session.next_task()  # the first query is finished: its posterior stored, the next one started
    assert nxt.query_image_id == query_ids[1]
    assert load_posterior(db, query_ids[0])["n_comparisons"] == 3
    assert reads == []
