"""File ▸ Import…, Export…, Merge…, Split for a team… and Tools ▸ Team progress and agreement… on the open project:
each does what its command does, in a worker, and the window follows."""

from __future__ import annotations

import csv
import json
from contextlib import closing

import pytest

from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.core.selection import Protocol
from ageapp.store.backup import copy_project
from ageapp.store.db import open_project
from ageapp.ui.project.file_actions import install_project_actions
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from tests.annotation.test_team import answer
from tests.data.test_importers import write_image
from tests.factories import make_project


@pytest.fixture
def window(qtbot):
    window = MainWindow(AppSettings())
    qtbot.addWidget(window)
    install_project_actions(window)
    yield window
    window.project_actions.wait()


def project_with_copies(tmp_path, labellers=("A", "B")):
    """A project (references 0..70, 4 queries, paper protocol of 6) and a labelled copy per labeller: A and B agree
    on the first query (both centred on 25) and not on the second (21 and 61)."""
    path = tmp_path / "lead.ageproj"
    db, refs, queries, _ = make_project(path, references=71, queries=4)
    save_labelling_settings(db, LabellingSettings(Protocol("paper", comparisons=6), gold_rate=0.0))
    db.close()
    references = dict(zip(range(71), refs))
    copies = []
    for name, centres in zip(labellers, ((25, 21), (25, 61))):
        copy = copy_project(path, tmp_path / f"{name}.ageproj")
        with closing(open_project(copy)) as own:
            for query, centre in zip(queries, centres):
                answer(own, name, query, centre, references)
        copies.append(copy)
    return path, copies


def wait_for(qtbot, dialog):
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=20000)
    assert not dialog.failure, dialog.failure


def test_the_actions_wait_for_an_open_project(window, tmp_path):
    assert not any(action.isEnabled() for action in window.project_actions.actions.values())
    assert not window.team_action.action.isEnabled()
    path, _ = project_with_copies(tmp_path, labellers=())
    assert window.open_project_path(path)
    assert all(action.isEnabled() for action in window.project_actions.actions.values())
    file_menu = [action.text() for action in window.menuBar().actions()[0].menu().actions()]
    assert file_menu[file_menu.index("Restore from &backup…") + 1:][:4] == [
        "&Import…", "&Export…", "&Merge…", "&Split for a team…"]


def test_import_adds_a_folder_and_the_window_reopens_the_project(window, qtbot, tmp_path):
    path, _ = project_with_copies(tmp_path, labellers=())
    for index in range(5):
        write_image(tmp_path / "new" / f"{index}.jpg", index, size=48)
    window.open_project_path(path)
    before = window.session.db
    dialog = window.project_actions.import_faces()
    dialog.role.setCurrentIndex(1)  # queries
    dialog.source.set_source(tmp_path / "new", "folder", aligned=True)
    dialog.start_button.click()
    wait_for(qtbot, dialog)
    assert dialog.result_.as_dict()["imported"] == 5 and "imported 5 query images" in dialog.summary.toPlainText()
    assert window.session.db is not before  # opened again: every page sees the new faces
    assert window.session.db.execute("SELECT count(*) FROM images WHERE role = 'query'").fetchone()[0] == 9
    dialog.start_button.click()  # the same folder again: nothing twice
    wait_for(qtbot, dialog)
    assert (dialog.result_.as_dict()["imported"], dialog.result_.as_dict()["skipped"]) == (0, 5)
    dialog.source.set_source(tmp_path / "nowhere")
    dialog.start_button.click()
    assert dialog.worker is None and "does not exist" in dialog.summary.toPlainText()


def test_import_starts_with_the_detector_the_resolver_picks(window, tmp_path, monkeypatch):
    # as `ageapp import` does (ageapp.model.resolve.choose_detector): the project's stored YuNet file before
    # $AGEAPP_DETECTOR (the dialog put the environment's first)
    from ageapp.store.settings import set_setting

    path, _ = project_with_copies(tmp_path, labellers=())
    stored, environment = tmp_path / "stored_yunet.onnx", tmp_path / "environment_yunet.onnx"
    stored.write_bytes(b"a"), environment.write_bytes(b"b")
    with closing(open_project(path)) as db:
        set_setting(db, "detector_path", str(stored))
    monkeypatch.setenv("AGEAPP_DETECTOR", str(environment))
    window.open_project_path(path)
    assert window.project_actions.import_faces().detector.path() == stored
    window.close_project()
    with closing(open_project(path)) as db:  # no stored file: the environment's
        set_setting(db, "detector_path", None)
    window.open_project_path(path)
    assert window.project_actions.import_faces().detector.path() == environment


def test_merge_brings_answers_in_once_and_the_team_view_shows_their_agreement(window, qtbot, tmp_path, message_boxes):
    path, copies = project_with_copies(tmp_path)
    window.open_project_path(path)
    dialog = window.project_actions.merge(copies)
    wait_for(qtbot, dialog)
    assert "A.ageproj: added 12 comparisons" in dialog.summary.toPlainText()
    assert window.session.db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 24
    again = window.project_actions.merge(copies)
    wait_for(qtbot, again)
    assert "A.ageproj was merged already: all its 12 comparisons are in" in again.summary.toPlainText()
    assert window.project_actions.merge([path]) is None and "merged into itself" in message_boxes[-1][1]

    team = window.team_action.show()
    qtbot.waitUntil(lambda: team.report is not None and team.worker is None, timeout=10000)
    rows = [[team.labellers.item(row, column).text() for column in range(team.labellers.columnCount())]
            for row in range(team.labellers.rowCount())]
    assert [row[:5] for row in rows] == [["A", "—", "12", "2", "2"], ["B", "—", "12", "2", "2"]]
    pair = [team.pairs.item(0, column).text() for column in range(team.pairs.columnCount())]
    assert pair == ["A & B", "2", "50%", "20.0 years"]  # modes 25/25 and 21/61
    assert team.pairs.item(0, 2).background().color().name() == "#fde8e6"  # below 70%: marked
    team.reject()


def test_export_writes_csv_and_json_and_refuses_another_suffix(window, qtbot, tmp_path, message_boxes):
    path, copies = project_with_copies(tmp_path)
    window.open_project_path(copies[0])  # A's copy: two queries with a posterior
    for name in ("out.csv", "out.json"):
        dialog = window.project_actions.export(tmp_path / name)
        wait_for(qtbot, dialog)
        assert f"Exported 2 queries to {tmp_path / name}" in dialog.summary.toPlainText()
    with open(tmp_path / "out.csv", newline="") as handle:
        assert sorted(int(row["mode"]) for row in csv.DictReader(handle)) == [21, 25]
    assert sorted(row["mode"] for row in json.loads((tmp_path / "out.json").read_text())) == [21, 25]
    assert window.project_actions.export(tmp_path / "out.txt") is None
    assert "not 'out.txt'" in message_boxes[-1][1] and not (tmp_path / "out.txt").exists()
    assert window.settings.last_folder("exports") == tmp_path


def test_split_for_a_team_writes_the_parts(window, qtbot, tmp_path):
    path, _ = project_with_copies(tmp_path, labellers=())
    window.open_project_path(path)
    dialog = window.project_actions.split()
    assert dialog.out.path() == tmp_path / "lead-team"
    dialog.parts.setValue(2)
    dialog.overlap.setValue(50.0)
    dialog.start_button.click()
    wait_for(qtbot, dialog)
    files = sorted(p.name for p in (tmp_path / "lead-team").iterdir())
    assert files == ["lead-part1of2.ageproj", "lead-part2of2.ageproj"]
    assert "split into 2 parts, each with all 71 references" in dialog.summary.toPlainText()
    dialog.start_button.click()  # again into the same folder: refused, said, nothing overwritten
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=10000)
    assert "already exists" in dialog.failure
