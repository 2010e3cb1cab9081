"""Opening a project file: one SQLite database (suffix .ageproj) through sqlite-utils.

Every connection gets the same pragmas: WAL journaling (readers never block the writer), foreign keys on,
synchronous=FULL (a committed answer survives a power cut), a busy timeout for a second connection in a
worker thread. The schema version lives in `PRAGMA user_version`; schema.py brings older files up to date.
Writes go through sqlite-utils, which commits each statement at once unless it is inside `db.atomic()`.

Opening for writing takes the project's lock (lock.py: one writer at a time); `db.close()` releases it.
A storage failure (full disk, read-only file, I/O error) surfaces as ProjectStorageError after SQLite has
rolled the transaction back, so nothing is half-written.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Generator
from pathlib import Path

import sqlite_utils

from ageapp.store import lock as project_lock
from ageapp.store import schema
from ageapp.store.backup import backups_folder
from ageapp.store.errors import ProjectError, ProjectLocked, ProjectReadOnly, ProjectStorageError, storage_error
from ageapp.store.posteriors import refresh_posteriors

__all__ = ["PROJECT_SUFFIX", "ProjectDatabase", "ProjectError", "ProjectLocked", "ProjectReadOnly",
           "ProjectStorageError", "close_project", "open_project", "schema_version"]

PROJECT_SUFFIX = ".ageproj"
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000


class ProjectDatabase(sqlite_utils.Database):
    """A project's connection: knows its file, turns storage failures into ProjectStorageError, and
    releases the project's lock on close (also as a context manager: `with open_project(p) as db:`)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, read_only: bool,
                 lock: project_lock.ProjectLock | None = None):
        super().__init__(conn, execute_plugins=False)
        self.path, self.read_only, self._lock = path, read_only, lock

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def execute(self, sql: str, parameters=None) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as error:
            raise storage_error(error, self.path, self.read_only) or error

    @contextlib.contextmanager
    def atomic(self) -> Generator["ProjectDatabase", None, None]:
        try:
            with super().atomic():
                yield self
        except ProjectStorageError:
            raise
        except sqlite3.OperationalError as error:  # the COMMIT itself failed: rolled back by super().atomic()
            raise storage_error(error, self.path, self.read_only) or error


def open_project(path: str | Path, create: bool = False, read_only: bool = False) -> ProjectDatabase:
    """Open (or with create=True, create) a project and bring its schema up to date.

    Refuses with ProjectError: a missing file (unless create), a file that is not SQLite, a SQLite file that
    is not an ageapp project, a project written by a newer ageapp, and (read_only) one that needs upgrading.
    For writing it also refuses with ProjectReadOnly (the file or its folder cannot be written) and
    ProjectLocked (another ageapp has it open for writing). Close the database to release the lock.
    """
    path = Path(path).expanduser()
    _check_file(path, create)
    lock = None
    if not read_only:
        _check_writable(path)
        lock = project_lock.acquire(path)
    db = None
    try:
        db = _connect(path, read_only, lock)
        _check_identity(db, path, create)
        _check_version(db, path, read_only)
        if not read_only:
            db.enable_wal()
            schema.migrate(db)
            refresh_posteriors(db)
    except BaseException as error:
        close_project(db)
        if lock is not None:
            lock.release()
        if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, ProjectStorageError):
            raise ProjectError(f"{path} could not be opened as a project ({error}): the file is damaged or "
                               f"incomplete; restore the latest copy from {backups_folder(path)}, or another copy "
                               "you have") from None
        raise
    return db


def close_project(db: sqlite_utils.Database | None) -> None:
    """Close a project's connection (releasing its lock); None does nothing."""
    if db is not None:
        db.close()


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


def _check_writable(path: Path) -> None:
    """A project is written next to itself (its -wal and -shm files, its lock): file and folder must be writable."""
    if not os.access(path.parent, os.W_OK):
        if not path.exists():
            raise ProjectError(f"cannot create {path}: the folder {path.parent} is read-only; choose another folder")
        raise ProjectReadOnly(f"{path} is in a read-only folder (a project writes its journal next to itself): "
                              "open it read-only to look at it, or copy it to a writable folder to go on working in it")
    if path.exists() and not os.access(path, os.W_OK):
        raise ProjectReadOnly(f"{path} is read-only: open it read-only to look at it, or make the file writable "
                              "(or copy it) to go on working in it")


def _connect(path: Path, read_only: bool, lock: project_lock.ProjectLock | None) -> ProjectDatabase:
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        if not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists():
            # On a read-only disk SQLite cannot create the WAL index; with no journal left to replay the file
            # cannot change under us, so SQLite may read it as immutable.
            uri += "&immutable=1"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    else:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    db = ProjectDatabase(conn, path, read_only, lock)
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
