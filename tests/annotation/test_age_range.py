"""Beyond the references, worked by hand; a project's age range widened later (posteriors recomputed over it,
nothing lost), never narrowed; `ageapp range`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ageapp.__main__ import main
from ageapp.annotation.age_range import AgeRangeError, age_range, widen_age_range
from ageapp.annotation.session import AnnotationSession
from ageapp.core.beta_model import AnnotatorModel
from ageapp.core.posterior import log_posterior_over_annotators, summarize
from ageapp.core.selection import Protocol
from ageapp.store.posteriors import load_posterior
from tests.factories import make_project


def by_hand(reference_ages, beta, age_max):
    """Uniform prior times Π σ(β (a − k)) for answers all "older", normalised: one loop per age, no numpy
    vectorisation, beside the engine's."""
    weights = []
    for age in range(age_max + 1):
        product = 1.0
        for k in reference_ages:
            product *= 1.0 / (1.0 + math.exp(-beta * (age - k)))
        weights.append(product)
    total = sum(weights)
    return np.array([w / total for w in weights])


def test_a_query_older_than_every_reference_is_beyond_them_with_its_mass_above():
    references = [69, 66, 62, 58, 69, 65]  # FG-NET stops at 69; every answer says "older"
    known = {0: AnnotatorModel.known(0.36)}
    engine = np.exp(log_posterior_over_annotators(references, [1] * 6, [0] * 6, known, 100))
    expected = by_hand(references, 0.36, 100)
    np.testing.assert_allclose(engine, expected, atol=1e-9)
    above = expected[70:].sum()
    assert above > 0.5  # most of the mass above the oldest reference: the answers allow any age up there
    summary = summarize(engine, reference_range=(0.0, 69.0))
    assert (summary.beyond, summary.beyond_age, summary.beyond_text()) == (1, 69, "older than 69")
    assert summary.beyond_mass == pytest.approx(above, abs=1e-6)
    assert not summary.flagged and summary.ci_high > 69 + 10  # wide, honestly, never narrow at an edge
    # the same answers in a 0-70 range pile the mass at 70: narrow at the edge, "finished" (what 0-100 prevents)
    clipped = summarize(by_hand(references, 0.36, 70), reference_range=(0.0, 69.0))
    assert clipped.ci_high == 70 and clipped.ci_width <= 4 and clipped.beyond == 0


@pytest.fixture
def old_project(tmp_path):
    """An old project (range 0-70, references 0..69); alice answered "older" three times for one query."""
    path = tmp_path / "old.ageproj"
    db, _, queries, _ = make_project(path, references=70, queries=2, age_max=70)
    session = AnnotationSession(db, "alice", Protocol("paper", comparisons=3), gold_rate=0.0, seed=0)
    for _ in range(3):
        task = session.next_task()
        session.answer(task, task.query_side)  # the query is older
    return path, db, session.current_query or task.query_image_id


def test_widening_recomputes_every_posterior_over_the_new_range(old_project):
    _, db, query = old_project
    ages = [r[0] for r in db.execute("SELECT i.age FROM comparisons AS c JOIN images AS i"
                                     " ON i.id = c.reference_image_id WHERE c.query_image_id = ?", [query])]
    assert len(load_posterior(db, query)["probabilities"]) == 71
    assert age_range(db).references == (0.0, 69.0)
    assert widen_age_range(db, 100) >= 1
    stored = load_posterior(db, query)
    assert len(stored["probabilities"]) == 101
    known = {0: AnnotatorModel()}  # the default β, with its uncertainty, as stored posteriors carry it
    annotator = db.execute("SELECT id FROM annotators WHERE name = 'alice'").fetchone()[0]
    expected = np.exp(log_posterior_over_annotators(ages, [1] * 3, [annotator] * 3, {annotator: known[0]}, 100))
    np.testing.assert_allclose(stored["probabilities"], expected, atol=1e-6)
    assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 3  # nothing lost
    assert "older than 69 will be “beyond the references”" in age_range(db).describe()
    assert widen_age_range(db, 100) == 0  # already so
    with pytest.raises(AgeRangeError, match="can only be widened"):
        widen_age_range(db, 80)
    with pytest.raises(AgeRangeError, match="at most 120"):
        widen_age_range(db, 400)


def test_the_range_command_shows_and_widens(old_project, capsys):
    path, db, _ = old_project
    db.close()
    assert main(["range", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "ages 0–70; references 0–69" in out[0] and json.loads(out[-1])["age_max"] == 70
    assert main(["range", str(path), "--age-max", "100"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["age_max_before"], result["age_max"], result["references"]) == (70, 100, [0.0, 69.0])
    assert result["recomputed"] >= 1
    assert main(["range", str(path), "--age-max", "90"]) == 1
    assert "can only be widened" in capsys.readouterr().out
