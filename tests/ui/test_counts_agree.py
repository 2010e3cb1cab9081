"""The project's counts after answers, an undo and gold answers agree in all three places that show them (the
statistics dock, the queue and the caption under the faces), and with the database counted independently."""

from __future__ import annotations

import re

import numpy as np

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ageapp.annotation.counts import DONE
from ageapp.annotation.labelling_settings import LabellingSettings
from ageapp.core.selection import Protocol
from tests.ui.test_label_page import new_project

LEFT, BACK = Qt.Key.Key_Left, Qt.Key.Key_Backspace


def truth(db) -> tuple[int, int, dict[int, int]]:
    """(answers, gold answers, answers per query) counted straight from the comparisons and undone tables."""
    active = list(db.query("SELECT * FROM comparisons WHERE id NOT IN (SELECT comparison_id FROM undone)"))
    per_query: dict[int, int] = {}
    for row in active:
        if row["query_image_id"] is not None:
            per_query[row["query_image_id"]] = per_query.get(row["query_image_id"], 0) + 1
    return len(active), sum(1 for row in active if row["is_gold"]), per_query


def check_agreement(page) -> None:
    QApplication.processEvents()
    answers, gold, per_query = truth(page.db)
    # the queue: one row per query, its answers and status
    model = page.queue_panel.model
    rows = [model.row_at(i) for i in range(model.rowCount())]
    assert {row.query_image_id: row.n_comparisons for row in rows if row.n_comparisons} == per_query
    done = sum(1 for row in rows if row.status in DONE)
    # the dock
    dock = page.statistics_panel
    assert (dock.progress.value(), dock.progress.maximum()) == (done, len(rows))
    gold_words = f" ({gold:,} gold)" if gold else ""
    assert dock.comparisons_label.text() == f"Answers: <b>{answers:,}</b>{gold_words}"
    # the caption under the faces
    finished = re.search(r"(\d+) of (\d+) queries finished", page.panel.caption.text())
    assert finished is not None and (int(finished[1]), int(finished[2])) == (done, len(rows))


def test_counts_agree_after_answers_an_undo_and_gold_answers(make_window, tmp_path, qtbot):
    window, page = make_window()
    settings = LabellingSettings(Protocol("paper", comparisons=2), gold_rate=0.4)
    # six queries of two comparisons: twelve query answers to finish them all, more than the ten that stay
    # below, however the gold pairs fall, so a pair (and its caption) is always on screen
    assert window.open_project_path(new_project(tmp_path, queries=6, settings=settings))
    page.session.rng = np.random.default_rng(5)  # the pairs after the first: gold ones among them, every run
    check_agreement(page)
    kinds, undone = [], 0
    for step in range(14):
        if step in (3, 9):
            qtbot.keyClick(page.panel, BACK)
            undone += 1
        else:
            if page.task is None:
                break
            kinds.append(page.task.kind)
            qtbot.keyClick(page.panel, LEFT)
        check_agreement(page)
    answers, _gold, per_query = truth(page.db)
    assert "gold" in kinds and "query" in kinds and undone == 2
    assert answers == len(kinds) - undone
    done = sum(1 for i in range(page.queue_panel.model.rowCount())
               if page.queue_panel.model.row_at(i).status in DONE)
    assert done == sum(1 for count in per_query.values() if count >= 2)  # the protocol: two answers finish one
