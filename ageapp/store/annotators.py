"""The people who answer comparisons, each with a reliability beta (estimated later from gold answers)."""

from __future__ import annotations

import sqlite_utils


def annotator_id_for(db: sqlite_utils.Database, name: str) -> int:
    """The id of the annotator with this name, added (with the default beta) if new."""
    name = name.strip()
    if not name:
        raise ValueError("an annotator needs a name")
    db.execute("INSERT OR IGNORE INTO annotators (name) VALUES (?)", [name])
    return db.execute("SELECT id FROM annotators WHERE name = ?", [name]).fetchone()[0]


def set_beta(db: sqlite_utils.Database, annotator_id: int, beta: float) -> None:
    if not beta > 0:
        raise ValueError(f"beta must be positive, not {beta}")
    db.execute("UPDATE annotators SET beta = ? WHERE id = ?", [beta, annotator_id])


def list_annotators(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM annotators ORDER BY id"))


def annotator_beta(db: sqlite_utils.Database, annotator_id: int) -> float:
    return db.execute("SELECT beta FROM annotators WHERE id = ?", [annotator_id]).fetchone()[0]
