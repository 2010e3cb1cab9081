"""Training runs (config, per-epoch metrics, checkpoint, final evaluation, status) and the models they made.

At most one model is active (a partial unique index enforces it); estimation uses the active one.
"""

from __future__ import annotations

import json

import sqlite_utils

RUN_STATUSES = ("running", "finished", "failed", "cancelled")
JSON_COLUMNS = ("config", "epochs", "evaluation")


def start_run(db: sqlite_utils.Database, config: dict) -> int:
    return db.execute("INSERT INTO runs (config) VALUES (?)", [json.dumps(config)]).lastrowid


def add_epoch(db: sqlite_utils.Database, run_id: int, metrics: dict) -> None:
    """Append one epoch's metrics to the run (in SQL, so no read-modify-write race)."""
    db.execute(
        "UPDATE runs SET epochs = json_insert(epochs, '$[#]', json(?)) WHERE id = ?", [json.dumps(metrics), run_id]
    )


def finish_run(
    db: sqlite_utils.Database,
    run_id: int,
    status: str,
    *,
    checkpoint_path: str | None = None,
    evaluation: dict | None = None,
    message: str | None = None,
) -> None:
    if status not in RUN_STATUSES[1:]:
        raise ValueError(f"a run finishes as one of {RUN_STATUSES[1:]}, not {status!r}")
    db.execute(
        "UPDATE runs SET status = ?, checkpoint_path = ?, evaluation = ?, message = ?,"
        " finished = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
        [status, checkpoint_path, None if evaluation is None else json.dumps(evaluation), message, run_id],
    )


def get_run(db: sqlite_utils.Database, run_id: int) -> dict:
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    if not rows:
        raise KeyError(f"no training run with id {run_id}")
    run = rows[0]
    for column in JSON_COLUMNS:
        run[column] = None if run[column] is None else json.loads(run[column])
    return run


def add_model(db: sqlite_utils.Database, name: str, checkpoint_path: str, run_id: int | None = None) -> int:
    return db.execute(
        "INSERT INTO models (name, checkpoint_path, run_id) VALUES (?, ?, ?)", [name, str(checkpoint_path), run_id]
    ).lastrowid


def activate_model(db: sqlite_utils.Database, model_id: int) -> None:
    """Make this model the active one (and no other), in one transaction."""
    with db.atomic():
        if db.execute("SELECT 1 FROM models WHERE id = ?", [model_id]).fetchone() is None:
            raise KeyError(f"no model with id {model_id}")
        db.execute("UPDATE models SET active = 0 WHERE active = 1")
        db.execute("UPDATE models SET active = 1 WHERE id = ?", [model_id])


def active_model(db: sqlite_utils.Database) -> dict | None:
    rows = list(db.query("SELECT * FROM models WHERE active = 1"))
    return rows[0] if rows else None


def reopen_run(db: sqlite_utils.Database, run_id: int) -> None:
    """A cancelled or failed run resumed: running again, its message and end time cleared (epochs kept)."""
    cursor = db.execute("UPDATE runs SET status = 'running', message = NULL, finished = NULL WHERE id = ?", [run_id])
    if cursor.rowcount == 0:
        raise KeyError(f"no training run with id {run_id}")


def list_runs(db: sqlite_utils.Database) -> list[dict]:
    """Every run, oldest first, JSON columns decoded, with `model_id` and `active` of the model it made (if any)."""
    runs = []
    for run in db.query(
        "SELECT runs.*, models.id AS model_id, coalesce(models.active, 0) AS active FROM runs"
        " LEFT JOIN models ON models.id ="
        " (SELECT id FROM models WHERE run_id = runs.id ORDER BY active DESC, id LIMIT 1)"
        " ORDER BY runs.id"
    ):
        for column in JSON_COLUMNS:
            run[column] = None if run[column] is None else json.loads(run[column])
        runs.append(run)
    return runs


def model_for_run(db: sqlite_utils.Database, run_id: int, name: str, checkpoint_path: str) -> int:
    """The model a run made (added the first time it is asked for)."""
    row = db.execute("SELECT id FROM models WHERE run_id = ? ORDER BY id LIMIT 1", [run_id]).fetchone()
    return row[0] if row else add_model(db, name, checkpoint_path, run_id)


def count_runs(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def interrupted_runs(db: sqlite_utils.Database) -> list[int]:
    """Runs still marked running (the app was killed during them)."""
    return [row[0] for row in db.execute("SELECT id FROM runs WHERE status = 'running' ORDER BY id")]
