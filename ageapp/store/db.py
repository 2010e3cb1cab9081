"""Opening a project file: one SQLite database (suffix .ageproj) through sqlite-utils.

Every connection gets the same pragmas: WAL journaling (readers never block the writer), foreign keys on,
synchronous=FULL (a committed answer survives a power cut), a busy timeout for a second connection in a
worker thread. The schema version lives in `PRAGMA user_version`; schema.py brings older files up to date.
Writes go through sqlite-utils, which commits each statement at once unless it is inside `db.atomic()`.

Opening for writing takes the project's lock (lock.py: one writer per file, whatever its name); `db.close()`
releases it. A storage failure (full disk, read-only file, I/O error) surfaces as ProjectStorageError after
SQLite has rolled the transaction back, so nothing is half-written.

The journal (journal.py): opening for writing merges a -wal only if it is the project's own (and copies it
into the file then, so that the next crash's journal starts from the file), else sets it aside and says so
in `db.notices`; a read-only open never writes, reads past a journal it cannot vouch for
(the project as last saved, with a notice), and reads a project on a read-only disk from a temporary copy
when SQLite could not use its journal there. While writing, every transaction (`db.atomic()`) first checks
that the -wal is still the one SQLite writes to: if it was deleted or replaced, what was written is saved
into the project file, writing stops, and the error says what happened.

Only a regular file is opened: a pipe or device named as the project is refused before it is read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Generator
from pathlib import Path

import sqlite_utils

from ageapp.files import NotARegularFile, open_regular
from ageapp.store import journal, schema
from ageapp.store import lock as project_lock
from ageapp.store.backup import restore_hint
from ageapp.store.errors import ProjectError, ProjectLocked, ProjectReadOnly, ProjectStorageError, storage_error
from ageapp.store.identity import is_locked
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
        self.notices: list[str] = []  # what the user should know about this open (a journal set aside ...)
        self._watch: journal.JournalWatch | None = None
        self._stopped = ""  # why writing stopped (the journal was deleted or replaced), once it did
        self._temporary_copy: Path | None = None  # a read-only project read from a copy (see _connect)
        self._session_pending = False  # the journal session token goes with the first write (journal.py)
        self._merged_in = True  # whether the open merged the whole journal into the file (journal.merge_in)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._lock is not None:
                self._lock.release()
            if self._temporary_copy is not None:
                shutil.rmtree(self._temporary_copy, ignore_errors=True)

    def watch_journal(self) -> None:
        """Remember the -wal this connection writes to (after the open's first writes created it)."""
        self.execute("SELECT count(*) FROM sqlite_master").fetchone()
        self._watch = journal.JournalWatch(self.path)

    def check_journal(self) -> None:
        """Before a write: ProjectStorageError if writing stopped, or if the -wal is no longer SQLite's (then
        what was written is saved into the project first)."""
        if not self._stopped:
            self._notice_journal_change()
        if self._stopped:
            raise ProjectStorageError(self._stopped)

    def _notice_journal_change(self) -> None:
        """If the -wal was deleted or replaced: save what SQLite wrote into the project file, stop writing."""
        change = self._watch.change() if self._watch is not None else None
        if change is None:
            return
        wal = self._watch.wal
        moved = ""
        if change == "replaced":  # another program's file: not ours to merge, nor to delete on close
            moved = f" (that file was moved to {journal.set_aside(self.path, 'a file that replaced the journal in use')})"
        busy = 1
        with contextlib.suppress(sqlite3.Error):  # SQLite still holds the journal it wrote: copy it in
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        saved = "everything answered before was saved into the project file; this change was not saved"
        if busy:
            saved = ("what was answered is kept in memory until the project is closed: close it (do not quit "
                     "ageapp by force) to save it")
        self._stopped = (f"the project's journal {wal.name} was {change} by another program (a sync tool or a "
                         f"cleaner?) while ageapp was writing to it{moved}: {saved}. To keep the project safe "
                         "ageapp stopped writing to it. Close the project and open it again to go on, and keep "
                         "sync tools and cleaners away from its folder while it is open")

    @property
    def stopped(self) -> str:
        """Why this connection stopped writing ('' while it writes)."""
        return self._stopped

    def execute(self, sql: str, parameters=None) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as error:
            raise storage_error(error, self.path, self.read_only) or error

    @contextlib.contextmanager
    def atomic(self) -> Generator["ProjectDatabase", None, None]:
        outermost = not self.conn.in_transaction
        if outermost and not self.read_only:
            self.check_journal()
        record_session = outermost and self._session_pending
        try:
            with super().atomic():
                if record_session:
                    journal.record_session(self, self._merged_in)
                yield self
        except ProjectStorageError:
            raise
        except sqlite3.OperationalError as error:  # the COMMIT itself failed: rolled back by super().atomic()
            raise storage_error(error, self.path, self.read_only) or error
        if record_session:
            self._session_pending = False
        if outermost and not self.read_only and not self._stopped:
            self._notice_journal_change()  # noticed (and saved) now, said at the next write


def open_project(path: str | Path, create: bool = False, read_only: bool = False) -> ProjectDatabase:
    """Open (or with create=True, create) a project and bring its schema up to date.

    Refuses with ProjectError: a missing file (unless create), a file that is not SQLite (or not a regular
    file at all), a SQLite file that is not an ageapp project, a project written by a newer ageapp, and
    (read_only) one that needs upgrading. For writing it also refuses with ProjectReadOnly (the file or its
    folder cannot be written) and ProjectLocked (another ageapp has it open for writing, under any name).
    Close the database to release the lock. What the user should know about the open is in `db.notices`.
    """
    path = Path(path).expanduser()
    _check_file(path, create)
    lock, notices = None, []
    if not read_only:
        _check_writable(path)
        lock = project_lock.acquire(path)
    db = None
    try:
        if lock is not None and not lock.shared:
            notices.append(journal.vouch_or_set_aside(path))
        db = _connect(path, read_only, lock)
        if lock is not None and not lock.has_file_lock:
            lock.lock_created_file(path)
        _check_identity(db, path, create)
        _check_version(db, path, read_only)
        if not read_only:
            db.enable_wal()
            if not lock.shared:
                db._merged_in = journal.merge_in(db.conn)
            schema.migrate(db)
            refresh_posteriors(db)
            db._session_pending = not lock.shared
            db.watch_journal()
    except BaseException as error:
        close_project(db)
        if lock is not None:
            lock.release()
        if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, ProjectStorageError):
            raise ProjectError(f"{path} could not be opened as a project ({error}): the file is damaged or "
                               f"incomplete; {restore_hint(path)}") from None
        raise
    db.notices = [notice for notice in notices + db.notices if notice]
    return db


def close_project(db: sqlite_utils.Database | None) -> None:
    """Close a project's connection (releasing its lock); None does nothing."""
    if db is not None:
        db.close()


def _check_file(path: Path, create: bool) -> None:
    if path.is_dir():
        raise ProjectError(f"{path} is a folder; a project is a single {PROJECT_SUFFIX} file")
    if not path.exists():
        if path.is_symlink():
            raise ProjectError(f"{path} is a symbolic link to a file that is not there; pick the project file itself")
        if not create:
            raise ProjectError(f"no project at {path}: create one with `ageapp new {path}`")
        if not path.parent.is_dir():
            raise ProjectError(f"cannot create {path}: the folder {path.parent} does not exist")
        return
    try:
        with open_regular(path, "rb", what=f"{PROJECT_SUFFIX} project file") as file:
            header = file.read(len(SQLITE_HEADER))
    except NotARegularFile as error:
        raise ProjectError(str(error)) from None
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
        return _connect_read_only(path)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    return _configured(ProjectDatabase(conn, path, read_only, lock))


def _configured(db: ProjectDatabase) -> ProjectDatabase:
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = FULL")
    return db


def _connect_read_only(path: Path) -> ProjectDatabase:
    """A connection that cannot write the project nor its journal. Past a journal that is not the project's
    own (and that no writer is using), it reads the file as last saved; where SQLite cannot use the journal
    (a read-only folder: it could not create the journal's index, -shm), it reads a temporary copy of both."""
    if journal.has_journal(path) and not os.access(path.parent, os.W_OK):
        return _from_temporary_copy(path)
    notice = ""
    immutable = not os.access(path.parent, os.W_OK)
    writer_here = project_lock.held_here(path)  # (then its journal is ours, and no descriptor is opened to ask)
    if journal.has_journal(path) and not writer_here and not is_locked(path) and journal.project_is_ours_alone(path):
        reason = journal.verdict(path, thorough=False)
        if reason is not None:
            immutable = True
            notice = (f"{path.name}: its journal ({journal.wal_path(path).name}) is not merged because {reason}; "
                      "shown as the project was last saved. Opening it for writing sets that journal aside")
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    db = _configured(ProjectDatabase(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000), path, True))
    db.notices = [notice] if notice else []
    return db


def _from_temporary_copy(path: Path) -> ProjectDatabase:
    folder = Path(tempfile.mkdtemp(prefix="ageapp-read-"))
    try:
        for source in (path, journal.wal_path(path)):
            if source.exists() and stat.S_ISREG(source.stat().st_mode):
                shutil.copyfile(source, folder / source.name)
        db = _connect_read_only(folder / path.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    db.path, db._temporary_copy = path, folder
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
            f"{path} uses an older project schema ({version}); open it once for writing to upgrade it (in the window, "
            f"or with `ageapp check {path} --repair`)"
        )


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def project_path(db) -> Path | None:
    """The file behind a connection ("main" database); None for an in-memory one."""
    for _seq, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file)
    return None
