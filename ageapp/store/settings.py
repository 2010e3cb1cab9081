"""Project settings: a key/value table whose values are JSON; a key never set reads as its default."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from ageapp.core.posterior import AGE_MAX_DEFAULT

DEFAULT_SETTINGS: dict[str, Any] = {
    "age_max": AGE_MAX_DEFAULT,  # the oldest age a posterior covers
    "detector_path": None,  # YuNet .onnx for import when neither --detector nor AGEAPP_DETECTOR is given
}


def get_setting(db: sqlite_utils.Database, key: str) -> Any:
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    if row is not None:
        return json.loads(row[0])
    if key not in DEFAULT_SETTINGS:
        raise KeyError(f"unknown setting {key!r}; known: {', '.join(sorted(DEFAULT_SETTINGS))}")
    return DEFAULT_SETTINGS[key]


def set_setting(db: sqlite_utils.Database, key: str, value: Any) -> None:
    if key not in DEFAULT_SETTINGS:
        raise KeyError(f"unknown setting {key!r}; known: {', '.join(sorted(DEFAULT_SETTINGS))}")
    db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", [key, json.dumps(value)])
