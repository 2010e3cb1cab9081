"""Opening a project file: one SQLite database (suffix .ageproj) through sqlite-utils.

Every connection gets the same pragmas: WAL journaling (readers never block the writer), foreign keys on,
synchronous=FULL (a committed answer survives a power cut), a busy timeout for a second connection in a
worker thread. The schema version lives in `PRAGMA user_version`; schema.py brings older files up to date.
Writes go through sqlite-utils, which commits each statement at once unless it is inside `db.atomic()`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from ageapp.store import schema

PROJECT_SUFFIX = ".ageproj"
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000


class ProjectError(Exception):
    """A project file that cannot be opened, with a reason the user can act on."""


def open_project(path: str | Path, create: bool = False, read_only: bool = False) -> sqlite_utils.Database:
    """Open (or with create=True, create) a project and bring its schema up to date.

    Refuses with ProjectError: a missing file (unless create), a file that is not SQLite, a SQLite file that
    is not an ageapp project, a project written by a newer ageapp, and (read_only) one that needs upgrading.
    """
    path = Path(path).expanduser()
    _check_file(path, create)
    try:
        db = _connect(path, read_only)
        _check_identity(db, path, create)
        _check_version(db, path, read_only)
        if not read_only:
            db.enable_wal()
            schema.migrate(db)
    except sqlite3.DatabaseError as error:
        raise ProjectError(f"{path} could not be opened as a project ({error}); is it a damaged copy?") from None
    return db


def _check_file(path: Path, create: bool) -> None:
    if path.is_dir():
        raise ProjectError(f"{path} is a folder; a project is a single {PROJECT_SUFFIX} file")
    if not path.exists():
        if not create:
            raise ProjectError(f"no project at {path}: create one with `ageapp new {path}`")
        if not path.parent.is_dir():
            raise ProjectError(f"cannot create {path}: the folder {path.parent} does not exist")
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise ProjectError(f"cannot read {path}: {error.strerror or error}") from None
    # A zero-byte file is what SQLite itself would create; anything else must carry SQLite's header.
    if header and header != SQLITE_HEADER:
        raise ProjectError(f"{path} is not an ageapp project (not a SQLite database); pick the {PROJECT_SUFFIX} file")


def _connect(path: Path, read_only: bool) -> sqlite_utils.Database:
    if read_only:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    else:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    db = sqlite_utils.Database(conn, execute_plugins=False)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = FULL")
    return db


def _check_identity(db: sqlite_utils.Database, path: Path, create: bool) -> None:
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = schema_version(db)
    if application_id not in (0, schema.APPLICATION_ID) or (version == 0 and db.table_names()):
        db.close()
        raise ProjectError(f"{path} is a SQLite database but not an ageapp project; pick the {PROJECT_SUFFIX} file")
    # Only `create` may turn an empty file into a project; opening must not adopt a stray empty file.
    if version == 0 and not create:
        db.close()
        raise ProjectError(f"{path} is empty, not an ageapp project; create one with `ageapp new`")


def _check_version(db: sqlite_utils.Database, path: Path, read_only: bool) -> None:
    version = schema_version(db)
    if version > schema.CURRENT_VERSION:
        db.close()
        raise ProjectError(
            f"{path} was written by a newer ageapp (project schema {version}, this app reads up to "
            f"{schema.CURRENT_VERSION}); update ageapp to open it"
        )
    if read_only and version < schema.CURRENT_VERSION:
        db.close()
        raise ProjectError(
            f"{path} uses an older project schema ({version}); open it once without read-only to upgrade it"
        )


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]
