"""The window's persistent settings (QSettings): recent projects, window geometry and dock layout, and who
is labelling on this computer.

QSettings() is built from the application's organisation and name ("ageapp"); tests point it at a
temporary folder with QSettings.setPath (see tests/ui/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

RECENT_LIMIT = 10
_RECENT_KEY = "recent_projects"
_GEOMETRY_KEY = "main_window/geometry"
_STATE_KEY = "main_window/state"
_ANNOTATOR_KEY = "labelling/annotator"


class AppSettings:
    """Typed access to the few values the shell keeps between sessions."""

    def __init__(self, settings: QSettings | None = None):
        self._settings = settings if settings is not None else QSettings()

    # Recent projects -----------------------------------------------------------------------------

    def recent_projects(self) -> list[Path]:
        """Most recent first; entries whose file no longer exists are pruned (and the pruning saved)."""
        stored = self._read_list(_RECENT_KEY)
        existing = [Path(entry) for entry in stored if Path(entry).is_file()]
        if len(existing) != len(stored):
            self._write_recent(existing)
        return existing

    def add_recent_project(self, path: str | Path) -> list[Path]:
        """Put `path` first (once), keep at most RECENT_LIMIT; returns the new list."""
        path = Path(path).resolve()
        entries = [path] + [entry for entry in self.recent_projects() if entry.resolve() != path]
        entries = entries[:RECENT_LIMIT]
        self._write_recent(entries)
        return entries

    def remove_recent_project(self, path: str | Path) -> list[Path]:
        path = Path(path).resolve()
        entries = [entry for entry in self._read_paths() if entry.resolve() != path]
        self._write_recent(entries)
        return self.recent_projects()

    def clear_recent_projects(self) -> None:
        self._write_recent([])

    # Window layout ---------------------------------------------------------------------------------

    def window_geometry(self) -> QByteArray | None:
        return self._read_bytes(_GEOMETRY_KEY)

    def window_state(self) -> QByteArray | None:
        return self._read_bytes(_STATE_KEY)

    def save_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self._settings.setValue(_GEOMETRY_KEY, geometry)
        self._settings.setValue(_STATE_KEY, state)
        self._settings.sync()

    # Labelling -------------------------------------------------------------------------------------

    def annotator(self) -> str:
        """The name the labeller last chose here ("" if none yet)."""
        value = self._settings.value(_ANNOTATOR_KEY, "")
        return str(value).strip() if value else ""

    def set_annotator(self, name: str) -> None:
        self._settings.setValue(_ANNOTATOR_KEY, name.strip())
        self._settings.sync()

    # Helpers ------------------------------------------------------------------------------------------

    def _read_list(self, key: str) -> list[str]:
        value = self._settings.value(key, [])
        if value is None or value == "":
            return []
        if isinstance(value, str):  # an INI file gives back a one-element list as a plain string
            return [value]
        return [str(entry) for entry in value]

    def _read_paths(self) -> list[Path]:
        return [Path(entry) for entry in self._read_list(_RECENT_KEY)]

    def _write_recent(self, entries: list[Path]) -> None:
        self._settings.setValue(_RECENT_KEY, [str(entry) for entry in entries])
        self._settings.sync()

    def _read_bytes(self, key: str) -> QByteArray | None:
        value = self._settings.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            return value
        if isinstance(value, (bytes, bytearray)) and value:
            return QByteArray(bytes(value))
        return None
