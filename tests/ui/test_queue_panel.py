"""The queue's Qt model: a well-behaved item model (qtmodeltester), lazy windows, filters and sorting; file names
(their age masked), a face on hover, and a search by number or name."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ageapp.annotation.session import AnnotationSession
from ageapp.core.selection import Protocol
from ageapp.ui.label import queue_model as queue_panel
from ageapp.ui.label.queue import QUERY_ID_ROLE, QueueModel, QueuePanel
from tests.factories import make_project

PROTOCOL = Protocol("paper", comparisons=2)


@pytest.fixture
def labelled(tmp_path):
    """30 queries: the first three finished (2 answers), the fourth started (1 answer)."""
    db, _, query_ids, _ = make_project(tmp_path / "q.ageproj", references=71, queries=30)
    session = AnnotationSession(db, "ann", PROTOCOL, gold_rate=0.0, seed=1)
    for _ in range(7):
        session.answer(session.next_task(), "left")
    return db, query_ids


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(queue_panel, "PAGE_SIZE", 4)
    monkeypatch.setattr(queue_panel, "MAX_PAGES", 2)


def column(model, number):
    return [model.data(model.index(row, number)) for row in range(model.rowCount())]


def test_the_model_passes_qtmodeltester(qtmodeltester, labelled, small_pages):
    db, _ = labelled
    model = QueueModel()
    model.set_project(db, PROTOCOL)
    qtmodeltester.check(model)
    model.sort(1, Qt.SortOrder.DescendingOrder)
    model.set_filter(queue_panel.QueueFilter(unfinished_only=True))
    qtmodeltester.check(model)


def test_rows_are_read_in_small_windows_never_all_at_once(labelled, small_pages):
    db, query_ids = labelled
    model = QueueModel()
    model.set_project(db, PROTOCOL)
    assert model.rowCount() == 30 and model.rows_held() == 0
    ids = [model.data(model.index(row, 0), QUERY_ID_ROLE) for row in range(30)]
    assert ids == query_ids
    assert model.rows_held() <= 2 * 4  # MAX_PAGES windows of PAGE_SIZE rows
    fetched = model.queries_run
    model.data(model.index(29, 0))  # held: no new query
    assert model.queries_run == fetched
    model.data(model.index(0, 0))  # evicted long ago: fetched again
    assert model.queries_run == fetched + 1


def test_columns_show_answers_mode_width_flag_status(labelled):
    db, query_ids = labelled
    model = QueueModel()
    model.set_project(db, PROTOCOL)
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(5)] == \
        ["Query", "Answers", "Mode", "Width", "Status"]
    assert column(model, 0)[:2] == [f"#{query_ids[0]}", f"#{query_ids[1]}"]
    assert column(model, 1)[:5] == ["2", "2", "2", "1", "0"]
    # two answers leave 17-29 years: finished under the paper protocol and still wide, so "flagged"
    assert column(model, 4)[:5] == ["⚑ flagged", "⚑ flagged", "⚑ flagged", "in progress", "new"]
    stored = db.execute("SELECT mode, ci_high - ci_low FROM posteriors WHERE query_image_id = ?",
                        [query_ids[0]]).fetchone()
    assert model.data(model.index(0, 2)) == str(stored[0]) and model.data(model.index(0, 3)) == f"{stored[1]} y"
    assert model.data(model.index(4, 2)) == "—"
    assert model.headerData(6, Qt.Orientation.Horizontal) == "File" and column(model, 6)[:2] == ["0.jpg", "1.jpg"]


def test_filters_and_header_sorting_in_the_panel(qtbot, labelled):
    db, query_ids = labelled
    panel = QueuePanel()
    qtbot.addWidget(panel)
    panel.set_project(db, PROTOCOL)
    assert panel.count_label.text() == "30 queries"
    panel.unfinished_only.setChecked(True)
    assert panel.model.rowCount() == 27 and panel.count_label.text() == "27 queries"
    assert column(panel.model, 4)[0] == "in progress"
    panel.unfinished_only.setChecked(False)
    panel.view.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # what a click on "Answers" does
    assert column(panel.model, 1)[:5] == ["2", "2", "2", "1", "0"]
    assert panel.model.data(panel.model.index(0, 0), QUERY_ID_ROLE) == query_ids[2]  # ties by id, descending
    panel.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert column(panel.model, 1)[-4:] == ["1", "2", "2", "2"]
    flagged = db.execute("SELECT count(*) FROM posteriors WHERE flagged = 1 AND n_comparisons >= 2").fetchone()[0]
    panel.flagged_only.setChecked(True)
    assert panel.model.rowCount() == flagged


def test_selecting_a_row_names_its_query(qtbot, labelled):
    db, query_ids = labelled
    panel = QueuePanel()
    qtbot.addWidget(panel)
    panel.set_project(db, PROTOCOL)
    with qtbot.waitSignal(panel.query_selected) as blocker:
        panel.select_row(7)
    assert blocker.args == [query_ids[7]]


def test_an_answer_updates_its_row_in_place(labelled, small_pages):
    db, query_ids = labelled
    model = QueueModel()
    model.set_project(db, PROTOCOL)
    model.data(model.index(5, 0))  # the window of rows 4-7 is held
    changed = []
    model.dataChanged.connect(lambda top, bottom: changed.append((top.row(), bottom.row())))
    session = AnnotationSession(db, "ann", PROTOCOL, gold_rate=0.0, seed=2)
    session.focus(query_ids[5])
    session.answer(session.next_task(), "right")
    model.update_query(query_ids[5])
    assert changed == [(5, 5)]
    assert model.data(model.index(5, 1)) == "1" and model.data(model.index(5, 4)) == "in progress"
    model.update_query(query_ids[29])  # not held: nothing to do, nothing read
    assert changed == [(5, 5)]


def test_a_project_without_queries_is_an_empty_model(qtmodeltester, tmp_path):
    db = make_project(tmp_path / "e.ageproj", references=3, queries=0)[0]
    model = QueueModel()
    model.set_project(db, PROTOCOL)
    assert model.rowCount() == 0
    qtmodeltester.check(model)
    model.set_project(None)
    assert model.rowCount() == 0 and model.data(model.index(0, 0)) is None
    np.testing.assert_equal(model.columnCount(), 7)  # ... Status, Gender, File


def test_file_names_hide_the_age_their_dataset_writes_in_them():
    from ageapp.core.names import shown_name

    assert shown_name("fgnet/images/001A22.JPG") == "001A··.JPG"
    assert shown_name("utk/26_1_0_20170116174525125.jpg.chip.jpg") == "··_1_0_20170116174525125.jpg.chip.jpg"
    assert shown_name("utk/39_1_20170116174525125.jpg.chip.jpg") == "··_1_20170116174525125.jpg.chip.jpg"
    assert shown_name("holiday/IMG_0042.jpg") == "IMG_0042.jpg"  # nothing to hide


def test_hovering_a_row_shows_the_face_and_its_name(labelled):
    db, query_ids = labelled
    model = QueueModel()
    model.set_project(db, PROTOCOL)
    tooltip = model.data(model.index(0, 6), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith('<img src="data:image/png;base64,') and tooltip.endswith(f"#{query_ids[0]} · 0.jpg")
    import base64

    from PySide6.QtGui import QImage

    from ageapp.annotation.queue import query_thumbnail

    png = base64.b64decode(tooltip.split("base64,")[1].split('"')[0])
    image = QImage.fromData(png)
    crop = query_thumbnail(db, query_ids[0])
    assert (image.width(), image.height()) == (crop.shape[1], crop.shape[0])
    b, g, r = crop[0, 0]
    assert image.pixelColor(0, 0).getRgb()[:3] == (r, g, b)  # the query's own face, its first pixel


def test_search_by_number_or_file_name(qtbot, labelled):
    db, query_ids = labelled
    panel = QueuePanel()
    qtbot.addWidget(panel)
    panel.set_project(db, PROTOCOL)
    assert panel.find(f"#{query_ids[3]}") == 1 and panel.model.row_at(0).query_image_id == query_ids[3]
    # a bare number is a query's number or a part of a name: query ids are 72.. here, names query/0..29.jpg
    assert {panel.model.row_at(i).path for i in range(panel.find("2"))} == \
        {f"query/{i}.jpg" for i in range(30) if "2" in str(i)}
    assert panel.find("1.j") == 3 and panel.count_label.text() == "3 queries"  # 1, 11 and 21.jpg
    assert panel.find("no such face") == 0
    with qtbot.waitSignal(panel.query_selected) as picked:  # Enter: the first one found is shown
        panel.search.setText("7.jpg")
        panel.search.returnPressed.emit()
    assert picked.args == [query_ids[7]]
    assert panel.find("") == 30


def test_a_search_never_finds_a_face_by_the_age_in_its_name(qtbot, labelled):
    """UTKFace writes the age first in a name: searching "85_" must not list the 85-year-olds; the name as
    shown (its age masked) is what a search reads."""
    db, query_ids = labelled
    db.execute("UPDATE images SET relative_path = ? WHERE id = ?",
               ("utk/85_1_0_20170110183726390.jpg.chip.jpg", query_ids[5]))
    db.conn.commit()
    panel = QueuePanel()
    qtbot.addWidget(panel)
    panel.set_project(db, PROTOCOL)
    assert panel.find("85_") == 0
    found = panel.find("85")  # the query numbered 85, if any: never the 85-year-old by its name
    assert query_ids[5] not in {panel.model.row_at(i).query_image_id for i in range(found)}
    assert panel.find("_1_0_2017011018") == 1 and panel.model.row_at(0).query_image_id == query_ids[5]
    assert panel.find("··_1_0") == 1
