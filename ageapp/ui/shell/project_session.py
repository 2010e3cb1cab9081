"""The open project: at most one at a time, opened through `ageapp.store.db.open_project`.

No widgets here: a failure raises `ProjectOpenError` whose message says what to do; the window shows it.
Pages learn about the project from the `project_opened(db)` / `project_closed()` signals.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ageapp.store.db import PROJECT_SUFFIX, ProjectError, ProjectReadOnly, open_project
from ageapp.store.settings import set_setting
from ageapp.annotation.events import EventBus
from ageapp.annotation.recovery import OpenRecord, recovery_notice
from ageapp.ui.shell.settings import AppSettings

log = logging.getLogger("ageapp.project")

__all__ = ["PROJECT_SUFFIX", "ProjectOpenError", "ProjectSession"]


class ProjectOpenError(Exception):
    """Why a project could not be opened or created, worded for the user."""


class ProjectSession(QObject):
    project_opened = Signal(object)  # the store's database handle (sqlite_utils.Database)
    project_closing = Signal()  # the project file is still open: last writes now
    project_closed = Signal()
    recent_projects_changed = Signal(list)  # list[Path], most recent first

    def __init__(self, settings: AppSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.path: Path | None = None
        self.db = None
        self.read_only_reason = ""  # set when the project could only be opened read-only: why
        self.open_notice = ""  # what the store said about the open (a journal set aside ...), if anything
        self.recovered = ""  # what the open found after a session that did not close properly (recovery.py)
        # What happens in the open project, for every page: the domain emits (an answer, a β adopted in the
        # study), each view listens (the label page's plot, queue and statistics), all in the same turn.
        self.events = EventBus()

    def is_open(self) -> bool:
        return self.db is not None

    def recent_projects(self) -> list[Path]:
        return self.settings.recent_projects()

    def open(self, path: str | Path, read_only: bool = False) -> None:
        path = Path(path).expanduser()
        if not path.exists():
            self.settings.remove_recent_project(path)
            self.recent_projects_changed.emit(self.recent_projects())
            raise ProjectOpenError(
                f"There is no project at {path}.\n\nIt may have been moved, renamed or deleted; "
                "use File ▸ Open project… to find it. It has been removed from the recent projects."
            )
        self._open(path, create=False, read_only=read_only)

    def create(self, path: str | Path) -> None:
        path = Path(path).expanduser()
        if path.suffix.lower() != PROJECT_SUFFIX:
            path = path.with_name(path.name + PROJECT_SUFFIX)
        if path.exists():
            raise ProjectOpenError(
                f"{path} already exists.\n\nUse File ▸ Open project… to open it, or choose another name "
                "for the new project."
            )
        self._open(path, create=True)

    def close(self) -> None:
        if self.db is None:
            return
        self.project_closing.emit()  # the pages finish what they write (a β refit) while the file is open
        db, path, self.db, self.path = self.db, self.path, None, None
        try:
            if not getattr(db, "read_only", False):
                self._forget_open(path)
            log.info("closed %s", path)
            db.close()
        finally:
            self.project_closed.emit()

    def _forget_open(self, path: Path) -> None:
        record = OpenRecord.decode(self.settings.open_record(path))
        if record is None or not record.left_by_another_run():
            self.settings.set_open_record(path, None)

    def _open(self, path: Path, create: bool, read_only: bool = False) -> None:
        reason = ""
        try:
            try:
                db = open_project(path, create=create, read_only=read_only)
            except ProjectReadOnly as error:  # still worth looking at: open it read-only, and say why
                db, reason = open_project(path, read_only=True), _sentence(str(error))
            if create:
                try:
                    self.apply_new_project_preferences(db)
                except ProjectError:
                    db.close()  # releases the lock; the message below says why
                    raise
        except ProjectError as error:
            log.warning("%s not %s: %s", path, "created" if create else "opened", error)
            raise ProjectOpenError(_sentence(str(error))) from error
        except OSError as error:
            log.warning("%s not %s: %s", path, "created" if create else "opened", error)
            raise ProjectOpenError(
                f"{path} could not be {'created' if create else 'opened'}: {error.strerror or error}.\n\n"
                "Check that the file is readable and its folder writable, or pick another location."
            ) from error
        self.close()
        self.db, self.path, self.read_only_reason, self.recovered = db, path.resolve(), reason, ""
        notices = [_sentence(notice) for notice in getattr(db, "notices", [])]
        for notice in notices:
            log.info("%s: %s", self.path.name, notice)
        if getattr(db, "read_only", False):
            log.info("opened %s read-only", self.path)
        else:
            left = OpenRecord.decode(self.settings.open_record(self.path))
            record = OpenRecord.now(db)
            if left is not None and left.left_by_another_run():
                self.recovered = recovery_notice(left, db, record.answers)
                log.warning("%s was not closed properly by process %d on %s (open since %s): %s", self.path,
                            left.pid, left.host, left.opened, self.recovered)
            self.settings.set_open_record(self.path, record.encode())
            log.info("opened %s (%d answers)", self.path, record.answers)
        self.open_notice = "\n\n".join(notices)
        self.settings.add_recent_project(self.path)
        self.recent_projects_changed.emit(self.recent_projects())
        self.project_opened.emit(db)

    def restore(self, backup: str | Path):
        """Put a backup back over the open project (store/restore.py), then open it again."""
        from ageapp.store.restore import restore_backup

        if self.path is None:
            raise ProjectOpenError("Open the project to restore first.")
        path = self.path
        self.close()
        log.info("restoring %s from the backup %s", path, backup)
        try:
            report = restore_backup(backup, path)
        except ProjectError as error:
            self._open(path, create=False)
            raise ProjectOpenError(_sentence(str(error))) from error
        self._open(path, create=False)
        return report

    def apply_new_project_preferences(self, db) -> None:
        """A new project starts with the user's preferred labelling defaults (File ▸ Preferences…)."""
        preferences = self.settings.store.load()
        with db.atomic():
            set_setting(db, "hide_posterior", preferences.hide_posterior)
            set_setting(db, "backup_minutes", preferences.backup_minutes)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")
