"""The label page's gender corrections (G on the pair, G / context menu in the queue), "Send flagged back",
and Tools ▸ Predict genders… (in a worker, with a stand-in model)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ageapp.annotation.gender import FEMALE, LABEL, MALE, GenderInfo, corrections_of, gender_info
from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.annotation.queue import SENT_BACK
from ageapp.core.selection import Protocol
from ageapp.store.faces import set_gender_prediction
from ageapp.store.runs import activate_model, add_model
from ageapp.ui.shell.menus import tools_menu
from ageapp.ui.label.page import install_label_page
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.label.queue import GENDER_COLUMN
from ageapp.ui.shell.settings import AppSettings
from tests.annotation.test_gender import BrightnessGenderModel
from tests.factories import make_project

G = Qt.Key.Key_G


class DecisiveModel(BrightnessGenderModel):
    """Sure of itself: 97% female for a bright crop, 97% male for a dark one."""

    def p_female(self, crop) -> float:
        return 0.97 if crop.mean() > 128 else 0.03
NO_GOLD = LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0)


def new_project(folder: Path, predicted_female: bool = True) -> Path:
    """71 references, 4 queries; the first query predicted female at 97%."""
    path = folder / "g.ageproj"
    db, _, queries, _ = make_project(path, references=71, queries=4)
    save_labelling_settings(db, NO_GOLD)
    if predicted_female:
        face = db.execute("SELECT id FROM faces WHERE image_id = ?", [queries[0]]).fetchone()[0]
        set_gender_prediction(db, face, FEMALE, 0.97)
    db.close()
    return path


@pytest.fixture
def labelling(qtbot, tmp_path):
    AppSettings().set_annotator("alice")
    window = MainWindow()
    page = install_label_page(window)
    qtbot.addWidget(window)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    assert window.open_project_path(new_project(tmp_path))
    yield window, page
    page.gender_prediction.wait()


def query_note(page) -> str:
    return (page.panel.left_note if page.task.query_side == "left" else page.panel.right_note).text()


def test_g_corrects_the_query_gender_and_the_pair_stays(labelling, qtbot):
    _, page = labelling
    task = page.task
    query = task.query_image_id
    assert query_note(page) == "female 97% (predicted)"
    reference_note = (page.panel.right_note if task.query_side == "left" else page.panel.left_note).text()
    assert reference_note == "gender unknown"
    qtbot.keyClick(page.panel, G)  # a prediction: the other gender, as a label
    assert gender_info(page.db, query) == GenderInfo(LABEL, MALE)
    assert page.db.execute("SELECT gender FROM images WHERE id = ?", [query]).fetchone()[0] == MALE
    assert query_note(page) == "male (label)"
    assert page.task is task and page.panel.is_awaiting_answer()  # not an answer: the pair stays
    qtbot.keyClick(page.panel, G)
    qtbot.keyClick(page.panel, G)  # female, then can't tell
    assert gender_info(page.db, query).source == "unknown" and query_note(page) == "gender unknown"
    history = corrections_of(page.db, query)
    assert [(h["gender"], h["annotator"]) for h in history] == [(MALE, "alice"), (FEMALE, "alice"), (None, "alice")]
    assert page.db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0
    # The answer still works after the corrections.
    qtbot.keyClick(page.panel, Qt.Key.Key_Left)
    assert page.db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 1


def test_a_corrected_query_gets_same_gender_references_next(labelling, qtbot):
    _, page = labelling
    with page.db.atomic():
        page.db.execute("UPDATE images SET gender = id % 2 WHERE role = 'reference'")
    page.session.reload_references()
    query = page.task.query_image_id
    qtbot.keyClick(page.panel, G)  # predicted female -> labelled male
    genders = []
    for _ in range(2):
        qtbot.keyClick(page.panel, Qt.Key.Key_Left)
        if page.task.query_image_id == query:
            genders.append(page.db.execute("SELECT gender FROM images WHERE id = ?",
                                           [page.task.reference_image_id]).fetchone()[0])
    assert genders == [MALE, MALE]


def test_the_queue_shows_and_changes_genders(labelling, qtbot):
    _, page = labelling
    queue = page.queue_panel
    model = queue.model
    first = model.index(0, GENDER_COLUMN)
    assert model.data(first) == "F 97%"
    assert model.data(first, Qt.ItemDataRole.ToolTipRole).startswith("female 97% (predicted)")
    assert model.data(model.index(1, GENDER_COLUMN)) == "—"
    # G on the selected row: the other gender, as a label.
    query = model.row_at(0).query_image_id
    queue.view.setFocus()
    queue.view.setCurrentIndex(model.index(0, 0))
    qtbot.keyClick(queue.view, G)
    assert gender_info(page.db, query) == GenderInfo(LABEL, MALE) and model.data(first) == "M"
    # The context menu's entries set a label directly.
    second = model.row_at(1)
    menu = queue.context_menu_for(second)
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Gender: Male", "Gender: Female", "Gender: Can't tell (unknown)",
                     "Send back for more comparisons"]
    assert not menu.actions()[-1].isEnabled()  # not flagged
    menu.actions()[1].trigger()
    assert gender_info(page.db, second.query_image_id) == GenderInfo(LABEL, FEMALE)
    assert model.data(model.index(1, GENDER_COLUMN)) == "F"


def test_a_refused_correction_says_what_to_do(labelling, qtbot, message_boxes, monkeypatch):
    _, page = labelling
    from ageapp.annotation import session as session_module

    def refuse(*_args, **_kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(session_module, "set_gender_label", refuse)  # the session makes the correction
    qtbot.keyClick(page.panel, G)
    (title, text), = message_boxes
    assert title == "The gender was not changed" and "Open the project for writing" in text


def test_send_flagged_back_serves_them_again_and_counts_the_resolved(labelling, qtbot, message_boxes):
    window, page = labelling
    for _ in range(6):  # two queries finished with three can't-tell answers each: as wide as can be, flagged
        qtbot.keyClick(page.panel, Qt.Key.Key_Down)
    flagged = [r[0] for r in page.db.execute("SELECT query_image_id FROM posteriors WHERE flagged = 1")]
    assert len(flagged) == 2
    qtbot.mouseClick(page.queue_panel.send_back_button, Qt.MouseButton.LeftButton)
    assert sorted(r[0] for r in page.db.execute("SELECT query_image_id FROM requeued")) == sorted(flagged)
    assert "Sent 2 flagged queries back" in window.statusBar().currentMessage()
    statuses = {page.queue_panel.model.row_at(i).query_image_id: page.queue_panel.model.row_at(i).status
                for i in range(4)}
    assert [statuses[q] for q in flagged] == [SENT_BACK, SENT_BACK]
    qtbot.mouseClick(page.queue_panel.send_back_button, Qt.MouseButton.LeftButton)
    assert message_boxes[-1][0] == "Send flagged back" and "No flagged query" in message_boxes[-1][1]
    # bob (another labeller) is served the sent-back queries first.
    page.start_labelling("bob")
    assert page.task.query_image_id in flagged
    with qtbot.waitSignal(page.statistics_panel.updated, timeout=5000):
        page.statistics_panel.refresh_now()
    panel = page.statistics_panel
    assert "Sent back 2 queries: <b>0</b> resolved, 2 being labelled again" in panel.requeue_label.text()
    assert "flagged <b>0</b>" in panel.flagged_label.text() and "sent back <b>2</b>" in panel.flagged_label.text()


@pytest.fixture
def no_default_model(monkeypatch, tmp_path):
    monkeypatch.setattr("ageapp.model.resolve.default_model_path", lambda backend="auto": tmp_path / "absent.onnx")


def predict_action(window):
    return next(a for a in tools_menu(window).actions() if a.text() == "Predict &genders…")


def test_predict_genders_without_a_model_says_what_to_do(labelling, message_boxes, no_default_model):
    window, page = labelling
    assert predict_action(window).isEnabled()
    predict_action(window).trigger()
    (title, text), = message_boxes
    assert title == "Predict genders" and "train one" in text and "active model" in text
    assert page.gender_prediction.worker is None


def test_predict_genders_in_the_background_with_the_active_model(labelling, qtbot, tmp_path, no_default_model):
    window, page = labelling
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"stand-in")
    activate_model(page.db, add_model(page.db, "m", str(checkpoint)))
    loaded = []
    page.gender_prediction._load_model = lambda path: loaded.append(path) or DecisiveModel()
    labels_before = page.db.execute("SELECT id, gender FROM images ORDER BY id").fetchall()
    assert predict_action(window).isEnabled()
    predict_action(window).trigger()
    assert page.gender_prediction.worker is not None
    qtbot.waitUntil(lambda: page.gender_prediction.worker is None, timeout=20000)
    assert loaded == [checkpoint]
    # Every face without a prediction got one (the first query kept its own); no label changed.
    assert page.db.execute("SELECT count(*) FROM faces WHERE gender_predicted IS NULL").fetchone()[0] == 0
    assert page.db.execute("SELECT id, gender FROM images ORDER BY id").fetchall() == labels_before
    assert page.gender_prediction.last_message.startswith("Predicted the gender of 74 of 74 faces without a gender label")
    assert window.statusBar().currentMessage() == page.gender_prediction.last_message
    # The running session's references now carry the confident predictions.
    expected = [gender_info(page.db, int(i)).effective for i in page.session.pool.ids]
    assert page.session.pool.genders.tolist() == [-1 if g is None else g for g in expected]
    assert {g for g in expected} == {MALE, FEMALE}
