"""The SQL of faces' genders: labels (`images.gender`), predictions (`faces.gender_predicted`,
`faces.gender_probability`, of an image's largest face) and corrections (`gender_corrections`). The rules that
decide which counts live in ageapp.annotation.gender; this module only reads and writes them.
"""

from __future__ import annotations

import sqlite_utils

from ageapp.store.faces import largest_face_order
from ageapp.store.settings import DEFAULT_SETTINGS, get_setting


def gender_confidence(db: sqlite_utils.Database) -> float:
    """The project's threshold for a predicted gender to count (a setting; 0.9 unless changed). A stored value
    that makes no sense (not a number in 0.5 .. 1) reads as the default, as the labelling settings do."""
    try:
        value = float(get_setting(db, "gender_confidence"))
    except (TypeError, ValueError):
        value = float("nan")
    return value if 0.5 <= value <= 1.0 else float(DEFAULT_SETTINGS["gender_confidence"])


def predicted_sql(alias: str = "images") -> tuple[str, str]:
    """The largest face's prediction of image `alias`, as two correlated subqueries (gender, probability)."""
    largest = f"FROM faces AS gf WHERE gf.image_id = {alias}.id ORDER BY {largest_face_order('gf')} LIMIT 1"
    return f"(SELECT gf.gender_predicted {largest})", f"(SELECT gf.gender_probability {largest})"


def effective_gender_sql(alias: str = "images") -> str:
    """SQL for the gender the reference choice uses (one parameter: the confidence threshold): the label,
    else the largest face's prediction when its probability reaches the threshold, else NULL."""
    predicted, probability = predicted_sql(alias)
    return f"COALESCE({alias}.gender, CASE WHEN {probability} >= ? THEN {predicted} END)"


def gender_row(db: sqlite_utils.Database, image_id: int) -> tuple | None:
    """(label, predicted gender, its probability) of an image, or None when there is no such image."""
    predicted, probability = predicted_sql("images")
    return db.execute(f"SELECT images.gender, {predicted}, {probability} FROM images WHERE images.id = ?",
                      [image_id]).fetchone()


def gender_rows(db: sqlite_utils.Database, image_ids: list[int]) -> list[tuple]:
    """(id, label, predicted, probability) for these images, in one query."""
    if not image_ids:
        return []
    predicted, probability = predicted_sql("i")
    return db.execute(f"SELECT i.id, i.gender, {predicted}, {probability} FROM images AS i"
                      f" WHERE i.id IN ({','.join('?' * len(image_ids))})", list(image_ids)).fetchall()


def record_correction(db: sqlite_utils.Database, image_id: int, gender: int | None, previous: int | None,
                      previous_source: str, annotator_id: int | None) -> None:
    """A labeller's correction: the label set (None: can't tell, which also clears the predictions), with who
    changed what. Call inside db.atomic() together with the read of `previous`."""
    db.execute(
        "INSERT INTO gender_corrections (image_id, gender, previous, previous_source, annotator_id)"
        " VALUES (?, ?, ?, ?, ?)",
        [image_id, gender, previous, previous_source, annotator_id],
    )
    db.execute("UPDATE images SET gender = ? WHERE id = ?", [gender, image_id])
    if gender is None:
        db.execute("UPDATE faces SET gender_predicted = NULL, gender_probability = NULL WHERE image_id = ?",
                   [image_id])


def corrections_of(db: sqlite_utils.Database, image_id: int) -> list[dict]:
    """The image's gender corrections, oldest first, with the annotator's name."""
    return list(db.query(
        "SELECT c.gender, c.previous, c.previous_source, a.name AS annotator, c.created FROM gender_corrections AS c"
        " LEFT JOIN annotators AS a ON a.id = c.annotator_id WHERE c.image_id = ? ORDER BY c.id",
        [image_id],
    ))


def _candidates_sql(only_missing: bool) -> str:
    """Faces of images with no gender label and no labeller's correction (optionally: not yet predicted)."""
    sql = ("FROM faces JOIN images ON images.id = faces.image_id WHERE images.gender IS NULL"
           " AND NOT EXISTS (SELECT 1 FROM gender_corrections AS c WHERE c.image_id = images.id)")
    return sql + (" AND faces.gender_predicted IS NULL" if only_missing else "")


def count_gender_candidates(db: sqlite_utils.Database, only_missing: bool = True) -> int:
    return db.execute(f"SELECT count(*) {_candidates_sql(only_missing)}").fetchone()[0]


def gender_candidates(db: sqlite_utils.Database, only_missing: bool, after: int, limit: int) -> list[tuple]:
    """(face id, crop, template) of the next `limit` candidate faces with an id above `after`."""
    return db.execute(
        f"SELECT faces.id, faces.crop, faces.template {_candidates_sql(only_missing)} AND faces.id > ?"
        " ORDER BY faces.id LIMIT ?",
        [after, limit],
    ).fetchall()


def store_gender_predictions(db: sqlite_utils.Database, predictions: list[tuple[int, int, float]]) -> None:
    """(face id, predicted gender, probability) rows, in one transaction. A face whose image got a label
    meanwhile (another window) is left alone."""
    with db.atomic():
        for face_id, predicted, probability in predictions:
            db.execute(
                "UPDATE faces SET gender_predicted = ?, gender_probability = ? WHERE id = ?"
                " AND (SELECT gender FROM images WHERE images.id = faces.image_id) IS NULL",
                [int(predicted), round(float(probability), 6), face_id],
            )


def gender_counts(db: sqlite_utils.Database, confidence: float) -> dict[str, int]:
    """Images by where their gender comes from: labelled, confidently predicted, predicted below the
    threshold, unknown (the largest face's prediction counts for an image)."""
    _, probability = predicted_sql("images")
    row = db.execute(
        f"SELECT sum(gender IS NOT NULL), sum(gender IS NULL AND p >= ?), sum(gender IS NULL AND p < ?),"
        f" sum(gender IS NULL AND p IS NULL)"
        f" FROM (SELECT images.gender AS gender, {probability} AS p FROM images)",
        [confidence, confidence],
    ).fetchone()
    return {"labelled": int(row[0] or 0), "confident": int(row[1] or 0), "unconfident": int(row[2] or 0),
            "unknown": int(row[3] or 0)}
