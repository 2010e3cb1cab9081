"""What the shell keeps between sessions: the window's geometry and dock layout in QSettings; recent
projects and who labels on this computer in the typed preferences file (ageapp.preferences, through
ageapp.ui.shell.preferences.default_store()).

QSettings() is built from the application's organisation and name ("ageapp"); tests point it at a
temporary folder with QSettings.setPath and the preferences at one with AGEAPP_CONFIG_DIR (tests/ui/conftest.py).
Values that older builds kept in QSettings (recent projects, the annotator) move to the preferences file the
first time they are read, and leave QSettings.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from ageapp.preferences import Preferences, PreferencesError, PreferencesStore
from ageapp.ui.shell.preferences import default_store

RECENT_LIMIT = Preferences().recent_projects_count  # the default; File ▸ Preferences… changes it
_GEOMETRY_KEY = "main_window/geometry"
_STATE_KEY = "main_window/state"
_FOLDER_KEY = "folders/"  # + a kind ("images", "projects", "exports", "detector"): the last folder used
_FILE_KEY = "files/"  # + a kind ("detector"): the last file chosen
_OPEN_KEY = "open_projects/"  # + a hash of the project's path: the record of a session that has it open
_LEGACY_RECENT_KEY = "recent_projects"  # QSettings keys of builds before the preferences file
_LEGACY_ANNOTATOR_KEY = "labelling/annotator"

log = logging.getLogger("ageapp.settings")


class AppSettings:
    """Typed access to the few values the shell keeps between sessions."""

    def __init__(self, settings: QSettings | None = None, store: PreferencesStore | None = None):
        self._settings = settings if settings is not None else QSettings()
        self.store = store if store is not None else default_store()
        self._migrate_from_qsettings()

    # Recent projects -----------------------------------------------------------------------------

    def recent_projects(self) -> list[Path]:
        """Most recent first; entries whose file no longer exists are pruned (and the pruning saved)."""
        stored = self.store.load().recent_projects
        existing = [Path(entry) for entry in stored if Path(entry).is_file()]
        if len(existing) != len(stored):
            self._write_recent(existing)
        return existing

    def add_recent_project(self, path: str | Path) -> list[Path]:
        """Put `path` first (once), keep at most the preferred number; returns the new list."""
        path = Path(path).resolve()
        limit = self.store.load().recent_projects_count
        entries = [path] + [entry for entry in self.recent_projects() if entry.resolve() != path]
        entries = entries[:limit]
        self._write_recent(entries)
        return entries

    def remove_recent_project(self, path: str | Path) -> list[Path]:
        path = Path(path).resolve()
        entries = [Path(entry) for entry in self.store.load().recent_projects if Path(entry).resolve() != path]
        self._write_recent(entries)
        return self.recent_projects()

    def clear_recent_projects(self) -> None:
        self._write_recent([])

    # Window layout (QSettings) ---------------------------------------------------------------------

    def window_geometry(self) -> QByteArray | None:
        return self._read_bytes(_GEOMETRY_KEY)

    def window_state(self) -> QByteArray | None:
        return self._read_bytes(_STATE_KEY)

    def save_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self._settings.setValue(_GEOMETRY_KEY, geometry)
        self._settings.setValue(_STATE_KEY, state)
        self._settings.sync()

    # File dialogs (QSettings) ----------------------------------------------------------------------

    def last_folder(self, kind: str) -> Path | None:
        """The folder a file dialog of this kind was last used in, if it still exists."""
        value = self._settings.value(_FOLDER_KEY + kind)
        return Path(value) if value and Path(str(value)).is_dir() else None

    def set_last_folder(self, kind: str, path: str | Path) -> None:
        """Remember the folder of `path` (itself if it is a folder) for the next dialog of this kind."""
        path = Path(path)
        self._settings.setValue(_FOLDER_KEY + kind, str(path if path.is_dir() else path.parent))

    def last_file(self, kind: str) -> Path | None:
        """The file last chosen for this kind (the face detector's model), if it still exists."""
        value = self._settings.value(_FILE_KEY + kind)
        return Path(value) if value and Path(str(value)).is_file() else None

    def set_last_file(self, kind: str, path: str | Path) -> None:
        self._settings.setValue(_FILE_KEY + kind, str(path))

    # Projects open for writing (ageapp.annotation.recovery) ----------------------------------------------

    def open_record(self, project: str | Path) -> str | None:
        """The record written when this project was opened for writing and not closed since (its text)."""
        value = self._settings.value(_open_key(project))
        return None if value in (None, "") else str(value)

    def set_open_record(self, project: str | Path, record: str | None) -> None:
        """Write (None: remove) the record; synced at once, so that it survives a crash right after."""
        if record is None:
            self._settings.remove(_open_key(project))
        else:
            self._settings.setValue(_open_key(project), record)
        self._settings.sync()

    # Labelling -------------------------------------------------------------------------------------

    def annotator(self) -> str:
        """The name the labeller last chose here ("" if none yet)."""
        return self.store.load().annotator

    def set_annotator(self, name: str) -> None:
        self._update(annotator=name.strip())

    # Helpers ------------------------------------------------------------------------------------------

    def _write_recent(self, entries: list[Path]) -> None:
        self._update(recent_projects=[str(entry) for entry in entries])

    def _update(self, **changes) -> None:
        """Save; a config folder that cannot be written is logged, not fatal (the value lasts this session
        only where the caller keeps it)."""
        try:
            self.store.update(**changes)
        except PreferencesError as error:
            log.warning("%s", error)

    def _migrate_from_qsettings(self) -> None:
        keys = [key for key in (_LEGACY_RECENT_KEY, _LEGACY_ANNOTATOR_KEY) if self._settings.contains(key)]
        if not keys:
            return
        current = self.store.load()
        changes: dict = {}
        if _LEGACY_RECENT_KEY in keys and not current.recent_projects:
            changes["recent_projects"] = self._read_list(_LEGACY_RECENT_KEY)[: current.recent_projects_count]
        legacy_name = str(self._settings.value(_LEGACY_ANNOTATOR_KEY, "") or "").strip()
        if legacy_name and not current.annotator:
            changes["annotator"] = legacy_name
        try:
            if changes:
                self.store.update(**changes)
        except PreferencesError as error:
            log.warning("settings not moved to the preferences file: %s", error)
            return
        for key in keys:
            self._settings.remove(key)
        self._settings.sync()

    def _read_list(self, key: str) -> list[str]:
        value = self._settings.value(key, [])
        if value is None or value == "":
            return []
        if isinstance(value, str):  # an INI file gives back a one-element list as a plain string
            return [value]
        return [str(entry) for entry in value]

    def _read_bytes(self, key: str) -> QByteArray | None:
        value = self._settings.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            return value
        if isinstance(value, (bytes, bytearray)) and value:
            return QByteArray(bytes(value))
        return None


def _open_key(project: str | Path) -> str:
    import hashlib

    return _OPEN_KEY + hashlib.sha1(str(Path(project).resolve()).encode()).hexdigest()[:16]
