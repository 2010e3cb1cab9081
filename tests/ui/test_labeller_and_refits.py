"""Who is labelling is asked on open where the project's last answers are someone else's (or a team part nobody
answered in yet); a β refit runs in a worker thread, never on the key press; the split's summary points to
File ▸ Merge…; the queue's headers are whole."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from ageapp.annotation import beta as beta_module
from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.annotation.session import BETA_REFIT_EVERY, AnnotationSession
from ageapp.annotation.team import split_project
from ageapp.core.beta_model import DEFAULT, GOLD
from ageapp.core.selection import Protocol
from ageapp.store.annotators import annotator_model
from ageapp.store.db import open_project
from ageapp.ui.label.dialogs import AnnotatorDialog
from ageapp.ui.label.queue_model import COLUMNS
from ageapp.ui.project.file_actions import split_summary
from tests.factories import make_project

PAPER = Protocol("paper", comparisons=3)


def project(tmp_path, answered_by: str | None = None, gold_rate: float = 0.0):
    path = tmp_path / "p.ageproj"
    db = make_project(path, references=71, queries=6)[0]
    save_labelling_settings(db, LabellingSettings(PAPER, gold_rate=gold_rate))
    if answered_by:
        session = AnnotationSession(db, answered_by, PAPER, gold_rate=0.0, seed=0)
        session.answer(session.next_task(), "left")
    db.close()
    return path


def asked(monkeypatch) -> list[str]:
    """Records each "Who is labelling?" with its note, and accepts the name it suggests."""
    notes: list[str] = []

    def accept(dialog):
        assert not dialog.note.isWindow()  # its note is in the dialog (it was a window of its own, shown alone)
        notes.append(dialog.note.text())
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(AnnotatorDialog, "exec", accept)
    return notes


def test_someone_elses_last_answers_ask_who_is_labelling(make_window, tmp_path, monkeypatch):
    notes = asked(monkeypatch)
    window, page = make_window("alice")
    assert window.open_project_path(project(tmp_path, answered_by="bob"))
    assert notes == ["The last answers in this project are bob's; on this computer alice was labelling."]
    assert page.header.annotator_label.text() == "Labelling as <b>alice</b>"  # the name shown, accepted


def test_the_same_labeller_goes_on_without_a_question(make_window, tmp_path, monkeypatch):
    notes = asked(monkeypatch)
    window, page = make_window("alice")
    path = project(tmp_path, answered_by="alice")
    assert window.open_project_path(path)
    assert window.open_project_path(path)  # and opened again
    assert notes == [] and page.session is not None


def test_a_team_part_nobody_answered_in_asks(make_window, tmp_path, monkeypatch):
    path = project(tmp_path)
    db = open_project(path)
    report = split_project(db, path, tmp_path / "team", parts=2, overlap=0.0, seed="fixed")
    db.close()
    notes = asked(monkeypatch)
    window, _page = make_window("alice")
    assert window.open_project_path(report.files[0])
    assert notes == ["This is a part of a team split: whose part is it?"]
    assert "File ▸ Merge…" in split_summary(report) and "ageapp merge" not in split_summary(report)


def test_the_tenth_gold_answer_is_refitted_in_a_worker_not_on_the_key_press(make_window, tmp_path, qtbot, monkeypatch):
    fitted_in = []
    real_fit = beta_module.fit_beta

    def fit(db, annotator_id):
        fitted_in.append(threading.get_ident())
        return real_fit(db, annotator_id)

    monkeypatch.setattr("ageapp.ui.label.beta_refit.fit_beta", fit)
    window, page = make_window("alice")
    assert window.open_project_path(project(tmp_path, gold_rate=0.5))
    page.session.gold_rate = 1.0  # gold pairs only
    page.session.rng = np.random.default_rng(0)
    page._show_next()
    alice = page.session.annotator_id
    for _ in range(BETA_REFIT_EVERY):
        assert page.task.kind == "gold"
        qtbot.keyClick(page.panel, Qt.Key.Key_Left)
    # the key press has returned, with the next pair on screen: β is not refitted yet, a worker is on it
    assert annotator_model(page.db, alice).source == DEFAULT and page.refits.busy()
    qtbot.waitUntil(lambda: annotator_model(page.db, alice).source == GOLD, timeout=10_000)
    assert fitted_in and threading.get_ident() not in fitted_in
    summary = page.summary.summary().labeller(alice)
    assert summary.model == annotator_model(page.db, alice) and summary.gold_answers == BETA_REFIT_EVERY


def test_the_queues_headers_are_whole(qtbot):
    from ageapp.ui.label.queue import QueuePanel

    panel = QueuePanel()
    qtbot.addWidget(panel)
    metrics = panel.view.horizontalHeader().fontMetrics()
    for column, (title, _key, _tip) in enumerate(COLUMNS[:-1]):
        assert panel.view.columnWidth(column) >= metrics.horizontalAdvance(title) + 10, title
