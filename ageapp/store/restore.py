"""Putting a backup back: `restore_backup(BACKUP, PROJECT)`, what `ageapp restore` and File ▸ Restore from
backup… do.

Copying a backup over the project by hand goes wrong when the project's journal (-wal) from a crash is still
beside it: SQLite would merge that journal into the backup. So the restore takes the project's lock (nobody
may have it open for writing), checks the backup (an ageapp project this app reads, sound by SQLite's
integrity check), moves the project with its -wal and -shm aside into a dated folder (nothing is deleted),
then copies the backup in through SQLite's backup API under a temporary name and renames it into place.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ageapp.files import NotARegularFile, open_regular
from ageapp.store import journal, schema
from ageapp.store import lock as project_lock
from ageapp.store.backup import copy_project
from ageapp.store.errors import ProjectError, ProjectLocked


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
    try:
        aside = None
        if project.exists() or journal.wal_path(project).exists():
            aside = journal.set_aside(project, f"{project.name} as it was, with its journal, before the backup "
                                                        f"{backup.name} was restored over it")
        copy_project(backup, project)
    finally:
        lock.release()
    return RestoreReport(backup, project, aside, version)
