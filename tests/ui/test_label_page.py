"""The labeller's window, driven by key presses: what lands in the database and on the plot after each."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog

from ageapp.annotation.labelling_settings import LabellingSettings, load_labelling_settings, save_labelling_settings
from ageapp.core.selection import Protocol
from ageapp.store.comparisons import OUTCOME_OF_ANSWER, active_comparisons
from ageapp.store.db import open_project
from ageapp.store.backup import checkpoint, list_backups
from ageapp.store.posteriors import load_posterior
from ageapp.store.settings import set_setting
from ageapp.ui.shell import backup_runner
from ageapp.ui.label.page import ALL_FINISHED, NO_ANNOTATOR, NO_QUERIES, NO_REFERENCES
from ageapp.ui.label.dialogs import AnnotatorDialog, ProtocolDialog
from ageapp.ui.shell.settings import AppSettings
from tests.factories import make_project

LEFT, RIGHT, DOWN, UP, BACK = Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_Backspace
NO_GOLD = LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0)


def new_project(folder: Path, references=71, queries=6, settings: LabellingSettings | None = NO_GOLD) -> Path:
    path = folder / "study.ageproj"
    db = make_project(path, references=references, queries=queries)[0]
    if settings is not None:
        save_labelling_settings(db, settings)
    db.close()
    return path


def rows(page) -> list[dict]:
    return list(page.db.query("SELECT * FROM comparisons ORDER BY rowid"))


def expected_answer(task, key) -> str:
    if key == DOWN:
        return "unsure"
    chosen = "left" if key == LEFT else "right"
    return "older" if chosen == task.query_side else "younger"


def assert_plot_shows_stored(page, query_id):
    """The bars are the stored posterior, and one line per active comparison at the reference's age."""
    QApplication.processEvents()  # the plot follows once the next pair is painted (off the key's path)
    stored = load_posterior(page.db, query_id)
    np.testing.assert_allclose(page.plot.bars.opts["height"], stored["probabilities"], atol=1e-6)
    assert page.plot.mode_line.value() == stored["mode"]
    lines = sorted(
        (float(x), outcome) for outcome, curve in page.plot.comparison_curves.items()
        for x in (curve.getData()[0] if curve.getData()[0] is not None else [])[::2]
    )
    expected = sorted((float(c["reference_age"]), OUTCOME_OF_ANSWER[c["answer"]])
                      for c in active_comparisons(page.db, query_id))
    assert lines == expected
    assert page.shown_query == query_id


def test_opening_a_project_shows_a_pair_at_once(labelling):
    window, page = labelling
    assert window.current_page_name() == "label"
    assert page.task is not None and page.panel.is_awaiting_answer()
    left, right = page.task.crops_left_right
    shown = page.panel.left_view.pixmap().toImage()
    assert (shown.width(), shown.height()) == (left.shape[1], left.shape[0])
    assert page.header.annotator_label.text() == "Labelling as <b>alice</b>"
    # what the labeller reads: no age, no file name, nothing that tells a gold pair apart
    assert page.panel.caption.text() == ("comparison 1 of at most 3 for this face · 0 of 6 queries finished · "
                                         "0 answers this session · ↑ skips a pair you cannot see well")


def test_each_key_commits_its_answer_and_updates_the_plot(labelling, qtbot):
    _, page = labelling
    for number, key in enumerate([LEFT, RIGHT, DOWN], start=1):
        task = page.task
        qtbot.keyClick(page.panel, key)
        stored = rows(page)
        assert len(stored) == number
        last = stored[-1]
        assert (last["query_image_id"], last["reference_image_id"]) == (task.query_image_id, task.reference_image_id)
        assert last["answer"] == expected_answer(task, key)
        assert last["query_side"] == task.query_side and last["is_gold"] == 0
        assert load_posterior(page.db, task.query_image_id)["n_comparisons"] == number
        assert_plot_shows_stored(page, task.query_image_id)
        assert page.task is not task and page.panel.is_awaiting_answer()  # the next pair is already there
    assert page.answers_this_session == 3


def test_an_answer_is_on_disk_before_the_next_pair_is_shown(labelling, qtbot, tmp_path):
    _, page = labelling
    outside = sqlite3.connect(tmp_path / "study.ageproj")  # another process's view of the file
    for count in range(1, 4):
        qtbot.keyClick(page.panel, LEFT)
        assert outside.execute("SELECT count(*) FROM comparisons").fetchone()[0] == count
        assert outside.execute("SELECT n_comparisons FROM posteriors WHERE query_image_id = ?",
                               [rows(page)[-1]["query_image_id"]]).fetchone()[0] == count
    outside.close()


def test_buttons_answer_like_the_keys(labelling, qtbot):
    _, page = labelling
    task = page.task
    qtbot.mouseClick(page.panel.buttons["right"], Qt.MouseButton.LeftButton)
    assert rows(page)[-1]["answer"] == expected_answer(task, RIGHT)


def test_undo_brings_the_same_pair_back(labelling, qtbot):
    _, page = labelling
    qtbot.keyClick(page.panel, LEFT)
    second = page.task
    qtbot.keyClick(page.panel, RIGHT)
    qtbot.keyClick(page.panel, BACK)
    undone = page.db.execute("SELECT comparison_id FROM undone").fetchall()
    assert [u[0] for u in undone] == [rows(page)[-1]["id"]]
    assert len(active_comparisons(page.db, second.query_image_id)) == 1
    # the very pair, sides and all, to be answered again
    assert page.task is second and page.panel.is_awaiting_answer()
    assert_plot_shows_stored(page, second.query_image_id)
    qtbot.keyClick(page.panel, LEFT)
    assert rows(page)[-1]["reference_image_id"] == second.reference_image_id
    assert rows(page)[-1]["answer"] == expected_answer(second, LEFT)


def test_undo_crosses_back_into_a_finished_query(labelling, qtbot):
    _, page = labelling
    first_query = page.task.query_image_id
    for _ in range(3):  # paper protocol, 3 comparisons: the first query is finished
        qtbot.keyClick(page.panel, LEFT)
    assert page.task.query_image_id != first_query
    qtbot.keyClick(page.panel, RIGHT)  # one answer on the second query
    second_query = rows(page)[-1]["query_image_id"]
    qtbot.keyClick(page.panel, BACK)
    assert load_posterior(page.db, second_query)["n_comparisons"] == 0
    assert_plot_shows_stored(page, second_query)
    qtbot.keyClick(page.panel, BACK)
    assert page.task.query_image_id == first_query
    assert load_posterior(page.db, first_query)["n_comparisons"] == 2
    assert_plot_shows_stored(page, first_query)
    for _ in range(4):
        qtbot.keyClick(page.panel, BACK)
    assert not page.panel.buttons["undo"].isEnabled()  # nothing left to undo
    qtbot.keyClick(page.panel, BACK)
    assert page.db.execute("SELECT count(*) FROM undone").fetchone()[0] == 4


def test_skip_leaves_no_trace(labelling, qtbot):
    _, page = labelling
    qtbot.keyClick(page.panel, LEFT)
    bars = np.array(page.plot.bars.opts["height"])
    skipped = page.task
    qtbot.keyClick(page.panel, UP)
    assert len(rows(page)) == 1
    assert page.task is not skipped and page.task.reference_image_id != skipped.reference_image_id
    np.testing.assert_array_equal(page.plot.bars.opts["height"], bars)
    assert "Skipped" in page.notice.text()


def test_a_failed_write_says_what_to_do_and_keeps_the_pair(labelling, qtbot, message_boxes, monkeypatch):
    _, page = labelling
    task = page.task

    def full(*_args, **_kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(page.session, "answer", full)
    qtbot.keyClick(page.panel, LEFT)
    assert rows(page) == []
    assert page.task is task and page.panel.is_awaiting_answer()
    (title, text), = message_boxes
    assert title == "Your answer was not saved"
    assert "disk is full" in text and "answer this pair again" in text


def test_the_annotator_is_asked_once_and_remembered(make_window, tmp_path, monkeypatch, qtbot):
    asked = []

    def choose_bo(dialog):
        asked.append(dialog.windowTitle())
        dialog.names.setCurrentText("  bo ")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(AnnotatorDialog, "exec", choose_bo)
    window, page = make_window(annotator=None)
    path = new_project(tmp_path)
    assert window.open_project_path(path)
    assert asked == ["Who is labelling?"]
    assert AppSettings().annotator() == "bo"
    qtbot.keyClick(page.panel, LEFT)
    assert page.db.execute("SELECT name FROM annotators").fetchall() == [("bo",)]
    window.close()

    monkeypatch.setattr(AnnotatorDialog, "exec", lambda dialog: pytest.fail("asked again"))
    again, page = make_window(annotator=None)
    assert again.open_project_path(path)
    assert page.session is not None and page.header.annotator_label.text() == "Labelling as <b>bo</b>"


def test_no_annotator_means_no_pair_and_says_what_to_do(make_window, tmp_path, monkeypatch, qtbot):
    monkeypatch.setattr(AnnotatorDialog, "exec", lambda dialog: QDialog.DialogCode.Rejected)
    window, page = make_window(annotator=None)
    assert window.open_project_path(new_project(tmp_path))
    assert page.session is None and page.task is None
    assert page.header.banner.text() == NO_ANNOTATOR and page.header.banner_button.isVisible()
    qtbot.keyClick(page.panel, LEFT)
    assert page.db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0

    def accept(dialog):
        dialog.names.setCurrentText("cy")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(AnnotatorDialog, "exec", accept)
    qtbot.mouseClick(page.header.banner_button, Qt.MouseButton.LeftButton)
    assert page.task is not None and not page.header.banner.isVisible()


def test_the_protocol_dialog_changes_and_remembers_the_protocol(labelling, monkeypatch, qtbot):
    _, page = labelling

    def choose(dialog):
        dialog.policy.setCurrentIndex(dialog.policy.findData("active"))
        dialog.target_width.setValue(6)
        dialog.max_comparisons.setValue(9)
        dialog.gold_every.setValue(5)
        dialog.hide_posterior.setChecked(True)
        assert not dialog.prior_power.isEnabled()  # the power only means something with the model's prior
        dialog.prior.setCurrentIndex(dialog.prior.findData("model"))
        assert dialog.prior_power.isEnabled()
        dialog.prior_power.setValue(0.5)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ProtocolDialog, "exec", choose)
    qtbot.mouseClick(page.header.protocol_button, Qt.MouseButton.LeftButton)
    expected = LabellingSettings(Protocol("active", 3, 6, 9), gold_rate=0.2, hide_posterior=True, prior="model",
                                 prior_power=0.5)
    assert page.labelling == expected and load_labelling_settings(page.db) == expected
    assert page.session.protocol == expected.protocol and page.session.gold_rate == pytest.approx(0.2)
    assert page.header.protocol_label.text() == expected.describe()
    assert page.panel.hasFocus()  # the keys work straight after the dialog


def test_a_hidden_posterior_is_kept_up_to_date_but_not_shown(make_window, tmp_path, qtbot):
    window, page = make_window()
    hidden = LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0, hide_posterior=True)
    assert window.open_project_path(new_project(tmp_path, settings=hidden))
    task = page.task
    qtbot.keyClick(page.panel, RIGHT)
    assert page.plot.is_hidden_while_comparing()
    assert not page.plot.bars.isVisible() and not page.plot.mode_line.isVisible()
    assert page.plot.hidden_text.isVisible()
    assert_plot_shows_stored(page, task.query_image_id)  # ready the moment the study shows it


def test_picking_a_query_in_the_queue_shows_it_and_compares_it_next(labelling, qtbot):
    _, page = labelling
    queue = page.queue_panel
    target = queue.model.data(queue.model.index(4, 0), Qt.ItemDataRole.UserRole)
    queue.select_row(4)
    assert page.task.query_image_id == target and page.shown_query == target
    np.testing.assert_allclose(page.plot.bars.opts["height"], 1 / 71)  # no answer yet: flat
    assert page.panel.hasFocus()
    qtbot.keyClick(page.panel, LEFT)
    assert rows(page)[-1]["query_image_id"] == target
    assert_plot_shows_stored(page, target)
    assert queue.model.data(queue.model.index(4, 1)) == "1"  # the queue's row follows at once


def test_a_finished_project_says_so(make_window, tmp_path, qtbot):
    window, page = make_window()
    assert window.open_project_path(new_project(tmp_path, queries=1))
    for _ in range(3):
        qtbot.keyClick(page.panel, LEFT)
    assert page.task is None and page.panel.caption.text() == ALL_FINISHED
    assert not page.panel.is_awaiting_answer()


@pytest.mark.parametrize(("references", "queries", "banner", "caption"),
                         [(0, 3, NO_REFERENCES, ""), (5, 0, "", NO_QUERIES)])
def test_an_empty_side_says_what_to_import(make_window, tmp_path, references, queries, banner, caption):
    window, page = make_window()
    assert window.open_project_path(new_project(tmp_path, references=references, queries=queries))
    assert page.task is None
    assert page.header.banner.text() == banner and page.panel.caption.text() == caption
    assert "ageapp import" in banner + caption


def test_the_docks_belong_to_the_label_page(labelling):
    window, page = labelling
    queue, statistics = page.docks.docks
    assert queue.isVisible() and statistics.isVisible()
    window.show_page("start")
    assert not queue.isVisible() and not statistics.isVisible()
    window.show_page("label")
    assert queue.isVisible() and statistics.isVisible()
    queue.close()  # the labeller closes one: it stays closed on return
    window.show_page("start")
    window.show_page("label")
    assert not queue.isVisible() and statistics.isVisible()


def test_closing_the_project_clears_the_page(labelling):
    window, page = labelling
    window.close_project()
    assert page.session is None and page.task is None and page.db is None
    assert page.queue_panel.model.rowCount() == 0
    assert page.panel.caption.text() == "Open a project to start labelling."


def test_the_shortcut_sheet_lists_skip(labelling):
    window, _ = labelling
    assert ("Label", "Up", "Skip this pair") in window.shortcut_rows()


def test_gold_pairs_are_answered_like_any_pair(make_window, tmp_path, qtbot):
    window, page = make_window()
    only_gold = LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.5)
    path = new_project(tmp_path, settings=only_gold)
    assert window.open_project_path(path)
    kinds = []
    for _ in range(12):
        task = page.task
        kinds.append(task.kind)
        assert re.match(r"comparison \d of at most 3 for this face · ", page.panel.caption.text())  # gold or not
        qtbot.keyClick(page.panel, LEFT)
        last = rows(page)[-1]
        assert last["is_gold"] == (task.kind == "gold") and last["answer"] == expected_answer(task, LEFT)
    assert "gold" in kinds and "query" in kinds
    check = open_project(path)
    assert check.execute("SELECT count(*) FROM comparisons WHERE is_gold = 1").fetchone()[0] == kinds.count("gold")
    check.close()


def test_backups_are_taken_in_a_pause_and_when_the_project_closes(make_window, tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr(backup_runner, "PAUSE_MS", 10)
    path = new_project(tmp_path)
    db = open_project(path)
    set_setting(db, "backup_minutes", 0.0001)  # a copy is due at every pause
    db.close()
    window, page = make_window()
    assert window.open_project_path(path)
    qtbot.keyClick(page.panel, LEFT)
    qtbot.waitUntil(lambda: len(list_backups(path)) == 1, timeout=5000)
    qtbot.keyClick(page.panel, RIGHT)
    window.close_project()  # the closing copy has both answers
    copies = list_backups(path)
    assert len(copies) == 2
    latest = open_project(copies[-1], read_only=True)
    assert latest.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 2
    latest.close()


def test_the_pause_checkpoints_the_log_and_never_creates_a_file(labelling, qtbot, tmp_path):
    _, page = labelling
    for _ in range(3):
        qtbot.keyClick(page.panel, LEFT)
    wal = tmp_path / "study.ageproj-wal"
    assert wal.stat().st_size > 0
    assert checkpoint(tmp_path / "study.ageproj")
    frames, done = page.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1:]
    assert frames == done  # everything in the log is in the file
    assert not checkpoint(tmp_path / "gone.ageproj")
    assert not (tmp_path / "gone.ageproj").exists()


def test_under_the_model_prior_the_plot_shows_it_faintly_and_the_pair_shows_no_estimate(make_window, tmp_path, qtbot):
    from ageapp.store.priors import save_model_prior

    path = new_project(tmp_path, settings=LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0,
                                                            prior="model", prior_power=1.0))
    db = open_project(path)
    ages = np.arange(101)
    model = np.exp(-0.5 * ((ages - 37) / 6.0) ** 2)
    for (query,) in db.execute("SELECT id FROM images WHERE role = 'query'").fetchall():
        save_model_prior(db, query, "fake.onnx", model / model.sum())  # a model whose posterior is known
    db.close()
    window, page = make_window()
    assert window.open_project_path(path)
    task = page.task
    panel_text = " ".join(label.text() for label in (page.panel.prompt, page.panel.caption, page.panel.left_note,
                                                      page.panel.right_note))
    assert "37" not in panel_text and "estimate" not in panel_text.lower()  # the model's opinion stays off the pair
    qtbot.keyClick(page.panel, RIGHT)
    stored = load_posterior(page.db, task.query_image_id)
    assert stored["prior"] == "model fake.onnx ^1"
    assert page.plot.prior_curve.isVisible()
    _, y = page.plot.prior_curve.getData()
    on_range = model[:71].copy()
    on_range[70] += model[71:].sum()
    np.testing.assert_allclose(y, np.maximum(on_range / on_range.sum(), 1e-9) / np.maximum(
        on_range / on_range.sum(), 1e-9).sum(), rtol=1e-6)  # the model's posterior is stored as float32
    assert_plot_shows_stored(page, task.query_image_id)


def test_a_change_of_prior_redraws_the_plot_at_once(make_window, tmp_path, qtbot):
    """Protocol… ▸ Prior: the model's: every posterior is recomputed, and the plot of the query on screen follows
    in the same turn (seen under Xvfb: the queue followed but the plot kept the uniform-prior posterior)."""
    from ageapp.store.priors import save_model_prior

    path = new_project(tmp_path)
    db = open_project(path)
    ages = np.arange(101)
    model = np.exp(-0.5 * ((ages - 37) / 6.0) ** 2)
    for (query,) in db.execute("SELECT id FROM images WHERE role = 'query'").fetchall():
        save_model_prior(db, query, "fake.onnx", model / model.sum())
    db.close()
    window, page = make_window()
    assert window.open_project_path(path)
    task = page.task
    qtbot.keyClick(page.panel, RIGHT)
    assert_plot_shows_stored(page, task.query_image_id)
    uniform = load_posterior(page.db, task.query_image_id)["probabilities"]
    settings = load_labelling_settings(page.db)
    assert save_labelling_settings(page.db, LabellingSettings(settings.protocol, settings.gold_rate, prior="model",
                                                              prior_power=1.0), events=page.events)
    stored = load_posterior(page.db, task.query_image_id)
    assert stored["prior"] == "model fake.onnx ^1" and not np.allclose(stored["probabilities"], uniform)
    np.testing.assert_allclose(page.plot.bars.opts["height"], stored["probabilities"], atol=1e-6)  # no event loop ran


def test_the_labelling_window_fits_a_1280_pixel_screen(tmp_path, qtbot):
    """The app's window with every page (a hidden page's minimum counts too), its style sheet, a project open
    and both docks beside the pair: its smallest width fits a 1280-pixel screen (the gender button's long label,
    the unwrapped caption and the photo page's 320-pixel views once made it 1,404 and 1,310)."""
    from ageapp.ui.shell.app import build_window, configure_application

    AppSettings().set_annotator("alice")
    window = build_window()
    qtbot.addWidget(window)
    window.show()
    assert window.open_project_path(new_project(tmp_path))
    page = window.page("label")
    app = QApplication.instance()
    kept = (app.styleSheet(), app.style().name(), app.organizationName(), app.applicationName())
    try:
        configure_application(app)
        QApplication.processEvents()
        assert page.panel.caption.wordWrap()
        assert window.minimumSizeHint().width() <= 1280
    finally:
        app.setStyleSheet(kept[0])
        app.setStyle(kept[1])
        app.setOrganizationName(kept[2])
        app.setApplicationName(kept[3])
