"""The journal (-wal) beside a project: a foreign one is never merged (set aside, and said so), a backup copied
over a crash's journal opens as the backup, `ageapp restore` puts a backup back, and a journal deleted or
replaced while the app writes stops the writing without losing what was reported committed."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.store.backup import copy_project
from ageapp.store.db import ProjectLocked, ProjectStorageError, open_project
from ageapp.store.journal import shm_path, wal_path
from ageapp.store.lock import lock_path
from ageapp.store.restore import restore_backup
from tests.factories import foreign_journal, make_project


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _alone(path: Path, sql: str):
    """A value read from the project file alone, its journal ignored: what survives losing the journal."""
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)) as conn:
        return conn.execute(sql).fetchone()[0]


def _count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _answer(session: AnnotationSession, n: int) -> None:
    for _ in range(n):
        session.answer(session.next_task(), "left", response_ms=1)


def _crash_image(path: Path, into: Path) -> Path:
    """What a crash leaves: the project file and its journal as they are on disk now (the writer still open)."""
    into.mkdir()
    for source in (path, wal_path(path)):
        shutil.copyfile(source, into / source.name)
    return into / path.name


@pytest.fixture
def project(tmp_path) -> Path:
    path = tmp_path / "study.ageproj"
    make_project(path, references=20, queries=30)[0].close()
    return path


def _foreign_wal(tmp_path: Path, ageapp_project: bool) -> bytes:
    """The -wal of another database, caught while it was being written (page size 4096, like a project's)."""
    other = tmp_path / "other" / "other.ageproj"
    other.parent.mkdir()
    if ageapp_project:  # another ageapp project: same application id, same tables
        db = make_project(other, references=30, queries=5, seed=3)[0]
        _answer(AnnotationSession(db, "someone", seed=2), 8)
        data = wal_path(other).read_bytes()
        db.close()
        return data
    return foreign_journal(other.parent)


# ---------------------------------------------------------------------------------------------- foreign -wal
@pytest.mark.parametrize("kind", ["another database", "another ageapp project"])
def test_a_read_only_command_never_writes_a_foreign_journal_in(project, tmp_path, capsys, kind):
    wal_path(project).write_bytes(_foreign_wal(tmp_path, kind == "another ageapp project"))
    before, wal_before = _digest(project), _digest(wal_path(project))
    assert ageapp_main(["stats", str(project)]) == 0
    captured = capsys.readouterr()
    stats = json.loads(captured.out.strip().splitlines()[-1])
    assert (stats["images"], stats["references"], stats["queries"]) == (50, 20, 30)  # this project, not the other
    assert "is not merged because" in captured.err and "Opening it for writing sets that journal aside" in captured.err
    assert _digest(project) == before and _digest(wal_path(project)) == wal_before  # nothing written
    assert not lock_path(project).exists()


@pytest.mark.parametrize("kind", ["another database", "another ageapp project"])
def test_opening_for_writing_sets_a_foreign_journal_aside_and_says_so(project, tmp_path, kind):
    foreign = _foreign_wal(tmp_path, kind == "another ageapp project")
    wal_path(project).write_bytes(foreign)
    before = _digest(project)
    with open_project(project) as db:
        assert (_count(db, "images"), _count(db, "comparisons")) == (50, 0)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (notice,) = db.notices
        assert "was not merged because" in notice and "opened as it was last saved" in notice
    (folder,) = project.parent.glob("study.set-aside-*")
    assert str(folder) in notice
    assert (folder / wal_path(project).name).read_bytes() == foreign  # kept, with the project as it was
    assert _digest(folder / project.name) == before and (folder / "why.txt").exists()
    with open_project(project) as db:  # set aside once: the next open is quiet
        assert db.notices == []


def test_the_projects_own_journal_after_a_crash_is_merged_quietly(project, tmp_path):
    db = open_project(project)
    _answer(AnnotationSession(db, "ann", seed=0), 25)
    crashed = _crash_image(project, tmp_path / "crash")
    db.close()
    assert _alone(crashed, "SELECT count(*) FROM comparisons") == 0  # the answers are only in the journal
    with open_project(crashed) as reopened:
        assert _count(reopened, "comparisons") == 25 and reopened.notices == []
    assert not list(crashed.parent.glob("*.set-aside-*"))


# ------------------------------------------------------------------------------------ restoring a backup
@pytest.fixture
def crashed_with_backup(project, tmp_path):
    """A project that crashed with answers in its journal, and a backup taken before them (10 answers)."""
    db = open_project(project)
    session = AnnotationSession(db, "ann", seed=0)
    _answer(session, 10)
    backup = copy_project(project, tmp_path / "study-backup.ageproj")
    _answer(session, 30)
    crashed = _crash_image(project, tmp_path / "crash")
    db.close()
    return crashed, backup


def test_a_backup_copied_by_hand_over_a_crash_journal_opens_as_the_backup(crashed_with_backup):
    crashed, backup = crashed_with_backup
    shutil.copyfile(backup, crashed)  # `cp backup.ageproj p.ageproj`, the crash's -wal still beside it
    with open_project(crashed) as db:
        assert _count(db, "comparisons") == 10
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert "written for another copy of this project" in db.notices[0]


def test_restore_puts_the_backup_back_and_moves_the_old_project_aside(crashed_with_backup, capsys):
    crashed, backup = crashed_with_backup
    journal_before = wal_path(crashed).read_bytes()
    assert ageapp_main(["restore", str(backup), str(crashed)]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["comparisons"] == 10 and Path(payload["set_aside"]).is_dir()
    folder = Path(payload["set_aside"])
    assert (folder / wal_path(crashed).name).read_bytes() == journal_before  # nothing thrown away
    assert not wal_path(crashed).exists() and not shm_path(crashed).exists()
    with open_project(crashed) as db:
        assert _count(db, "comparisons") == 10 and db.notices == []
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with open_project(folder / crashed.name) as old:  # the set-aside copy still has all 40 answers
        assert _count(old, "comparisons") == 40


def test_restore_refuses_while_the_project_is_open_and_refuses_bad_backups(project, tmp_path, capsys):
    backup = copy_project(project, tmp_path / "good-backup.ageproj")
    with open_project(project):
        with pytest.raises(ProjectLocked):
            restore_backup(backup, project)
    not_a_project = tmp_path / "notes.ageproj"
    not_a_project.write_text("hello")
    damaged = tmp_path / "damaged.ageproj"
    damaged.write_bytes(backup.read_bytes()[: 3 * 4096])
    before = _digest(project)
    for bad, expected in ((not_a_project, "not a SQLite database"), (damaged, "damaged"),
                          (tmp_path / "absent.ageproj", "cannot read the backup"), (project, "is the project itself")):
        assert ageapp_main(["restore", str(bad), str(project)]) == 1
        assert expected in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert _digest(project) == before and not list(tmp_path.glob("*.set-aside-*"))


def test_every_message_that_mentions_backups_points_to_restore(tmp_path, capsys):
    damaged = tmp_path / "study.ageproj"
    make_project(damaged, references=6, queries=3)[0].close()
    damaged.write_bytes(damaged.read_bytes()[: 2 * 4096])
    assert ageapp_main(["stats", str(damaged)]) == 1
    assert "`ageapp restore " in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]


# ---------------------------------------------------------------------------- a journal that disappears
@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_a_journal_deleted_or_replaced_while_writing_stops_the_writing_and_loses_nothing(project, change):
    db = open_project(project)
    session = AnnotationSession(db, "ann", seed=0)
    _answer(session, 12)
    assert _alone(project, "SELECT count(*) FROM comparisons") == 0  # all in the journal so far
    wal_path(project).unlink()
    if change == "replaced":
        wal_path(project).write_bytes(b"a sync tool's copy" * 100)
    with pytest.raises(ProjectStorageError) as refused:
        _answer(session, 1)
    message = str(refused.value)
    assert f"was {change} by another program" in message and "stopped writing" in message
    assert "everything answered before was saved into the project file" in message
    assert _alone(project, "SELECT count(*) FROM comparisons") == 12  # saved into the file itself
    with pytest.raises(ProjectStorageError, match="stopped writing"):  # and it stays stopped
        _answer(session, 1)
    if change == "replaced":
        (folder,) = project.parent.glob("study.set-aside-*")
        assert (folder / wal_path(project).name).read_bytes() == b"a sync tool's copy" * 100
    db.close()
    with open_project(project) as reopened:
        assert _count(reopened, "comparisons") == 12


def test_a_journal_deleted_during_a_transaction_is_noticed_at_its_commit_and_the_commit_saved(project):
    db = open_project(project)
    roots = _count(db, "roots")
    with db.atomic():
        db.execute("INSERT INTO roots (path) VALUES ('elsewhere')")
        wal_path(project).unlink()  # between the write and the commit
    assert "was deleted by another program" in db.stopped  # noticed right after the commit ...
    assert _alone(project, "SELECT count(*) FROM roots") == roots + 1  # ... and the commit saved into the file
    with pytest.raises(ProjectStorageError, match="this change was not saved"):
        with db.atomic():
            db.execute("INSERT INTO roots (path) VALUES ('another')")
    db.close()
    with open_project(project) as reopened:
        assert _count(reopened, "roots") == roots + 1 and reopened.stopped == ""


WORKER = """
import sys
from ageapp.annotation.session import AnnotationSession
from ageapp.store.db import open_project
db = open_project(sys.argv[1])
session = AnnotationSession(db, "ann", seed=0)
for line in sys.stdin:
    try:
        session.answer(session.next_task(), "left", response_ms=1)
    except Exception as error:
        print("refused", str(error).replace(chr(10), " "), flush=True)
    else:
        print("committed", db.execute("SELECT id FROM comparisons ORDER BY rowid DESC LIMIT 1").fetchone()[0],
              flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_the_issues_case_sixty_answers_then_the_journal_vanishes_then_a_crash(project):
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(project)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    committed = []
    for _ in range(60):
        worker.stdin.write("answer\n")
        worker.stdin.flush()
        kind, value = worker.stdout.readline().split(" ", 1)
        assert kind == "committed"
        committed.append(value.strip())
    wal_path(project).unlink()  # a sync tool or cleaner
    worker.stdin.write("answer\n")
    worker.stdin.flush()
    reply = worker.stdout.readline()
    assert reply.startswith("refused") and "was deleted by another program" in reply
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    worker.stdin.close()
    worker.stdout.close()
    with open_project(project) as db:
        kept = {row[0] for row in db.execute("SELECT id FROM comparisons")}
        assert set(committed) <= kept and len(kept) == 60
