"""Putting a backup back: `restore_backup(BACKUP, PROJECT)`, what `ageapp restore` and File ▸ Restore from
backup… do.

Copying a backup over the project by hand goes wrong when the project's journal (-wal) from a crash is still
beside it: SQLite would merge that journal into the backup. So the restore takes the project's lock (nobody
may have it open for writing), checks the backup (an ageapp project this app reads, sound by SQLite's
integrity check), and copies it through SQLite's backup API to a candidate beside the project
(`PROJECT.ageproj.restoring`). The candidate is then opened as a project for writing (an older schema is
brought up to date) and checked again. Only once it is known good is anything moved: the project with its
-wal and -shm goes into a dated folder (renamed, not copied: no space needed, nothing deleted), and the
candidate is renamed into place. A full disk, or a backup that cannot be opened, leaves the project exactly
as it was, and the candidate is removed.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ageapp.files import NotARegularFile, open_regular
from ageapp.store import journal, schema
from ageapp.store import lock as project_lock
from ageapp.store.backup import PARTIAL_SUFFIX, copy_project
from ageapp.store.errors import SQLITE_FULL, ProjectError, ProjectLocked, ProjectStorageError

CANDIDATE_SUFFIX = ".restoring"


@dataclass
class RestoreReport:
    backup: Path
    project: Path
    set_aside: Path | None  # where the project as it was (with its journal) went; None if there was none
    version: int  # the backup's project schema (the next open upgrades an older one)


def check_backup(backup: Path) -> int:
    """The backup's schema version, once it is sure the file is a sound ageapp project; else ProjectError."""
    try:
        with open_regular(backup, "rb", what="backup (.ageproj) file") as file:
            header = file.read(16)
    except NotARegularFile as error:
        raise ProjectError(str(error)) from None
    except OSError as error:
        raise ProjectError(f"cannot read the backup {backup}: {error.strerror or error}") from None
    if header != b"SQLite format 3\x00":
        raise ProjectError(f"{backup} is not an ageapp project (not a SQLite database): pick one of the project's "
                           "backups (PROJECT.backups/NAME-STAMP.ageproj)")
    try:
        with closing(sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    except sqlite3.Error as error:
        raise ProjectError(f"the backup {backup} cannot be read ({error}): it is damaged; pick an older one") from None
    if application_id != schema.APPLICATION_ID or version == 0:
        raise ProjectError(f"{backup} is a SQLite database but not an ageapp project: pick one of the project's backups")
    if version > schema.CURRENT_VERSION:
        raise ProjectError(f"the backup {backup} was written by a newer ageapp (project schema {version}): update "
                           "ageapp to restore it")
    if integrity != ["ok"]:
        raise ProjectError(f"the backup {backup} is damaged ({integrity[0]}): pick an older one")
    return version


def restore_backup(backup: str | Path, project: str | Path) -> RestoreReport:
    """Put `backup` back as `project` (see the module's docstring). ProjectError (ProjectLocked ...) if not."""
    backup, project = Path(backup).expanduser(), Path(project).expanduser()
    if project.exists() and (not project.is_file() or project.is_symlink() and not project.resolve().is_file()):
        raise ProjectError(f"{project} is not a project file (a folder, pipe or device): name the project to restore")
    if project.exists() and backup.exists() and backup.resolve().samefile(project.resolve()):
        raise ProjectError(f"{backup} is the project itself: pick one of its backups")
    version = check_backup(backup)
    if not project.parent.is_dir():
        raise ProjectError(f"cannot restore to {project}: the folder {project.parent} does not exist")
    if project_lock.held_here(project):
        raise ProjectLocked(f"{project} is open in this ageapp: close it first, then restore the backup")
    lock = project_lock.acquire(project)
    candidate = project.with_name(project.name + CANDIDATE_SUFFIX)
    try:
        _remove_candidate(candidate)  # one left by a restore that was interrupted
        try:
            copy_project(backup, candidate)
            _open_and_check(candidate, backup)
            aside = None
            if project.exists() or project.is_symlink() or journal.wal_path(project).exists():
                aside = journal.move_aside(project, f"{project.name} as it was, with its journal, before the "
                                                    f"backup {backup.name} was restored over it")
            try:
                os.replace(candidate, project)
            except OSError:
                if aside is not None:  # the project back where it was, so that "not changed" holds
                    journal.move_back(aside, project)
                raise
        except (OSError, sqlite3.Error) as error:
            raise _not_restored(error, backup, project) from None
    finally:
        _remove_candidate(candidate)
        lock.release()
    return RestoreReport(backup, project, aside, version)


def _open_and_check(candidate: Path, backup: Path) -> None:
    """Open the candidate as a project for writing (brings an older schema up to date), check it, close it
    with its journal merged in; ProjectError saying what is wrong with the backup if it is not good."""
    from ageapp.store.db import open_project

    try:
        db = open_project(candidate)
    except ProjectStorageError:
        raise
    except ProjectError as error:
        raise ProjectError(f"the backup {backup} cannot be opened as a project ({_first_clause(error)}): pick "
                           "another backup. The project was not changed") from None
    with closing(db):
        problems = [row[0] for row in db.execute("PRAGMA integrity_check(5)")]
        if problems != ["ok"] or db.execute("PRAGMA foreign_key_check").fetchall():
            raise ProjectError(f"the backup {backup} does not pass SQLite's checks once opened "
                               f"({problems[0] if problems != ['ok'] else 'broken references between rows'}): pick "
                               "another backup. The project was not changed")
    if journal.has_journal(candidate):  # another connection kept the journal: never rename a file without it
        raise ProjectError(f"the restored copy of {backup} could not be closed cleanly; the project was not "
                           "changed: try again")


def _first_clause(error: Exception) -> str:
    text = str(error)
    opened = text.find(" could not be opened as a project (")
    if opened >= 0:  # open_project's own wording: keep SQLite's reason only
        return text[opened + len(" could not be opened as a project ("):].split("):", 1)[0]
    return text


def _not_restored(error: Exception, backup: Path, project: Path) -> ProjectError:
    """The error to raise when copying or moving failed (nothing of the project was moved)."""
    full = (isinstance(error, OSError) and error.errno == errno.ENOSPC) or (
        isinstance(error, sqlite3.Error) and ((getattr(error, "sqlite_errorcode", None) or 0) & 0xFF) == SQLITE_FULL)
    if not full and isinstance(error, ProjectError):
        return error
    if full:
        size = backup.stat().st_size / 2**20 if backup.exists() else 0.0
        return ProjectStorageError(f"the disk holding {project} is full: the backup could not be put back "
                                   f"({error}). The project was not changed. Free at least {max(size, 0.1):.1f} MB "
                                   "on that disk (the size of the backup), then restore again")
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return ProjectError(f"the backup could not be put back as {project} ({detail}). The project was not "
                        "changed")


def _remove_candidate(candidate: Path) -> None:
    for path in (candidate, journal.wal_path(candidate), journal.shm_path(candidate),
                 project_lock.lock_path(candidate), candidate.with_name(candidate.name + PARTIAL_SUFFIX)):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
