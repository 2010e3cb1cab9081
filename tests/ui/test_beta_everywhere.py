"""A β adopted on the Study page reaches every view of the label page in the same event-loop turn: the queue's
interval column, the posterior plot and the statistics dock's β, with no re-sort, answer or refresh between."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.annotation.simulated_person import SimulatedPerson
from ageapp.annotation.study import new_sitting, plan_study, record_answer, study_results
from ageapp.core.selection import Protocol
from ageapp.store.posteriors import load_posterior
from ageapp.ui.label.page import install_label_page
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from ageapp.ui.study.adopt_dialog import AdoptBetaDialog
from ageapp.ui.study.page import install_study_page
from tests.factories import make_project


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, message_boxes):
    AppSettings().set_annotator("alice")
    path = tmp_path / "p.ageproj"
    db = make_project(path, references=71, queries=4)[0]
    save_labelling_settings(db, LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0))  # no gold pair
    db.close()
    main = MainWindow()
    label, study = install_label_page(main), install_study_page(main)
    qtbot.addWidget(main)
    main.show()
    assert main.open_project_path(path)
    monkeypatch.setattr(AdoptBetaDialog, "exec", lambda dialog: QDialog.DialogCode.Accepted)
    return main, label, study


def width_text(label, query) -> str:
    model = label.queue_panel.model
    row = next(i for i in range(model.rowCount()) if model.row_at(i).query_image_id == query)
    return model.row_at(row).ci_width


def test_adopting_beta_updates_queue_plot_and_statistics_at_once(window, qtbot):
    main, label, study = window
    query = label.task.query_image_id
    for _ in range(3):  # alice finishes one query (paper protocol: three answers)
        qtbot.keyClick(label.panel, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: label.shown_query == query)  # the plot is drawn once the next pair is painted
    with qtbot.waitSignal(label.statistics_panel.updated, timeout=5000):
        label.statistics_panel.refresh_now()
    before = load_posterior(label.db, query)
    assert width_text(label, query) == before["ci_high"] - before["ci_low"]
    # alice takes the study: 400 pairs answered like a sharp labeller (β = 1)
    plan, person, sitting = plan_study(label.db, guesses=0, comparisons=400, seed=3), SimulatedPerson(1.0, seed=4), new_sitting()
    with label.db.atomic():
        for trial in plan.trials:
            record_answer(label.db, "alice", sitting, trial, person.answer(trial), 700)
    study.show_results("alice")
    fitted = study_results(label.db, "alice").compare.model
    assert fitted.beta > 0.6

    assert study.adopt_fitted_beta()  # nothing runs between this and the checks below
    after = load_posterior(label.db, query)
    assert after["ci_high"] - after["ci_low"] < before["ci_high"] - before["ci_low"]
    assert width_text(label, query) == after["ci_high"] - after["ci_low"]  # the queue
    np.testing.assert_allclose(label.plot.bars.opts["height"], after["probabilities"], atol=1e-6)  # the plot
    table = label.statistics_panel.annotators
    assert table.item(0, 0).text() == "alice"
    low, high = fitted.interval
    assert table.item(0, 1).text() == f"{fitted.beta:.2f} ({low:.2f}–{high:.2f})"  # the statistics dock
