"""Project statistics: the arithmetic against hand-computed values, the readers against a small project."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from ageapp.core.beta_model import fit_annotator
from ageapp.annotation.session import AnnotationSession
from ageapp.annotation.statistics import (
    annotator_statistics,
    answer_times,
    bin_gold_answers,
    comparisons_per_hour,
    gold_agreement,
    logistic_curve,
    progress,
    project_statistics,
    width_distribution,
)
from ageapp.core.selection import Protocol
from ageapp.store.posteriors import load_posterior
from tests.factories import make_project


# ------------------------------------------------------------------ arithmetic


def test_pace_counts_working_gaps_only():
    # gaps 30, 30, 980 (a break: > 300 s), 6 -> three answers in 66 s of work
    assert comparisons_per_hour([1000, 0, 30, 60, 1006]) == pytest.approx(3 * 3600 / 66)
    assert comparisons_per_hour([0, 10, 20, 1000, 1006], idle_gap_s=1000) == pytest.approx(4 * 3600 / 1006)


def test_no_pace_before_a_minute_of_labelling():
    # three answers in 12 s would read as 900 an hour: too soon to say (the issue saw 1,260,000/h)
    assert comparisons_per_hour([0, 4, 8, 12]) is None
    assert comparisons_per_hour([0, 20, 40, 60]) == pytest.approx(3 * 3600 / 60)


@pytest.mark.parametrize("times", [[], [5.0], [0.0, 400.0, 900.0], [3.0, 3.0]])
def test_pace_is_unknown_without_a_working_gap(times):
    assert comparisons_per_hour(times) is None


def test_gold_agreement_by_hand():
    agreement = gold_agreement([30, 20, 40, 50], [20, 30, 45, 40], [True, True, None, False])
    # 30 > 20 said older: right; 20 < 30 said older: wrong; can't tell; 50 > 40 said younger: wrong
    assert (agreement.answered, agreement.agreed, agreement.unsure) == (3, 1, 1)
    assert agreement.rate == pytest.approx(1 / 3)
    assert gold_agreement([], [], []).rate is None


def test_gold_answers_binned_by_age_difference():
    first = [10, 20, 30, 40.9, 53, 54.9, 60, 10]
    second = [15, 24, 31, 40, 50, 50, 40, 12]
    older = [False, True, False, True, True, True, True, None]  # the last (can't tell) is left out
    bins = bin_gold_answers(first, second, older, bin_width=2)
    # differences -5, -4, -1, 0.9, 3, 4.9, 20 -> bins centred -4, -4, 0, 0, 4, 4, 20
    np.testing.assert_array_equal(bins.centres, [-4, 0, 4, 20])
    np.testing.assert_array_equal(bins.counts, [2, 2, 2, 1])
    np.testing.assert_allclose(bins.older_fraction, [0.5, 0.5, 1.0, 1.0])
    assert len(bin_gold_answers([], [], []).centres) == 0


def test_logistic_curve_is_the_likelihood():
    np.testing.assert_allclose(logistic_curve(np.array([0.0, 10.0, -10.0]), 0.36),
                               [0.5, 1 / (1 + np.exp(-3.6)), 1 / (1 + np.exp(3.6))])


# ------------------------------------------------------------------ readers


def answer_all(session, choose, count):
    for _ in range(count):
        task = session.next_task()
        session.answer(task, choose(task))


def test_progress_and_widths_follow_the_protocol(tmp_path):
    db, _, query_ids, _ = make_project(tmp_path / "s.ageproj", references=71, queries=5)
    protocol = Protocol("paper", comparisons=3)
    session = AnnotationSession(db, "ann", protocol, gold_rate=0.0, seed=1)
    answer_all(session, lambda task: "left", 3 + 3 + 1)  # two queries finished, a third started
    counts = progress(db, protocol)
    stored = [load_posterior(db, q) for q in query_ids[:2]]
    flagged = sum(p["flagged"] for p in stored)
    assert (counts.total, counts.started, counts.finished, counts.flagged) == (5, 3, 2, flagged)
    assert counts.fraction == pytest.approx(0.4)
    widths, how_many = width_distribution(db, protocol)
    expected = sorted(p["ci_high"] - p["ci_low"] for p in stored)
    assert list(np.repeat(widths, how_many)) == expected
    # Under a protocol asking for more, nothing is finished yet.
    assert progress(db, Protocol("paper", comparisons=10)).finished == 0


def test_annotator_statistics_from_the_database(tmp_path):
    db, _, query_ids, _ = make_project(tmp_path / "a.ageproj", references=71, queries=4)
    careful = AnnotationSession(db, "careful", Protocol("paper"), gold_rate=1.0, seed=2)
    ages = dict(db.execute("SELECT id, age FROM images").fetchall())

    def truthful(task):
        older = ages[task.query_image_id] > ages[task.reference_image_id]
        return task.query_side if older else ("right" if task.query_side == "left" else "left")

    answer_all(careful, truthful, 12)
    careful.answer(careful.next_task(), "unsure")
    sloppy = AnnotationSession(db, "sloppy", Protocol("paper"), gold_rate=0.0, seed=3)
    answer_all(sloppy, lambda task: "left", 5)
    sloppy.undo()

    summaries, bins = annotator_statistics(db)
    by_name = {s.name: s for s in summaries}
    assert by_name["careful"].gold.answered == 12 and by_name["careful"].gold.agreed == 12
    assert by_name["careful"].gold.unsure == 1 and by_name["careful"].answers == 0
    assert by_name["sloppy"].answers == 4 and by_name["sloppy"].gold.rate is None  # one undone, no gold
    # β was refitted after the 10th gold answer (the next refit comes at the 20th): shrunk towards 0.36
    first, second, older = careful.gold_answers()
    refitted = fit_annotator(first[:10], second[:10], older[:10])
    assert by_name["careful"].beta == pytest.approx(refitted.beta) and refitted.n == 10
    assert 0.36 < refitted.beta < 5.0  # all right: above the population's β, far below the unshrunk bound
    careful_bins = bins[by_name["careful"].annotator_id]
    assert careful_bins.counts.sum() == 12
    # truthful answers: every bin with a positive difference says "older", every negative one "younger"
    assert np.all(careful_bins.older_fraction[careful_bins.centres > 1] == 1.0)
    assert np.all(careful_bins.older_fraction[careful_bins.centres < -1] == 0.0)
    stats = project_statistics(db, Protocol("paper"))
    assert stats.comparisons == 4 and len(stats.annotators) == 2


def test_pace_from_stored_timestamps(tmp_path):
    db, reference_ids, query_ids, _ = make_project(tmp_path / "t.ageproj", references=10, queries=2)
    session = AnnotationSession(db, "timed", Protocol("paper"), gold_rate=0.0, seed=4)
    stamps = ["2026-01-05T09:00:00.000Z", "2026-01-05T09:00:40.000Z", "2026-01-05T09:01:30.000Z",
              "2026-01-05T10:00:00.000Z"]  # 40 s, 50 s, then an hour's break
    for stamp, reference in zip(stamps, reference_ids):
        db.execute("INSERT INTO comparisons (id, query_image_id, reference_image_id, answer, annotator_id, created)"
                   " VALUES (?, ?, ?, 'older', ?, ?)", [str(uuid.uuid4()), query_ids[0], reference, session.annotator_id,
                                                       stamp])
    times = answer_times(db, session.annotator_id)
    np.testing.assert_allclose(np.sort(times) - times.min(), [0, 40, 90, 3600], atol=1e-3)
    assert len(answer_times(db, session.annotator_id, last=2)) == 2
    summaries, _ = annotator_statistics(db)
    assert summaries[0].per_hour == pytest.approx(2 * 3600 / 90, rel=1e-4)
