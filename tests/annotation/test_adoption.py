"""Adopting a study's β with care (ageapp.annotation.beta): what it would change, worked out before anything is
written; applied with every posterior of the person's answers recomputed and one BetaChanged told; undone."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.beta import adopt, preview_adoption, undo_adoption
from ageapp.annotation.events import BetaChanged, EventBus
from ageapp.annotation.session import AnnotationSession
from ageapp.core.beta_model import DEFAULT, STUDY, AnnotatorModel
from ageapp.core.posterior import credible_intervals, posterior_from_comparisons
from ageapp.core.selection import Protocol
from ageapp.store.annotators import annotator_model, find_annotator
from ageapp.store.posteriors import load_posterior
from tests.factories import make_project

NEW = AnnotatorModel(beta=0.9, log_sd=0.0, interval=(0.5, 1.6), n=30, source=STUDY)


@pytest.fixture
def labelled(tmp_path):
    """dave answered two queries, three comparisons each, with the default β."""
    db, _, queries, _ = make_project(tmp_path / "p.ageproj", references=71, queries=3)
    session = AnnotationSession(db, "dave", Protocol("paper", comparisons=3), gold_rate=0.0, seed=0)
    for choice in ["left", "right", "left", "right", "right", "left"]:
        session.answer(session.next_task(), choice)
    return db, queries[:2]


def answers_of(db, query):
    rows = db.execute("SELECT i.age, c.answer FROM comparisons AS c JOIN images AS i ON i.id = c.reference_image_id"
                      " WHERE c.query_image_id = ?", [query]).fetchall()
    return [r[0] for r in rows], [{"older": 1, "younger": 0}.get(r[1]) for r in rows]


def width_by_hand(db, query, beta) -> float:
    ages, outcomes = answers_of(db, query)
    posterior = posterior_from_comparisons(ages, outcomes, [beta] * len(ages), 70)
    low, high = credible_intervals(posterior[None, :], 0.9)
    return float(high[0] - low[0])


def test_the_preview_writes_nothing_and_says_what_would_change(labelled):
    db, queries = labelled
    before = [load_posterior(db, q)["probabilities"] for q in queries]
    preview = preview_adoption(db, "dave", NEW)
    assert preview.old.source == DEFAULT and preview.new == NEW and sorted(preview.queries) == sorted(queries)
    # the default β (0.36) is uncertain (sd 0.5 on log β): "before" integrates over it, as the stored posteriors do
    stored_widths = [load_posterior(db, q)["ci_high"] - load_posterior(db, q)["ci_low"] for q in queries]
    assert preview.median_width_before == pytest.approx(np.median(stored_widths))
    assert preview.median_width_after == pytest.approx(np.median([width_by_hand(db, q, 0.9) for q in queries]))
    assert preview.median_width_after < preview.median_width_before  # a sharper labeller: narrower posteriors
    np.testing.assert_array_equal(np.array([load_posterior(db, q)["probabilities"] for q in queries]), before)
    assert annotator_model(db, find_annotator(db, "dave")).source == DEFAULT


def test_adopt_recomputes_tells_once_and_undo_puts_everything_back(labelled):
    db, queries = labelled
    before = {q: load_posterior(db, q)["probabilities"] for q in queries}
    events, heard = EventBus(), []
    events.subscribe(heard.append)
    adoption = preview_adoption(db, "dave", NEW)
    assert adopt(db, adoption, events) == 2
    dave = find_annotator(db, "dave")
    assert heard == [BetaChanged(dave, 0.9, 2, NEW, tuple(sorted(queries)))] and annotator_model(db, dave) == NEW
    for q in queries:
        ages, outcomes = answers_of(db, q)
        expected = posterior_from_comparisons(ages, outcomes, [0.9] * len(ages), 70)
        np.testing.assert_allclose(load_posterior(db, q)["probabilities"], expected, atol=1e-6)
    assert undo_adoption(db, adoption, events) == 2
    assert heard[-1].beta == pytest.approx(0.36) and annotator_model(db, dave).source == DEFAULT
    for q in queries:
        np.testing.assert_allclose(load_posterior(db, q)["probabilities"], before[q], atol=1e-6)


def test_a_newcomer_becomes_an_annotator_with_nothing_to_recompute(labelled):
    db, _ = labelled
    preview = preview_adoption(db, "erin", NEW)
    assert preview.changed == 0 and preview.median_width_before is None and find_annotator(db, "erin") is None
    assert adopt(db, preview) == 0
    assert annotator_model(db, find_annotator(db, "erin")) == NEW
