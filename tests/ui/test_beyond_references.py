"""A query older than every reference, labelled by key presses: the queue shows it as "beyond the references"
(and filters it), the page says what would resolve it, the plot says which way; widening an old project's range
from Tools ▸ Age range… recomputes what the window shows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from ageapp.annotation.counts import BEYOND
from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.core.selection import Protocol
from ageapp.store.db import open_project
from ageapp.store.posteriors import load_posterior
from ageapp.ui.label.page import install_label_page
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from tests.factories import make_project

LEFT, RIGHT = Qt.Key.Key_Left, Qt.Key.Key_Right


def project(tmp_path, age_max: int):
    path = tmp_path / f"range{age_max}.ageproj"
    db, *_ = make_project(path, references=70, queries=3, age_max=age_max)  # references aged 0..69
    save_labelling_settings(db, LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0))
    db.close()
    return path


@pytest.fixture
def window(qtbot, message_boxes):
    AppSettings().set_annotator("alice")
    main = MainWindow()
    page = install_label_page(main)
    qtbot.addWidget(main)
    main.show()
    return main, page


def answer_older(page, qtbot) -> int:
    """Press the key for "the query is older" on the pair shown; returns the query."""
    task = page.task
    qtbot.keyClick(page.panel, LEFT if task.query_side == "left" else RIGHT)
    return task.query_image_id


def test_a_query_beyond_the_references_in_the_queue_the_panel_and_the_plot(window, qtbot, tmp_path):
    main, page = window
    assert main.open_project_path(project(tmp_path, 100))
    query = page.task.query_image_id
    for _ in range(3):
        assert answer_older(page, qtbot) == query
    stored = load_posterior(page.db, query)
    assert stored["probabilities"][70:].sum() > 0.5 and not stored["flagged"]
    # the queue: its status, its words, and the filter that lists only such queries
    queue = page.queue_panel
    row = next(queue.model.row_at(i) for i in range(queue.model.rowCount()) if queue.model.row_at(i).query_image_id == query)
    assert (row.status, row.beyond) == (BEYOND, "older than 69")
    queue.beyond_only.setChecked(True)
    assert [queue.model.row_at(i).query_image_id for i in range(queue.model.rowCount())] == [query]
    # the page, under the pair: what would resolve it
    assert f"Query #{query} lies beyond the references (older than 69)" in page.notice.text()
    assert "Import older references" in page.notice.text()
    # the plot, drawn once the next pair is painted
    qtbot.waitUntil(lambda: "beyond the references: older than 69" in page.plot.getPlotItem().titleLabel.text)
    # the dock's counts
    assert "beyond the references <b>1</b>" in page.statistics_panel.flagged_label.text()


def test_widening_an_old_projects_range_from_the_tools_menu(window, qtbot, tmp_path, monkeypatch, message_boxes):
    main, page = window
    path = project(tmp_path, 70)
    assert main.open_project_path(path)
    query = page.task.query_image_id
    for _ in range(3):
        answer_older(page, qtbot)
    assert len(load_posterior(page.db, query)["probabilities"]) == 71
    asked = []
    monkeypatch.setattr(QInputDialog, "getInt", lambda *args: asked.append(args[2]) or (100, True))
    assert page.age_range.ask() >= 1
    assert "ages 0–70; references 0–69" in asked[0]
    assert len(load_posterior(page.db, query)["probabilities"]) == 101
    assert page.session.age_max == 100  # the labelling goes on over the new range
    assert message_boxes[-1][0] == "Age range" and "ages 0–100" in message_boxes[-1][1]
    row = next(page.queue_panel.model.row_at(i) for i in range(page.queue_panel.model.rowCount())
               if page.queue_panel.model.row_at(i).query_image_id == query)
    assert row.status == BEYOND
    check = open_project(path, read_only=True)
    assert check.execute("SELECT value FROM settings WHERE key = 'age_max'").fetchone()[0] in (100, "100")
    check.close()
