"""What can go wrong with a project file, each as a ProjectError whose message says what to do.

`storage_error` turns SQLite's refusals to read or write the file (a full disk, a file or drive that became
read-only, an I/O error, damage, a lock held too long by another program) into ProjectStorageError. SQLite
has already rolled the statement or transaction back when it reports them, so the project is as it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ageapp.store.backup import restore_hint


class ProjectError(Exception):
    """A project file that cannot be opened or used, with a reason the user can act on."""


class ProjectLocked(ProjectError):
    """The project is open for writing in another ageapp (this host or another)."""


class ProjectReadOnly(ProjectError):
    """The project file (or its folder) cannot be written: it can only be opened read-only."""


class ProjectStorageError(ProjectError, sqlite3.OperationalError):
    """The disk refused a read or write; the transaction was rolled back (still a sqlite3.OperationalError)."""


SQLITE_BUSY, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL = 5, 8, 10, 11, 13


def storage_error(error: sqlite3.Error, path: Path, opened_read_only: bool = False) -> ProjectStorageError | None:
    """The ProjectStorageError for a storage failure of the project at `path`, or None for other errors
    (constraints, SQL mistakes), which stay as they are."""
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    unsaved = "the last change was not saved (the project is as it was before it)"
    if code == SQLITE_READONLY and opened_read_only:
        return ProjectStorageError(f"{path} is open read-only: {unsaved}. Close it and open it normally (from a "
                                   f"writable folder) to make changes ({error})")
    messages = {
        SQLITE_FULL: f"the disk holding {path} is full: {unsaved}. Free some space on that disk, then do it again",
        SQLITE_READONLY: f"{path} cannot be written any more (the file, its folder or the drive became read-only): "
                         f"{unsaved}. Make it writable again, or reopen the project read-only",
        SQLITE_IOERR: f"reading or writing {path} failed (a disk I/O error: was the drive removed or the network "
                      f"share disconnected?): {unsaved}. Reconnect the drive, then reopen the project",
        SQLITE_CORRUPT: f"{path} is damaged: run `ageapp check {path}`, or {restore_hint(path)}",
        SQLITE_BUSY: f"{path} is busy: another program kept it locked for too long; {unsaved}. Close other "
                     "programs that use the project and try again",
    }
    if code not in messages:
        return None
    result = ProjectStorageError(f"{messages[code]} ({error})")
    result.sqlite_errorcode = code  # what SQLite said, for callers that must tell a full disk from the rest
    return result
