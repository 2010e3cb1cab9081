"""Faces found in images: box, 5 landmarks, detector, and the aligned crop (JPEG bytes from encode_crop)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import sqlite_utils


def add_face(
    db: sqlite_utils.Database,
    image_id: int,
    *,
    box: Sequence[float],
    landmarks: np.ndarray,
    score: float | None,
    detector: str,
    crop: bytes,
    template: str,
) -> int:
    """Insert one face (committed unless inside db.atomic()); box is (x, y, w, h), landmarks (5, 2), crop
    aligned to the named face template."""
    points = np.asarray(landmarks, dtype=float).reshape(5, 2)
    x, y, w, h = (float(v) for v in box)
    cursor = db.execute(
        "INSERT INTO faces (image_id, box_x, box_y, box_w, box_h, landmarks, score, detector, crop, template)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [image_id, x, y, w, h, json.dumps(points.round(2).tolist()), score, detector, crop, template],
    )
    return cursor.lastrowid


def largest_face_order(alias: str = "") -> str:
    """The one definition of "the face of an image", as an ORDER BY over faces (optionally aliased): its
    largest box first, the lowest id on a tie. Every reader of an image's face uses it."""
    prefix = f"{alias}." if alias else ""
    return f"{prefix}box_w * {prefix}box_h DESC, {prefix}id"


LARGEST_FACE_ORDER = largest_face_order()
LARGEST_FACE_ID = f"SELECT id FROM faces WHERE image_id = ? ORDER BY {LARGEST_FACE_ORDER} LIMIT 1"


def largest_face_id_sql(image_column: str) -> str:
    """A subquery giving the id of the largest face of the image whose id is in `image_column`."""
    return f"(SELECT lf.id FROM faces AS lf WHERE lf.image_id = {image_column} ORDER BY {largest_face_order('lf')} LIMIT 1)"


def _decoded(row: dict) -> dict:
    row["box"] = (row.pop("box_x"), row.pop("box_y"), row.pop("box_w"), row.pop("box_h"))
    row["landmarks"] = np.array(json.loads(row["landmarks"]), dtype=np.float32)
    return row


def faces_of_image(db: sqlite_utils.Database, image_id: int) -> list[dict]:
    """The image's faces, largest box first; `box` a tuple, `landmarks` a (5, 2) array, `crop` JPEG bytes."""
    rows = db.query(f"SELECT * FROM faces WHERE image_id = ? ORDER BY {LARGEST_FACE_ORDER}", [image_id])
    return [_decoded(row) for row in rows]


def largest_face_crop(db: sqlite_utils.Database, image_id: int) -> tuple[bytes, str] | None:
    """(crop bytes, face template) of the image's largest face, or None when it has no face."""
    row = db.execute(f"SELECT crop, template FROM faces WHERE id = ({LARGEST_FACE_ID})", [image_id]).fetchone()
    return None if row is None else (row[0], row[1])


def set_gender_prediction(db: sqlite_utils.Database, face_id: int, predicted: int, probability: float) -> None:
    db.execute(
        "UPDATE faces SET gender_predicted = ?, gender_probability = ? WHERE id = ?",
        [predicted, probability, face_id],
    )


def count_faces(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM faces").fetchone()[0]


def largest_face_id(db: sqlite_utils.Database, image_id: int) -> int | None:
    row = db.execute(LARGEST_FACE_ID, [image_id]).fetchone()
    return row[0] if row else None
