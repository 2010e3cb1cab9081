"""The project's journal: SQLite's write-ahead log (`PROJECT.ageproj-wal`) and its index (`-shm`) beside it.

SQLite merges whatever -wal lies beside a database into it, and nothing in a -wal says which database it
belongs to. So a -wal from another database, from another copy of this project, or left by a crash beside a
backup copied over the project would be written into the project for good. Before opening for writing,
`vouch_or_set_aside` looks at what the -wal would make of the project, through a read-only connection that
never writes the project nor its -wal:

- the project must stay an ageapp project (same application id, no older schema) and SQLite must read it;
- each writing session records a token chain [base, ..., current] in the settings (`journal_session`) with
  its first write (db.atomic), and each backup copy a fresh one, so a -wal written by a session that started
  from another copy of the project (a restored backup, another computer's copy) carries a token the file alone
  does not know. A -wal can hold several sessions: a session that crashed is followed by one that reopens the
  project and writes on. So opening for writing first merges the vouched -wal into the file (`merge_in`) and
  the new session's chain is [the token the file now has, its own]; where a reader kept that merge from
  finishing, the file may be several sessions behind the -wal, and the new session appends its token to the
  chain instead. The -wal is the file's own when the file's token is in the chain before its end;
- when the tokens cannot tell (the -wal holds no token), `PRAGMA quick_check` must pass.

A -wal that fails is never merged: the project, its -wal and -shm are copied together into a dated folder
(`PROJECT.set-aside-STAMP/`), the -wal and -shm removed, and the project opens as it was last saved, with a
notice saying so. `JournalWatch` notices when the -wal is deleted or replaced while the app writes (sync
tools, cleaners): the connection still holds the old one, so db.py saves it into the project (a checkpoint)
and stops writing.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ageapp.store import schema

SETTING = "journal_session"
SET_ASIDE = ".set-aside-"


def wal_path(project: Path) -> Path:
    return project.with_name(project.name + "-wal")


def shm_path(project: Path) -> Path:
    return project.with_name(project.name + "-shm")


def has_journal(project: Path) -> bool:
    """Whether a non-empty -wal (or anything at all that is not a regular file) lies beside the project."""
    try:
        info = wal_path(project).lstat()
    except OSError:
        return False
    return not stat.S_ISREG(info.st_mode) or info.st_size > 0


@dataclass
class _View:
    application_id: int = 0
    version: int = 0
    tables: int = 0
    token: tuple | None = None
    error: str = ""


def _read_view(uri: str, ours_only: bool = False) -> _View:
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
            view = _View(conn.execute("PRAGMA application_id").fetchone()[0],
                         conn.execute("PRAGMA user_version").fetchone()[0],
                         conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
            if view.application_id == schema.APPLICATION_ID and view.version:
                view.token = _token(conn)
            return view
    except (sqlite3.Error, ValueError) as error:
        return _View(error=str(error) or type(error).__name__)


def _token(conn: sqlite3.Connection) -> tuple | None:
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", [SETTING]).fetchone()
        value = json.loads(row[0]) if row else None
    except (sqlite3.Error, ValueError, TypeError, RecursionError):
        return ("unreadable",)
    return _chain(value)


def _chain(value) -> tuple | None:
    """A recorded token chain [base (None for a new lineage), ..., current] as a tuple; None if it is not one."""
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(token, str) for token in value[1:]):
        return None
    return tuple(value) if value[0] is None or isinstance(value[0], str) else None


def _uri(project: Path, immutable: bool) -> str:
    return f"{project.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")


def _quick_check(project: Path) -> str:
    """'' if SQLite's quick check passes with the journal, else its first complaint."""
    try:
        with closing(sqlite3.connect(_uri(project, False), uri=True, timeout=5)) as conn:
            messages = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.Error as error:
        return str(error)
    return "" if messages == ["ok"] else messages[0]


def _looks_like_ours(view: _View) -> bool:
    return not view.error and (view.application_id == schema.APPLICATION_ID
                               or (view.application_id == 0 and view.version == 0 and view.tables == 0))


def verdict(project: Path, thorough: bool = True) -> str | None:
    """None if the -wal beside the project can be merged into it; else why not (for a person). Reads only.
    `thorough`: run SQLite's quick check when the tokens cannot tell (reads the whole project)."""
    wal = wal_path(project)
    if not has_journal(project):
        return None
    if not stat.S_ISREG(wal.lstat().st_mode):
        return f"{wal.name} is {'a link' if wal.is_symlink() else 'not a regular file'}"
    alone = _read_view(_uri(project, immutable=True))
    merged = _read_view(_uri(project, immutable=False))
    if merged.error:
        return f"SQLite cannot read the project with it ({merged.error})"
    if merged.application_id != schema.APPLICATION_ID:
        return "with it the file would no longer be an ageapp project (it belongs to another database)"
    if not alone.error and merged.version < alone.version:
        return "with it the project would go back to an older schema (it belongs to an older copy)"
    known = None if alone.error else (alone.token[-1] if alone.token and len(alone.token) >= 2 else None)
    if merged.token and len(merged.token) >= 2 and merged.token != alone.token and known in merged.token[:-1]:
        return None  # written by sessions that started from this very file (each from the one before)
    if known is not None and (not merged.token or merged.token[-1] != known):
        return "it was written for another copy of this project (a restored backup, or a copy from elsewhere)"
    problem = _quick_check(project) if thorough else ""
    return f"with it SQLite finds the project damaged ({problem})" if problem else None


def project_is_ours_alone(project: Path) -> bool:
    """Whether the file without its journal reads as an ageapp project (or a new, still empty one)."""
    return _looks_like_ours(_read_view(_uri(project, immutable=True)))


def _aside_folder(project: Path, reason: str) -> Path:
    """A new PROJECT.set-aside-STAMP/ with a note of why (removed again if the note cannot be written)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = project.with_name(f"{project.stem}{SET_ASIDE}{stamp}")
    folder.mkdir()
    try:
        (folder / "why.txt").write_text(f"Set aside by ageapp on {stamp}: {reason}.\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def move_aside(project: Path, reason: str) -> Path:
    """Move the project, its -wal and -shm into PROJECT.set-aside-STAMP/ (renames: no space needed), all or
    none: if one cannot be moved, those moved go back and the OSError is raised. Returns the folder."""
    folder = _aside_folder(project, reason)
    moved: list[tuple[Path, Path]] = []
    try:
        for source in (project, wal_path(project), shm_path(project)):
            if source.is_symlink() or source.exists():
                os.rename(source, folder / source.name)
                moved.append((source, folder / source.name))
    except BaseException:
        for source, target in reversed(moved):
            os.rename(target, source)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def move_back(folder: Path, project: Path) -> None:
    """Undo `move_aside`: the project, its -wal and -shm renamed back from `folder`, which is then removed."""
    for name in (project.name, wal_path(project).name, shm_path(project).name):
        moved = folder / name
        if moved.is_symlink() or moved.exists():
            os.rename(moved, project.with_name(name))
    shutil.rmtree(folder, ignore_errors=True)


def set_aside(project: Path, reason: str) -> Path:
    """Copy the project, its -wal and -shm into PROJECT.set-aside-STAMP/ (with a note of why), then remove the
    -wal and -shm beside the project. Returns the folder."""
    folder = _aside_folder(project, reason)
    companions = [wal_path(project), shm_path(project)]
    for source in [project, *companions]:
        if source.is_symlink() or (source.exists() and not source.is_file()):
            continue  # a link or a pipe is not copied (nor followed); removed below
        if source.exists():
            shutil.copy2(source, folder / source.name)
            with open(folder / source.name, "rb+") as copy:
                os.fsync(copy.fileno())
    for companion in companions:
        if companion.is_symlink() or companion.exists():
            companion.unlink()
    return folder


def vouch_or_set_aside(project: Path) -> str:
    """Before opening for writing (the lock held): '' if there is no journal or it is the project's own; else
    the journal is set aside and the notice saying so is returned."""
    if not has_journal(project) or not project_is_ours_alone(project):
        return ""  # nothing to vouch for, or not a project at all (open_project says so)
    reason = verdict(project)
    if reason is None:
        return ""
    folder = set_aside(project, f"the journal of {project.name} was not merged into it because {reason}")
    return (f"{project.name}: its journal ({wal_path(project).name}) was not merged because {reason}. The project "
            f"opened as it was last saved; the project and that journal were copied together to {folder}. If "
            "answers you gave are missing, restore a backup with `ageapp restore`, or keep that folder for help")


def merge_in(conn: sqlite3.Connection) -> bool:
    """At the start of a writing session (the -wal vouched for): copy the -wal into the project file, so that
    the file is what the session starts from. True if all of it is in the file now; False where a reader (a
    read-only viewer) holds part of it back: the session then carries the chain on (`record_session`)."""
    try:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return False
    return busy == 0 and frames == copied


def record_session(db, merged_in: bool = True) -> None:
    """Inside the first write transaction of a writing session. `merged_in`: the file holds all of the -wal
    (merge_in), so the chain starts again: [the previous session's token, a new one]; else the new token is
    appended to the chain, whose base is still the file's token."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", [SETTING]).fetchone()
    try:
        chain = _chain(json.loads(row[0])) if row else None
    except (ValueError, TypeError, RecursionError):
        chain = None
    if chain is None:  # none yet, or not one of ours: a new lineage
        chain = (None,)
    kept = [chain[-1]] if merged_in else list(chain)
    db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
               [SETTING, json.dumps([*kept, uuid.uuid4().hex])])


def mark_as_copy(conn: sqlite3.Connection) -> None:
    """A copy of a project (a backup) is a new lineage: a -wal of the original never passes for its own."""
    try:
        conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                     [SETTING, json.dumps([None, uuid.uuid4().hex])])
        conn.commit()
    except sqlite3.Error:  # not a project of this schema (no settings table): copied as it is
        conn.rollback()


class JournalWatch:
    """The -wal this connection writes to; `change()` says if it was deleted or replaced since."""

    def __init__(self, project: Path):
        self.wal = wal_path(project)
        self.identity = self._identity()

    def _identity(self) -> tuple | None:
        try:
            info = self.wal.stat()
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def change(self) -> str | None:
        """None, "deleted" or "replaced"."""
        if self.identity is None:
            return None
        now = self._identity()
        if now == self.identity:
            return None
        return "deleted" if now is None else "replaced"
