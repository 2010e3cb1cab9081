"""Project settings: a key/value table whose values are JSON; a key never set reads as its default."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from ageapp.core.names import MAX_AGE
from ageapp.core.posterior import AGE_MAX_DEFAULT
from ageapp.core.prior import PRIOR_POWER_DEFAULT

# Bounds a new project's range (0..age_max) must keep: a range narrower than 10 years compares nothing useful,
# and no dataset label beyond MAX_AGE (120) is a real age.
AGE_MAX_LOWEST, AGE_MAX_HIGHEST = 10, MAX_AGE

DEFAULT_SETTINGS: dict[str, Any] = {
    "age_max": AGE_MAX_DEFAULT,  # the oldest age a posterior covers (0-100 for new projects; widen with `ageapp range`)
    "detector_path": None,  # the project's YuNet .onnx: used unless a detector is named (ageapp.model.resolve)
    # Labelling protocol (ageapp.annotation.labelling_settings; method.md section 2), remembered per project:
    "protocol": "active",  # "paper" (a fixed number of references around a rough estimate) or "active"
    "comparisons": 6,  # paper: references per query
    "target_width": 8,  # active: stop once the 90% interval is at most this many years wide ...
    "max_comparisons": 12,  # ... or after this many references
    "gold_rate": 0.1,  # share of pairs that are gold checks (two references of known age)
    "hide_posterior": False,  # studies: keep the live posterior out of the labeller's sight while comparing
    # The comparison posterior's prior (ageapp.core.prior, store.priors): "uniform" (the paper's) or "model"
    # (the age model's posterior for the face, to the power prior_power in [0, 1], renormalised).
    "prior": "uniform",
    "prior_power": PRIOR_POWER_DEFAULT,
    # Gender (ageapp.annotation.gender): a predicted gender counts for the choice of references only when
    # the model gives it at least this probability; below it the face may be compared with either gender.
    "gender_confidence": 0.9,
    # Flagged queries sent back (ageapp.store.requeue) get at most this many more comparisons.
    "requeue_comparisons": 12,
    "backup_minutes": 10,  # a rolling copy in PROJECT.backups/ at most this often while labelling (store/backup.py)
    "backups_kept": 5,  # ... keeping this many copies
    # The posterior engine the stored posteriors were computed with (store.posteriors.refresh_posteriors);
    # projects from before this setting existed were computed by engine 1.
    "posterior_engine": 1,
    # [previous, current] token of the writing sessions (store/journal.py: whose journal a -wal is).
    "journal_session": None,
    # A team split (ageapp.annotation.team): {"id", "parts", "overlap", "seed"}, with "part" in each part's file.
    "team_split": None,
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
