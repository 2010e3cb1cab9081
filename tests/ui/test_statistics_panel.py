"""The statistics dock: numbers computed in a worker thread, drawn from what the database holds."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.counts import ProjectCounts
from ageapp.annotation.session import AnnotationSession
from ageapp.annotation.statistics import bin_gold_answers, logistic_curve
from ageapp.core.selection import Protocol
from ageapp.store.posteriors import load_posterior
from ageapp.ui.label.statistics import StatisticsPanel
from tests.factories import make_project

PROTOCOL = Protocol("paper", comparisons=2)


@pytest.fixture
def project(tmp_path):
    """Six queries, three finished by alice; alice also answered 8 gold pairs."""
    db, _, query_ids, _ = make_project(tmp_path / "s.ageproj", references=71, queries=6)
    alice = AnnotationSession(db, "alice", PROTOCOL, gold_rate=0.0, seed=1)
    for _ in range(6):
        alice.answer(alice.next_task(), "left")
    alice.gold_rate = 1.0
    for _ in range(8):
        alice.answer(alice.next_task(), "right")
    return db, query_ids, alice


def counted_panel(qtbot, db, alice):
    """A panel fed by the project's counts, which follow alice's events (as the label page wires them)."""
    panel = StatisticsPanel()
    qtbot.addWidget(panel)
    counts = ProjectCounts(db, PROTOCOL)
    alice.events.subscribe(counts.on_event)
    counts.subscribe(panel.show_counts)
    panel.show_counts(counts.counts())
    return panel


def test_the_panel_shows_the_projects_numbers(qtbot, project):
    db, query_ids, alice = project
    panel = counted_panel(qtbot, db, alice)
    with qtbot.waitSignal(panel.updated, timeout=5000):
        panel.set_project(db, PROTOCOL, alice.annotator_id)
    assert (panel.progress.value(), panel.progress.maximum()) == (3, 6)
    assert panel.progress.text() == "3 of 6 queries finished (50.0%)"
    assert panel.comparisons_label.text() == "Answers: <b>14</b> (8 gold)"  # 6 on queries + 8 on gold pairs
    assert panel.flagged_label.text().startswith("New <b>3</b> · in progress <b>0</b> · finished <b>")

    widths = sorted(load_posterior(db, q)["ci_high"] - load_posterior(db, q)["ci_low"] for q in query_ids[:3])
    bars = panel.width_bars.opts
    assert list(np.repeat(bars["x"], bars["height"].astype(int))) == widths

    first, second, older = alice.gold_answers()
    bins = bin_gold_answers(first, second, older)
    x, y = panel.gold_points.getData()
    np.testing.assert_allclose(x, bins.centres)
    np.testing.assert_allclose(y, bins.older_fraction)
    curve_x, curve_y = panel.gold_curve.getData()
    np.testing.assert_allclose(curve_y, logistic_curve(curve_x, alice.beta))
    assert panel.annotators.rowCount() == 1
    row = [panel.annotators.item(0, c).text() for c in range(5)]
    agreement = sum((a > b) == o for a, b, o in zip(first, second, older)) / len(older)
    # "Answers" counts what the dock's "Answers: 14 (8 gold)" counts: every answer, gold pairs included
    assert row[:4] == ["alice", "0.36", f"{100 * agreement:.0f}% of 8", "14"]


def test_a_refresh_follows_new_answers(qtbot, project):
    db, query_ids, alice = project
    panel = counted_panel(qtbot, db, alice)
    with qtbot.waitSignal(panel.updated, timeout=5000):
        panel.set_project(db, PROTOCOL, alice.annotator_id)
    alice.gold_rate = 0.0
    alice.answer(alice.next_task(), "left")
    alice.answer(alice.next_task(), "left")
    with qtbot.waitSignal(panel.updated, timeout=5000):
        panel.refresh_now()
    assert panel.progress.value() == 4
    panel.set_project(None)
    assert panel.progress.text() == "No project open" and panel.annotators.rowCount() == 0


def test_a_hidden_panel_catches_up_when_shown(qtbot, project):
    db, _, alice = project
    panel = counted_panel(qtbot, db, alice)
    with qtbot.waitSignal(panel.updated, timeout=5000):
        panel.set_project(db, PROTOCOL, alice.annotator_id)
    qtbot.waitUntil(lambda: not panel.is_busy())
    assert not panel.isVisible()
    alice.gold_rate = 0.0
    alice.answer(alice.next_task(), "left")
    alice.answer(alice.next_task(), "left")
    panel.schedule_refresh()
    assert not panel.is_busy()  # nothing computed for a panel nobody sees
    with qtbot.waitSignal(panel.updated, timeout=5000):
        panel.show()
    assert panel.progress.value() == 4  # the counts follow every answer, shown or not
    assert "4 finished queries" in panel.width_plot.getPlotItem().titleLabel.text  # and the worker's numbers caught up
