"""The user's preferences: typed, versioned, in one JSON file (no Qt; the UI passes the file's path in).

`load_preferences(path) -> LoadedPreferences(preferences, message)` never raises nor blocks for a bad file: a
file that cannot be parsed (or is not a regular file: a pipe, a link to a device; or larger than any preferences
file: MAX_FILE_BYTES; or nested too deeply) is kept beside it as `<name>.bak` and the defaults are used; a field
with a value of the wrong kind or out of range (infinite numbers, a recent project whose name no file system takes)
falls back to its default. `message` says what happened and what to do ("" when all was well).
`save_preferences(path, preferences)` writes atomically (tmp + os.replace) and raises `PreferencesError`,
worded for the user, when the folder is not writable.

The file carries `version`. An older file is brought up to date by the numbered steps in `MIGRATIONS`
(each takes the dict of version N and returns version N + 1); a file from a newer ageapp is read as far as
this version understands it, and kept as `.bak` so that saving here does not lose what it held.

Version history
1. The first layout (development builds): flat names taken over from the QSettings keys they replaced —
   `yunet_path`, `detector` ("yunet" / "haar"), `recent_limit`, `threads`, `log_level` as a number (20 = INFO).
2. Names that say what they are (`detector_path`, `detector_kind`, `recent_projects_count`, `torch_threads`),
   the log level by name, and `camera_index`, `backup_minutes`, `hide_posterior` for new projects; `training`
   (the train page's last choices, formerly in QSettings).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ageapp.files import NotARegularFile, open_regular

PREFERENCES_FILE_NAME = "preferences.json"
VERSION = 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DETECTOR_KINDS = ("yunet", "haar")
MAX_RECENT_PROJECTS = 50
MAX_CAMERA_INDEX = 9
MAX_TORCH_THREADS = 256
MAX_BACKUP_MINUTES = 24 * 60
MAX_FILE_BYTES = 1 << 20  # ours are a few kilobytes: a bigger file is not one, and is not read whole
MAX_PATH_CHARS, MAX_NAME_BYTES = 4096, 255  # what file systems take (PATH_MAX, NAME_MAX)
MAX_TRAINING_NUMBER = 1e12  # a remembered training choice beyond this (or infinite) is not one


class PreferencesError(Exception):
    """The preferences file could not be written; the message says where and what to do."""


@dataclass
class Preferences:
    # Estimation
    detector_path: str = ""  # a YuNet .onnx file; "" = none chosen (the Haar fallback, or $AGEAPP_DETECTOR)
    detector_kind: str = "yunet"  # the Estimate ▸ Detector choice: "yunet" (when a file is set) or "haar"
    camera_index: int = 0  # the camera the Camera tab starts with (0 = the first)
    torch_threads: int = 0  # threads for the network while estimating; 0 = automatic (half the cores)
    # Labelling
    annotator: str = ""  # who labels on this computer ("" = ask when a project opens)
    hide_posterior: bool = False  # new projects: hide the live posterior while comparing
    backup_minutes: int = 10  # new projects: a rolling backup at most this often while labelling
    # The window
    recent_projects_count: int = 10
    recent_projects: list[str] = field(default_factory=list)  # most recent first
    # Diagnostics
    log_level: str = "INFO"
    # The train page's last choices (ageapp.ui.train.choices.TrainChoices as a dict; it checks the values)
    training: dict = field(default_factory=dict)

    def validated(self) -> tuple["Preferences", list[str]]:
        """A copy with every value in range, and the names of the fields that had to be corrected."""
        corrected: list[str] = []
        values = asdict(self)
        defaults = Preferences()

        def fix(name: str, ok: bool, replacement: Any = None) -> None:
            if not ok:
                values[name] = getattr(defaults, name) if replacement is None else replacement
                corrected.append(name)

        fix("detector_kind", values["detector_kind"] in DETECTOR_KINDS)
        fix("camera_index", 0 <= values["camera_index"] <= MAX_CAMERA_INDEX)
        fix("torch_threads", 0 <= values["torch_threads"] <= MAX_TORCH_THREADS)
        fix("backup_minutes", 1 <= values["backup_minutes"] <= MAX_BACKUP_MINUTES)
        fix("recent_projects_count", 1 <= values["recent_projects_count"] <= MAX_RECENT_PROJECTS)
        fix("log_level", values["log_level"] in LOG_LEVELS)
        values["annotator"] = values["annotator"].strip()
        recent = [path for path in values["recent_projects"] if _plausible_path(path)]
        fix("recent_projects", len(recent) == len(values["recent_projects"]), recent)
        values["recent_projects"] = values["recent_projects"][: values["recent_projects_count"]]
        training = _plain_training(values["training"])
        fix("training", training == values["training"], training)
        return Preferences(**values), corrected

    def preferred_detector(self) -> str | None:
        """The detector these preferences name for ageapp.model.resolve.choose_detector's `preferred`: "haar"
        (the Haar cascade chosen), a YuNet file, or None (none chosen)."""
        return "haar" if self.detector_kind == "haar" else (self.detector_path or None)

    def log_level_number(self) -> int:
        return getattr(logging, self.log_level, logging.INFO)


def _plausible_path(path: str) -> bool:
    """A path a file system could hold (a name of 5,000 characters makes every look-up raise)."""
    return (0 < len(path) <= MAX_PATH_CHARS and "\0" not in path
            and all(len(part.encode("utf-8", "surrogateescape")) <= MAX_NAME_BYTES for part in Path(path).parts))


def _plain_training(values: dict) -> dict:
    """The train page's remembered choices, without those no choice can be: numbers that are infinite or beyond
    MAX_TRAINING_NUMBER, and anything but text, true/false, numbers, null and lists of them (the train page
    checks the rest)."""
    def plain(value, nested: bool = False) -> bool:
        if value is None or isinstance(value, (str, bool)):
            return True
        if isinstance(value, list) and not nested:  # a list of such values (the extra data folders)
            return all(plain(item, True) for item in value)
        return isinstance(value, (int, float)) and abs(value) <= MAX_TRAINING_NUMBER  # (inf, NaN: False)
    return {key: value for key, value in values.items() if isinstance(key, str) and plain(value)}


@dataclass(frozen=True)
class LoadedPreferences:
    preferences: Preferences
    message: str = ""  # "" when the file was read as it is; else what happened and what to do


# Migrations ---------------------------------------------------------------------------------------------------

def _v1_to_v2(data: dict) -> dict:
    renamed = {"yunet_path": "detector_path", "detector": "detector_kind", "recent_limit": "recent_projects_count",
               "threads": "torch_threads"}
    out = {renamed.get(key, key): value for key, value in data.items()}
    level = out.get("log_level")
    if isinstance(level, int) and not isinstance(level, bool):
        out["log_level"] = logging.getLevelName(level) if logging.getLevelName(level) in LOG_LEVELS else "INFO"
    out["version"] = 2
    return out


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}  # from version N to N + 1


def migrate(data: dict) -> dict:
    """Apply the steps from the file's version up to VERSION (a file without `version` is version 1)."""
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"its version {version!r} is not a positive whole number")
    while version < VERSION:
        data = MIGRATIONS[version](dict(data))
        version = data["version"]
    return data


# Reading and writing -----------------------------------------------------------------------------------------

def _coerce(value: Any, default: Any) -> Any:
    """The value in the type of the field's default; TypeError/ValueError when it cannot be."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise TypeError("not true/false")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value != int(value):
            raise TypeError("not a whole number")
        return int(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise TypeError("not an object")
        return dict(value)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise TypeError("not a list of text")
        return list(value)
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def preferences_from_dict(data: dict) -> tuple[Preferences, list[str]]:
    """Known fields taken over (wrong kinds -> default), then validated; returns the names that were reset."""
    defaults = Preferences()
    values: dict[str, Any] = {}
    reset: list[str] = []
    for f in fields(Preferences):
        if f.name not in data:
            continue
        try:
            values[f.name] = _coerce(data[f.name], getattr(defaults, f.name))
        except (TypeError, ValueError, OverflowError):
            reset.append(f.name)
    preferences, corrected = Preferences(**values).validated()
    return preferences, reset + [name for name in corrected if name not in reset]


def _keep_as_backup(path: Path) -> Path | None:
    backup = path.with_name(path.name + ".bak")
    try:
        os.replace(path, backup)
        return backup
    except OSError:
        return None


def _read(path: Path) -> bytes:
    """The file's bytes: a regular file only (never blocks on a pipe, never reads a device), at most
    MAX_FILE_BYTES + 1 of them."""
    with open_regular(path, "rb", what="preferences file") as handle:
        return handle.read(MAX_FILE_BYTES + 1)


def load_preferences(path: str | Path) -> LoadedPreferences:
    path = Path(path)
    try:
        raw = _read(path)
    except FileNotFoundError:
        if path.is_symlink():
            return _damaged(path, "it is a link to a file that is not there")
        return LoadedPreferences(Preferences())
    except NotARegularFile as error:
        return _damaged(path, f"it is not a regular file ({error})")
    except OSError as error:
        return _damaged(path, f"it could not be read ({error.strerror or error})")
    if len(raw) > MAX_FILE_BYTES:
        return _damaged(path, f"it is larger than {MAX_FILE_BYTES // 1024} KB, far more than any preferences file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _damaged(path, f"it could not be read ({error})")
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        version = data.get("version", 1)
        newer = isinstance(version, int) and not isinstance(version, bool) and version > VERSION
        data = data if newer else migrate(data)
    except RecursionError:
        return _damaged(path, "it is not a valid preferences file (nested too deeply)")
    except (ValueError, KeyError, TypeError) as error:
        return _damaged(path, f"it is not a valid preferences file ({error})")
    preferences, reset = preferences_from_dict(data)
    notes = []
    if newer:
        backup = path.with_name(path.name + ".bak")
        try:
            backup.write_text(text, encoding="utf-8")
            kept = f" The file was copied to {backup}."
        except OSError:
            kept = ""
        notes.append(f"{path} was written by a newer ageapp (preferences version {version}; this one reads "
                     f"version {VERSION}). The settings this version knows were used.{kept}")
    if reset:
        notes.append(f"Some preferences in {path} had values that make no sense ({', '.join(reset)}); "
                     "their defaults are used. Check them in File ▸ Preferences….")
    return LoadedPreferences(preferences, " ".join(notes))


def _damaged(path: Path, why: str) -> LoadedPreferences:
    backup = _keep_as_backup(path)
    kept = f"It was kept as {backup}" if backup else "It could not be moved aside"
    return LoadedPreferences(
        Preferences(),
        f"Your preferences file {path} was not used: {why}. {kept}; the default preferences are in use. "
        "Set your preferences again in File ▸ Preferences… (or copy values over from the kept file).",
    )


def save_preferences(path: str | Path, preferences: Preferences) -> None:
    path = Path(path)
    preferences, _ = preferences.validated()
    data = {"version": VERSION, **asdict(preferences)}
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        raise PreferencesError(
            f"The preferences could not be saved to {path}: {error.strerror or error}. Check that the folder "
            f"{path.parent} is writable (and the disk not full); until then changes last only until ageapp closes."
        ) from error


class PreferencesStore:
    """One preferences file: `load()` reads it each time (it is small; every part of the app sees the same
    values), `update(**changes)` reads, changes and writes. The first load's message waits in
    `take_message()` for the window to show it once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._message = ""
        self._loaded_once = False

    def load(self) -> Preferences:
        loaded = load_preferences(self.path)
        if loaded.message and not self._loaded_once:
            self._message = loaded.message
        self._loaded_once = True
        return loaded.preferences

    def save(self, preferences: Preferences) -> None:
        save_preferences(self.path, preferences)

    def update(self, **changes: Any) -> Preferences:
        unknown = set(changes) - {f.name for f in fields(Preferences)}
        if unknown:
            raise KeyError(f"unknown preferences: {', '.join(sorted(unknown))}")
        values = {**asdict(self.load()), **changes}
        preferences = Preferences(**values)
        self.save(preferences)
        return preferences

    def take_message(self) -> str:
        message, self._message = self._message, ""
        return message
