"""Automatic backups: rolling copies of a project in `PROJECT.backups/` (study.ageproj -> study.backups/).

A copy is taken with SQLite's online backup API through its own read-only connection, so it is a consistent
snapshot even while the labeller keeps answering, and it can run in a worker thread. It is written under a
temporary name and renamed, so a crash mid-copy never leaves a half backup that looks whole. Each copy is
a complete project file (`name-YYYYmmddTHHMMSS.ffffffZ.ageproj`): open it like any project to restore.

`BackupScheduler.maybe_backup()` is meant to be called after every answer (cheap unless a copy is due),
`close()` when the project closes; a failed copy (full disk...) never interrupts labelling: it is reported
in `last_error` and tried again one interval later.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ageapp.store.journal import mark_as_copy

if TYPE_CHECKING:
    import sqlite_utils

BACKUPS_SUFFIX = ".backups"
PROJECT_SUFFIX = ".ageproj"
PARTIAL_SUFFIX = ".partial"


def backups_folder(project: Path) -> Path:
    return Path(project).with_suffix(BACKUPS_SUFFIX)


def restore_hint(project: Path) -> str:
    """What to do to put a backup back, for messages: the command with the newest backup, if there is one."""
    project = Path(project)
    backups = list_backups(project)
    backup = backups[-1] if backups else backups_folder(project) / f"{project.stem}-….ageproj"
    where = "" if backups else f" (backups are kept in {backups_folder(project)}, if any were made)"
    return (f"restore a backup with `ageapp restore {backup} {project}` or File ▸ Restore from backup… in the "
            f"window{where}")


def list_backups(project: Path) -> list[Path]:
    """The project's rolling backups, oldest first."""
    folder = backups_folder(project)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{Path(project).stem}-*{PROJECT_SUFFIX}"))


def copy_project(project: Path, destination: Path) -> Path:
    """A consistent copy of the project at `destination` (which must not be the project itself)."""
    project, destination = Path(project), Path(destination)
    partial = destination.with_name(destination.name + PARTIAL_SUFFIX)
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(f"{project.resolve().as_uri()}?mode=ro", uri=True)) as source, \
                closing(sqlite3.connect(partial)) as target:
            source.backup(target)  # all pages in one step: one read transaction, one snapshot
            mark_as_copy(target)
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return destination


def rolling_backup(project: Path, keep: int) -> Path:
    """Copy the project into its backups folder and delete all but the newest `keep` copies."""
    project = Path(project)
    folder = backups_folder(project)
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    copy = copy_project(project, folder / f"{project.stem}-{stamp}{PROJECT_SUFFIX}")
    for old in list_backups(project)[:-keep]:
        old.unlink(missing_ok=True)
    return copy


class BackupScheduler:
    """A copy every `interval_s` seconds while answers come in, and one on close if anything changed."""

    def __init__(self, project: Path, interval_s: float = 600.0, keep: int = 5,
                 clock: Callable[[], float] = time.monotonic):
        if interval_s <= 0 or keep < 1:
            raise ValueError("backups need a positive interval and keep at least one copy")
        self.project, self.interval_s, self.keep, self.clock = Path(project), interval_s, keep, clock
        self._last = clock()  # the session starts from the file as it was opened: nothing to copy yet
        self._changed = False
        self.last_error: str | None = None

    @classmethod
    def for_project(cls, db: sqlite_utils.Database, path: Path, **kwargs) -> "BackupScheduler":
        """A scheduler with the project's settings `backup_minutes` and `backups_kept`."""
        from ageapp.store.settings import get_setting

        return cls(path, 60.0 * float(get_setting(db, "backup_minutes")), int(get_setting(db, "backups_kept")),
                   **kwargs)

    def maybe_backup(self, now: float | None = None) -> Path | None:
        """Call after an answer was committed: copies the project when the interval has passed."""
        self._changed = True
        now = self.clock() if now is None else now
        if now - self._last < self.interval_s:
            return None
        return self._backup(now)

    def close(self) -> Path | None:
        """Call when the project closes: a last copy if anything was answered since the previous one."""
        return self._backup(self.clock()) if self._changed else None

    def _backup(self, now: float) -> Path | None:
        self._last = now
        try:
            copy = rolling_backup(self.project, self.keep)
        except (OSError, sqlite3.Error) as error:
            self.last_error = (f"the automatic backup of {self.project.name} into {backups_folder(self.project)} "
                               f"failed ({error}); labelling goes on, the next try is in "
                               f"{self.interval_s / 60:.0f} min")
            return None
        self._changed, self.last_error = False, None
        return copy


def checkpoint(project: Path) -> bool:
    """Copy the write-ahead log into the project file now (PASSIVE); False if SQLite could not."""
    try:
        uri = f"{Path(project).resolve().as_uri()}?mode=rw"  # never creates a file that went missing
        with closing(sqlite3.connect(uri, uri=True, timeout=1.0)) as conn:
            busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy == 0
    except sqlite3.Error:
        return False  # the next pause tries again; SQLite's own checkpoint still works
