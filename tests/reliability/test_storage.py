"""A project on a read-only disk or file, and on a disk that fills up: a clear message, nothing half-written.

The real cases need root (a tmpfs mounted, then remounted read-only, or filled); elsewhere they are skipped
and SQLite's max_page_count stands in for the full disk (the same SQLITE_FULL error).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.store.check import posterior_problems
from ageapp.store.db import ProjectReadOnly, ProjectStorageError, open_project
from ageapp.store.lock import lock_path
from tests.factories import make_project
from tests.reliability.conftest import fill, mount


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _state(db) -> dict:
    return {"comparisons": db.execute("SELECT count(*) FROM comparisons").fetchone()[0],
            "posteriors": db.execute("SELECT count(*) FROM posteriors").fetchone()[0],
            "undone": db.execute("SELECT count(*) FROM undone").fetchone()[0]}


# ------------------------------------------------------------------------------------------------ read-only
def _make_read_only(kind: str, project: Path) -> None:
    if kind == "file":
        if os.geteuid() == 0:
            pytest.skip("root writes read-only files anyway; the read-only disk case covers root")
        project.chmod(0o444)
    elif not mount("-o", "remount,ro", str(project.parent)):
        pytest.skip("remounting read-only needs root")


@pytest.mark.parametrize("kind", ["file", "disk"])
def test_a_read_only_project_opens_read_only_with_a_message(kind, small_disk, capsys):
    project = small_disk / "study.ageproj"
    make_project(project, references=6, queries=3)[0].close()
    _make_read_only(kind, project)
    before = _digest(project)

    with pytest.raises(ProjectReadOnly, match="read-only") as refused:
        open_project(project)
    assert "open it read-only to look at it" in str(refused.value)
    with open_project(project, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert ageapp_main(["check", str(project)]) == 1  # a check only reads (it finds the factory's photos absent)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["checked"]["images"] == 9
    assert _digest(project) == before and not lock_path(project).exists()


@pytest.mark.parametrize("kind", ["file", "disk"])
@pytest.mark.parametrize("journal", [False, True], ids=["closed cleanly", "journal left by a crash"])
def test_read_only_commands_work_on_a_read_only_project(kind, journal, small_disk, tmp_path, capsys):
    """stats, export and check only read: they open read-only and work where writing is impossible, also when
    a crash left a journal that SQLite cannot use on a read-only disk (it reads a temporary copy)."""
    project = small_disk / "study.ageproj"
    db, _, queries, _ = make_project(project, references=6, queries=3)
    session = AnnotationSession(db, "ann", seed=0)
    for _ in range(4):
        session.answer(session.next_task(), "left", response_ms=1)
    answered, plain = db.execute("SELECT count(DISTINCT query_image_id), count(*) - sum(is_gold) FROM comparisons"
                                 ).fetchone()
    if journal:  # what a crash leaves: the file and its journal, no -shm
        crashed = {name: (small_disk / name).read_bytes() for name in (project.name, project.name + "-wal")}
        db.close()
        for name, data in crashed.items():
            (small_disk / name).write_bytes(data)
    else:
        db.close()
    _make_read_only(kind, project)
    before = _digest(project)
    assert ageapp_main(["stats", str(project)]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (stats["images"], stats["comparisons"], stats["posteriors"]) == (9, plain, answered)
    out = tmp_path / "export.csv"
    assert ageapp_main(["export", str(project), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["queries"] == answered
    assert len(out.read_text().splitlines()) == 1 + answered  # the header, a line per query with a posterior
    assert ageapp_main(["check", str(project)]) == 1  # the factory's photos are absent: reported, not raised
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["checked"]["comparisons"] == 4
    assert _digest(project) == before and not lock_path(project).exists()


# ------------------------------------------------------------------------------------------------ full disk
def _answer_until_refused(session: AnnotationSession, db, limit: int = 20_000) -> tuple[dict, ProjectStorageError]:
    """Answer until the disk refuses; (the project's state just before the refused answer, the error)."""
    for _ in range(limit):
        before = _state(db)
        try:
            session.answer(session.next_task(), "left", response_ms=1)
        except ProjectStorageError as error:
            return before, error
    pytest.fail(f"the disk never filled up in {limit} answers")


def _assert_nothing_half_written(db, before: dict) -> None:
    assert _state(db) == before
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert posterior_problems(db) == []


def test_a_full_disk_rolls_the_answer_back_with_a_message(small_disk):
    project = small_disk / "study.ageproj"
    db = make_project(project, references=20, queries=400)[0]
    session = AnnotationSession(db, "ann", seed=0)
    fill(small_disk)

    before, error = _answer_until_refused(session, db)
    assert "is full" in str(error) and "was not saved" in str(error) and "Free some space" in str(error)
    _assert_nothing_half_written(db, before)

    (small_disk / "filler").unlink()  # space again: labelling goes on where it stopped
    session.answer(session.next_task(), "right", response_ms=1)
    assert _state(db)["comparisons"] == before["comparisons"] + 1
    db.close()
    with open_project(project) as reopened:
        _assert_nothing_half_written(reopened, {**before, "comparisons": before["comparisons"] + 1,
                                                "posteriors": _state(reopened)["posteriors"]})


def test_a_full_database_limit_rolls_the_answer_back_with_a_message(tmp_path):
    """The portable stand-in for a full disk: SQLite's own size limit gives the same SQLITE_FULL."""
    db = make_project(tmp_path / "study.ageproj", references=20, queries=400)[0]
    session = AnnotationSession(db, "ann", seed=0)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")

    before, error = _answer_until_refused(session, db)
    assert isinstance(error, ProjectStorageError) and "is full" in str(error)
    _assert_nothing_half_written(db, before)
    db.execute(f"PRAGMA max_page_count = {pages * 10}")
    session.answer(session.next_task(), "left", response_ms=1)
    assert _state(db)["comparisons"] == before["comparisons"] + 1
    db.close()


def test_an_import_onto_a_full_disk_stops_with_a_message_and_keeps_whole_images(small_disk, tmp_path, capsys):
    import cv2
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for index in range(60):
        cv2.imwrite(str(photos / f"{index}.png"), rng.integers(0, 255, (200, 200, 3), dtype=np.uint8))
    project = small_disk / "study.ageproj"
    open_project(project, create=True).close()
    fill(small_disk, leave=200_000)

    assert ageapp_main(["import", str(project), str(photos), "--role", "query"]) == 1
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["interrupted"] and 0 < payload["imported"] < 60
    assert any("is full" in error["reason"] and "import stopped" in error["reason"] for error in payload["errors"])
    (small_disk / "filler").unlink()
    with open_project(project) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM images").fetchone()[0] == payload["imported"]


def test_a_write_to_a_project_opened_read_only_says_so(tmp_path):
    project = tmp_path / "study.ageproj"
    make_project(project, references=4, queries=2)[0].close()
    with open_project(project, read_only=True) as db:
        with pytest.raises(ProjectStorageError, match="is open read-only: the last change was not saved"):
            with db.atomic():
                db.execute("INSERT INTO roots (path) VALUES ('/elsewhere')")
        assert db.execute("SELECT count(*) FROM roots").fetchone()[0] == 1
