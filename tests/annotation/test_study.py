"""The user study (the paper's section 2.1): trials, stored answers, the two tests' statistics, the β fit, adopting
β for labelling and the CSV export."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ageapp.annotation.simulated_person import SimulatedPerson
from ageapp.annotation.study import (
    COMPARE,
    GUESS,
    LEFT,
    RIGHT,
    StudyError,
    Trial,
    correct_probability,
    export_csv,
    fit_path_for,
    new_sitting,
    parse_guess,
    persons,
    plan_study,
    record_answer,
    study_results,
)
from ageapp.core.beta_model import STUDY, AnnotatorModel, profile_interval
from tests.factories import make_project


@pytest.fixture
def project(tmp_path):
    """71 references aged 0..70 and two queries."""
    return make_project(tmp_path / "p.ageproj", references=71, queries=2)


def test_plan_draws_distinct_faces_and_pairs_with_spread_gaps(project):
    db, references, queries, _ = project
    plan = plan_study(db, guesses=30, comparisons=200, seed=4)
    assert [t.test for t in plan.trials] == [GUESS] * 30 + [COMPARE] * 200
    faces = [t.image_ids[0] for t in plan.guess]
    assert len(set(faces)) == 30 and set(faces) <= set(references)  # never a query, no face twice
    ages = dict(db.execute("SELECT id, age FROM images").fetchall())
    assert all(t.true_ages == tuple(ages[i] for i in t.image_ids) for t in plan.trials)
    gaps = np.array([abs(t.true_ages[0] - t.true_ages[1]) for t in plan.compare])
    assert gaps.min() >= 1 and gaps.max() <= 20 and len(np.unique(gaps)) >= 15  # a gap drawn from 1..20
    assert len({frozenset(t.image_ids) for t in plan.compare}) == 200  # no pair twice
    older_left = np.mean([t.true_ages[0] > t.true_ages[1] for t in plan.compare])
    assert 0.35 < older_left < 0.65  # the older face on either side
    assert plan_study(db, 30, 200, seed=4) == plan  # seeded
    assert [t.image_ids for t in plan_study(db, 30, 0, seed=5).guess] != [t.image_ids for t in plan.guess]
    # More guesses than faces: every face once, then again.
    assert len(plan_study(db, guesses=100, comparisons=0, seed=1).guess) == 100


def test_a_project_without_references_says_what_to_do(tmp_path):
    db, *_ = make_project(tmp_path / "p.ageproj", references=0, queries=3)
    with pytest.raises(StudyError, match="ageapp import PROJECT FOLDER --role reference"):
        plan_study(db, 5, 5)
    with pytest.raises(StudyError, match="at least one"):
        plan_study(db, 0, 0)


def test_guesses_are_parsed_with_what_to_type_instead():
    assert parse_guess(" 34 ") == 34
    for text, message in (("", "type the age"), ("abc", "whole number"), ("4.5", "whole number"),
                          ("150", "from 0 to 120")):
        with pytest.raises(ValueError, match=message):
            parse_guess(text)


def test_answers_are_stored_with_response_times_and_read_back(project):
    db, references, _, _ = project
    ages = dict(db.execute("SELECT id, age FROM images").fetchall())
    a, b, c = references[10], references[30], references[35]
    sitting = new_sitting()
    record_answer(db, "carol", sitting, Trial(GUESS, (a,), (ages[a],)), "12", 2300)
    record_answer(db, "carol", sitting, Trial(GUESS, (b,), (ages[b],)), 40, 1800)
    record_answer(db, "carol", sitting, Trial(COMPARE, (b, c), (ages[b], ages[c])), RIGHT, 900)  # right: c, 35, older
    record_answer(db, "carol", sitting, Trial(COMPARE, (c, a), (ages[c], ages[a])), RIGHT, 700)  # wrong
    rows = [dict(r) for r in db.query("SELECT * FROM study_answers ORDER BY id")]
    assert [(r["test"], r["image_id"], r["second_image_id"], r["answer"], r["true_age"], r["second_true_age"],
             r["response_ms"], r["person"], r["sitting"]) for r in rows] == [
        ("guess", a, None, 12.0, 10.0, None, 2300, "carol", sitting),
        ("guess", b, None, 40.0, 30.0, None, 1800, "carol", sitting),
        ("compare", b, c, 0.0, 30.0, 35.0, 900, "carol", sitting),
        ("compare", c, a, 0.0, 35.0, 10.0, 700, "carol", sitting),
    ]
    results = study_results(db, "carol")
    assert results.guess.n == 2 and results.guess.within == 0.5 and results.guess.mae == 6.0
    assert results.compare.n == 2 and results.compare.share_correct == 0.5
    assert results.compare.beta is None  # 2 pairs: no fit below 20
    with pytest.raises(ValueError, match="'left' or 'right'"):
        record_answer(db, "carol", sitting, Trial(COMPARE, (b, c), (30.0, 35.0)), "up", 1)
    with pytest.raises(ValueError, match="name of the person"):
        record_answer(db, "  ", sitting, Trial(GUESS, (a,), (10.0,)), 5, 1)
    with pytest.raises(ValueError, match="from 0 to 120"):
        record_answer(db, "carol", sitting, Trial(GUESS, (a,), (10.0,)), 300, 1)


def test_guess_statistics_by_hand():
    from ageapp.annotation.study import CompareResults, GuessResults

    guess = GuessResults(np.array([10.0, 20, 30, 40]), np.array([13.0, 24, 30, 35]), np.zeros(4))
    assert guess.within == 0.5 and guess.mae == pytest.approx((3 + 4 + 0 + 5) / 4)
    compare = CompareResults(np.array([10.0, 20, 30, 40, 50]), np.array([11.0, 14, 30, 25, 60]),
                             np.array([False, True, True, False, True]), np.zeros(5),
                             model=AnnotatorModel.known(0.36))
    # gaps 1, 6, 0, 15, 10; right answers: yes, yes, (tie), no, no.
    assert compare.correct.tolist() == [True, True, False, False, False]
    assert compare.share_correct == 0.5 and compare.share_correct_where(10.5) == 0.0
    bins = compare.bins()
    assert bins.low.tolist() == [1, 5, 9, 15] and bins.high.tolist() == [2, 6, 10, 16]
    assert bins.share_correct.tolist() == [1, 1, 0, 0] and bins.counts.tolist() == [1, 1, 1, 1]
    assert compare.model_correct_at(5) == pytest.approx(1 / (1 + np.exp(-1.8)))
    assert correct_probability(5, 0.36) == pytest.approx(0.858, abs=1e-3)  # the paper's "85% at 5 years"


@pytest.mark.parametrize("beta", [0.36, 0.15, 0.8])
def test_the_fit_recovers_a_known_beta_from_simulated_answers(project, beta):
    db, *_ = project
    plan = plan_study(db, guesses=200, comparisons=1200, seed=11)
    person = SimulatedPerson(beta=beta, guess_sd=6.0, seed=12)
    sitting = new_sitting()
    with db.atomic():  # one transaction here only to keep the test quick; each answer commits on its own
        for trial in plan.trials:
            record_answer(db, "sim", sitting, trial, person.answer(trial), 1000)
    results = study_results(db, "sim")
    assert results.compare.beta == pytest.approx(beta, rel=0.15)  # about 3 standard errors at 1,200 pairs
    # the estimate comes with its 95% profile interval, recomputed here from the stored answers
    model = results.compare.model
    assert model.source == STUDY and model.n == 1200 and model.interval[0] < beta < model.interval[1]
    gaps = np.abs(results.compare.left_ages - results.compare.right_ages)
    older = (results.compare.left_older == (results.compare.left_ages > results.compare.right_ages)).astype(float)
    assert model.interval == pytest.approx(profile_interval(gaps, older), rel=1e-6)
    # Guessing with a 6-year spread lands within ±3 years about 43% of the time (the paper: 43.2%).
    assert 0.33 < results.guess.within < 0.53
    # The binned shares follow the fitted curve.
    bins = results.compare.bins()
    expected = correct_probability(bins.centres, results.compare.beta)
    assert np.average(np.abs(bins.share_correct - expected), weights=bins.counts) < 0.05


def test_export_writes_answers_and_fit(project, tmp_path):
    db, *_ = project
    plan = plan_study(db, guesses=10, comparisons=30, seed=2)
    for name, seed in (("fay", 1), ("gus", 2)):
        person, sitting = SimulatedPerson(seed=seed), new_sitting()
        for trial in plan.trials:
            record_answer(db, name, sitting, trial, person.answer(trial), 500 + seed)
    assert persons(db) == ["gus", "fay"]
    answers_path, fit_path = export_csv(db, tmp_path / "study.csv")
    assert fit_path == fit_path_for(answers_path) == tmp_path / "study_fit.csv"
    with open(answers_path, newline="") as handle:
        answers = list(csv.DictReader(handle))
    assert len(answers) == 80
    first_compare = next(r for r in answers if r["test"] == "compare")
    assert first_compare["answer"] in (LEFT, RIGHT) and first_compare["path"].startswith("ref/")
    assert first_compare["correct"] == str(int((first_compare["answer"] == LEFT) ==
                                               (float(first_compare["true_age"]) > float(first_compare["second_true_age"]))))
    with open(fit_path, newline="") as handle:
        fits = {row["person"]: row for row in csv.DictReader(handle)}
    assert set(fits) == {"fay", "gus", "everyone"}
    fay = study_results(db, "fay").compare
    assert float(fits["fay"]["beta"]) == pytest.approx(fay.beta, abs=1e-4)
    assert (float(fits["fay"]["beta_low_95"]), float(fits["fay"]["beta_high_95"])) == pytest.approx(fay.interval, abs=1e-4)
    assert int(fits["everyone"]["comparisons"]) == 60
    # One person only.
    export_csv(db, tmp_path / "fay.csv", "fay")
    with open(tmp_path / "fay_fit.csv", newline="") as handle:
        assert [row["person"] for row in csv.DictReader(handle)] == ["fay"]
