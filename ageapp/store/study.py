"""The SQL of the user study (table `study_answers`, schema migration 3): its reference faces, recording an
answer, who answered, the answers for the results and for the CSV export. ageapp.annotation.study owns the
study itself (the plan, the scoring, the β fit)."""

from __future__ import annotations

import sqlite_utils


def study_reference_rows(db: sqlite_utils.Database) -> list[tuple]:
    """(id, age) of the references of exact known age that have a face."""
    return db.execute(
        "SELECT id, age FROM images WHERE role = 'reference' AND age IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id) ORDER BY id"
    ).fetchall()


def insert_study_answer(db: sqlite_utils.Database, values: list) -> int:
    """values: person, sitting, test, image_id, second_image_id, answer, true_age, second_true_age,
    response_ms. Committed before it returns."""
    with db.atomic():
        cursor = db.execute(
            "INSERT INTO study_answers (person, sitting, test, image_id, second_image_id, answer, true_age,"
            " second_true_age, response_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
    return cursor.lastrowid


def study_persons(db: sqlite_utils.Database) -> list[str]:
    """Everyone who answered, most recent first."""
    return [r[0] for r in db.execute("SELECT person FROM study_answers GROUP BY person ORDER BY max(id) DESC")]


def study_answer_rows(db: sqlite_utils.Database, person: str | None = None) -> list[tuple]:
    """(test, answer, true_age, second_true_age, response_ms) in order, for one person or everyone."""
    where, params = ("WHERE person = ?", [person]) if person is not None else ("", [])
    return db.execute(
        f"SELECT test, answer, true_age, second_true_age, COALESCE(response_ms, 0) FROM study_answers {where}"
        " ORDER BY id",
        params,
    ).fetchall()


def study_export_rows(db: sqlite_utils.Database, person: str | None = None) -> list[tuple]:
    """The answers with both faces' paths, for the CSV export."""
    where, params = ("WHERE s.person = ?", [person]) if person is not None else ("", [])
    return db.execute(
        "SELECT s.id, s.person, s.sitting, s.test, s.image_id, a.relative_path, s.second_image_id, b.relative_path,"
        " s.answer, s.true_age, s.second_true_age, s.response_ms, s.created FROM study_answers AS s"
        " JOIN images AS a ON a.id = s.image_id LEFT JOIN images AS b ON b.id = s.second_image_id"
        f" {where} ORDER BY s.id",
        params,
    ).fetchall()
