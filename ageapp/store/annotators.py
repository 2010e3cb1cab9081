"""The people who answer comparisons, each with a reliability beta (estimated later from gold answers)."""

from __future__ import annotations

import json

import sqlite_utils

from ageapp.core.beta_model import DEFAULT, AnnotatorModel, BetaCurve


def annotator_id_for(db: sqlite_utils.Database, name: str) -> int:
    """The id of the annotator with this name, added (with the default beta) if new."""
    name = name.strip()
    if not name:
        raise ValueError("an annotator needs a name")
    db.execute("INSERT OR IGNORE INTO annotators (name) VALUES (?)", [name])
    return db.execute("SELECT id FROM annotators WHERE name = ?", [name]).fetchone()[0]


def find_annotator(db: sqlite_utils.Database, name: str) -> int | None:
    """The id of the annotator with this name, or None (nothing added)."""
    row = db.execute("SELECT id FROM annotators WHERE name = ?", [name.strip()]).fetchone()
    return None if row is None else row[0]


def set_beta(db: sqlite_utils.Database, annotator_id: int, beta: float) -> None:
    if not beta > 0:
        raise ValueError(f"beta must be positive, not {beta}")
    db.execute("UPDATE annotators SET beta = ? WHERE id = ?", [beta, annotator_id])


def list_annotators(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM annotators ORDER BY id"))


def annotator_beta(db: sqlite_utils.Database, annotator_id: int) -> float:
    return db.execute("SELECT beta FROM annotators WHERE id = ?", [annotator_id]).fetchone()[0]


def model_of(row: dict) -> AnnotatorModel:
    """An annotators row as the posterior's AnnotatorModel (a damaged curve reads as none)."""
    curve = None
    if row.get("beta_curve"):
        try:
            curve = BetaCurve.from_dict(json.loads(row["beta_curve"]))
        except ValueError:
            curve = None
    low, high = row.get("beta_low"), row.get("beta_high")
    return AnnotatorModel(beta=float(row["beta"]), log_sd=float(row.get("beta_log_sd") or 0.0), curve=curve,
                          interval=None if low is None or high is None else (float(low), float(high)),
                          n=int(row.get("beta_n") or 0), source=row.get("beta_source") or DEFAULT)


def annotator_models(db: sqlite_utils.Database) -> dict[int, AnnotatorModel]:
    return {row["id"]: model_of(row) for row in db.query("SELECT * FROM annotators")}


def annotator_model(db: sqlite_utils.Database, annotator_id: int) -> AnnotatorModel:
    rows = list(db.query("SELECT * FROM annotators WHERE id = ?", [annotator_id]))
    if not rows:
        raise KeyError(f"no annotator with id {annotator_id}")
    return model_of(rows[0])


def save_annotator_model(db: sqlite_utils.Database, annotator_id: int, model: AnnotatorModel) -> None:
    """Store the annotator's β estimate (commit with the posteriors it changes: call inside db.atomic())."""
    if not model.beta > 0:
        raise ValueError(f"beta must be positive, not {model.beta}")
    low, high = model.interval if model.interval is not None else (None, None)
    db.execute(
        "UPDATE annotators SET beta = ?, beta_log_sd = ?, beta_curve = ?, beta_source = ?, beta_n = ?,"
        " beta_low = ?, beta_high = ? WHERE id = ?",
        [float(model.beta), float(model.log_sd), None if model.curve is None else json.dumps(model.curve.as_dict()),
         model.source, int(model.n), low, high, annotator_id],
    )


def annotator_names(db: sqlite_utils.Database) -> dict[int, str]:
    return {row["id"]: row["name"] for row in db.query("SELECT id, name FROM annotators")}
