"""`ageapp restore` moves nothing until the replacement is known good: on a full disk it says so and leaves the
project (and its journal) exactly as it was; a backup that passes the quick check but cannot be opened as a
project (a newer table set under an older version number) is refused the same way."""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.store import journal, schema
from ageapp.store import restore as restore_module
from ageapp.store.backup import copy_project
from ageapp.store.db import open_project
from ageapp.store.errors import ProjectError, ProjectStorageError
from ageapp.store.journal import shm_path, wal_path
from ageapp.store.lock import lock_path
from ageapp.store.restore import restore_backup
from tests.factories import make_project
from tests.reliability.conftest import fill


def _digests(folder: Path) -> dict[str, str]:
    """Every file in the folder (not below it) by name: what must not change."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())
            if path.is_file()}


def _crashed_project(folder: Path, backups: Path):
    """A project with 10 answers in its file and 20 more only in the journal of a session still open (returned
    open: the caller copies its files as a crash leaves them), and a backup taken after the first 10."""
    project = folder / "study.ageproj"
    db = make_project(project, references=30, queries=20)[0]
    session = AnnotationSession(db, "ann", seed=0)
    for _ in range(10):
        session.answer(session.next_task(), "left", response_ms=1)
    backup = copy_project(project, backups / "study-backup.ageproj")
    for _ in range(20):
        session.answer(session.next_task(), "right", response_ms=1)
    return project, backup, db


@pytest.fixture
def crashed(tmp_path):
    """A crash's project and journal (the writer's files copied while it was open), and a backup elsewhere."""
    source, backups = tmp_path / "source", tmp_path / "backups"
    source.mkdir(), backups.mkdir()
    project, backup, db = _crashed_project(source, backups)
    here = tmp_path / "here"
    here.mkdir()
    for path in (project, wal_path(project)):
        (here / path.name).write_bytes(path.read_bytes())
    db.close()
    return here / project.name, backup


def _comparisons(project: Path) -> int:
    with open_project(project) as db:
        return db.execute("SELECT count(*) FROM comparisons").fetchone()[0]


def _refused(capsys, backup: Path, project: Path) -> str:
    assert ageapp_main(["restore", str(backup), str(project)]) == 1
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]


def _untouched(project: Path, before: dict[str, str]) -> None:
    assert _digests(project.parent) == before  # the project and its journal as they were, nothing added
    assert not list(project.parent.glob("*.set-aside-*")) and not list(project.parent.glob("*.restoring*"))
    assert not lock_path(project).exists()


# ------------------------------------------------------------------------------------------------ D2: full disk
def test_restore_onto_a_full_disk_says_so_and_changes_nothing(small_disk, tmp_path, capsys):
    backups = tmp_path / "backups"
    backups.mkdir()
    project, backup, db = _crashed_project(small_disk, backups)
    crash = {path.name: path.read_bytes() for path in (project, wal_path(project))}
    db.close()
    shm_path(project).unlink(missing_ok=True)
    for name, data in crash.items():  # as a crash left it: the journal beside the file
        (small_disk / name).write_bytes(data)
    fill(small_disk, leave=backup.stat().st_size // 2)  # room for half the backup
    before = _digests(small_disk)
    error = _refused(capsys, backup, project)
    assert "the disk holding" in error and "is full" in error and "The project was not changed" in error
    assert "Free at least" in error
    _untouched(project, before)
    (small_disk / "filler").unlink()
    assert _comparisons(project) == 30  # the crash's journal was still there to be merged


@pytest.mark.parametrize("where", ["copying the backup", "opening the copy", "making the set-aside folder"])
def test_a_full_disk_at_any_step_leaves_the_project_as_it_was(crashed, capsys, monkeypatch, where):
    project, backup = crashed
    before = _digests(project.parent)
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13
    if where == "copying the backup":
        def copy(source, destination):
            destination.with_name(destination.name + ".partial").write_bytes(b"half a copy")
            raise full
        monkeypatch.setattr(restore_module, "copy_project", copy)
    elif where == "opening the copy":
        from ageapp.store.errors import storage_error

        real_migrate = schema.migrate

        def migrate(db, target=None):
            if db.path.name.endswith(".restoring"):  # as db.execute reports SQLite's refusal
                raise storage_error(full, db.path)
            return real_migrate(db, target)
        monkeypatch.setattr(schema, "migrate", migrate)
    else:
        def no_room(project, reason):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(journal, "_aside_folder", no_room)
    error = _refused(capsys, backup, project)
    assert "is full" in error and "The project was not changed" in error
    _untouched(project, before)
    monkeypatch.undo()
    assert _comparisons(project) == 30


def test_a_move_that_fails_half_way_puts_back_what_it_moved(crashed, monkeypatch):
    project, backup = crashed
    before = _digests(project.parent)
    real_rename, calls = journal.os.rename, []

    def rename(source, target):
        calls.append(Path(source).name)
        if Path(source).name.endswith("-wal") and len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_rename(source, target)

    monkeypatch.setattr(journal.os, "rename", rename)
    with pytest.raises(ProjectError, match="Input/output error.*The project was not changed"):
        restore_backup(backup, project)
    assert calls[:3] == ["study.ageproj", "study.ageproj-wal", "study.ageproj"]  # the project moved back
    _untouched(project, before)


def test_a_last_rename_that_fails_puts_the_project_back(crashed, monkeypatch):
    # the project and its journal were moved aside, then the candidate could not be renamed into place: the
    # project goes back where it was (the message says it was not changed)
    project, backup = crashed
    before = _digests(project.parent)
    real_replace = restore_module.os.replace

    def replace(source, target):
        if Path(source).name.endswith(restore_module.CANDIDATE_SUFFIX):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(restore_module.os, "replace", replace)
    with pytest.raises(ProjectError, match="Input/output error.*The project was not changed"):
        restore_backup(backup, project)
    _untouched(project, before)
    monkeypatch.undo()
    assert _comparisons(project) == 30


# --------------------------------------------------------------------------- D12: opened and checked first
def test_a_backup_that_cannot_be_opened_as_a_project_is_refused_before_anything_moves(crashed, tmp_path, capsys):
    """Newer tables under an older version number: the quick check passes, the upgrade on opening fails."""
    project, backup = crashed
    odd = tmp_path / "odd-backup.ageproj"
    odd.write_bytes(backup.read_bytes())
    with sqlite3.connect(odd) as conn:
        conn.execute(f"PRAGMA user_version = {schema.CURRENT_VERSION - 1}")  # model_priors is already there
    assert restore_module.check_backup(odd) == schema.CURRENT_VERSION - 1  # what let it through before
    before = _digests(project.parent)
    error = _refused(capsys, odd, project)
    assert f"the backup {odd} cannot be opened as a project (table model_priors already exists)" in error
    assert "pick another backup. The project was not changed" in error
    _untouched(project, before)
    assert _comparisons(project) == 30


def test_an_interrupted_restore_leaves_a_candidate_the_next_restore_replaces(crashed, capsys):
    project, backup = crashed
    candidate = project.with_name(project.name + ".restoring")
    candidate.write_bytes(b"left by a restore that was killed")
    assert ageapp_main(["restore", str(backup), str(project)]) == 0
    assert not candidate.exists() and _comparisons(project) == 10


def test_storage_errors_keep_sqlites_code():
    from ageapp.store.errors import storage_error

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13
    error = storage_error(full, Path("p.ageproj"))
    assert isinstance(error, ProjectStorageError) and error.sqlite_errorcode == 13
