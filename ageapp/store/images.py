"""Images and the folders (roots) they live in.

An image is stored as root_id + path relative to that root, so a moved dataset is fixed by relinking one
root rather than rewriting every row. The content hash (sha1 of the file's bytes) is unique: the same
picture is never in a project twice.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import sqlite_utils

ROLES = ("reference", "query")


def root_id_for(db: sqlite_utils.Database, folder: str | Path) -> int:
    """The id of the root for this folder (its absolute path), added if new."""
    path = str(Path(folder).expanduser().resolve())
    db.execute("INSERT OR IGNORE INTO roots (path) VALUES (?)", [path])
    return db.execute("SELECT id FROM roots WHERE path = ?", [path]).fetchone()[0]


def root_id_at(db: sqlite_utils.Database, folder: str | Path) -> int | None:
    """The id of the root for this folder, or None if the project has none there."""
    row = db.execute("SELECT id FROM roots WHERE path = ?", [str(Path(folder).expanduser().resolve())]).fetchone()
    return row[0] if row else None


def relink_root(db: sqlite_utils.Database, root_id: int, new_folder: str | Path) -> None:
    """Point a root at the folder its images moved to."""
    folder = Path(new_folder).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"cannot relink to {folder}: it is not a folder")
    cursor = db.execute("UPDATE roots SET path = ? WHERE id = ?", [str(folder), root_id])
    if cursor.rowcount == 0:
        raise ValueError(f"no root with id {root_id}")


def roots(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT id, path FROM roots ORDER BY id"))


def add_image(
    db: sqlite_utils.Database,
    *,
    root_id: int,
    relative_path: str | PurePosixPath,
    sha1: str,
    size_bytes: int,
    source_format: str,
    role: str,
    width: int | None = None,
    height: int | None = None,
    age: float | None = None,
    age_min: float | None = None,
    age_max: float | None = None,
    gender: int | None = None,
    subject: str | None = None,
) -> int:
    """Insert one image (committed unless inside db.atomic()); return its id.

    An exact `age` fills age_min and age_max with the same value (the schema's convention).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if age is not None:
        age_min = age_max = age
    cursor = db.execute(
        "INSERT INTO images (root_id, relative_path, sha1, size_bytes, width, height, source_format, subject,"
        " gender, role, age, age_min, age_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [root_id, str(PurePosixPath(relative_path)), sha1, size_bytes, width, height, source_format, subject,
         gender, role, age, age_min, age_max],
    )
    return cursor.lastrowid


def known_hashes(db: sqlite_utils.Database) -> set[str]:
    return {row[0] for row in db.execute("SELECT sha1 FROM images")}


def image_id_at(db: sqlite_utils.Database, root_id: int, relative_path: str | PurePosixPath) -> int | None:
    row = db.execute(
        "SELECT id FROM images WHERE root_id = ? AND relative_path = ?", [root_id, str(PurePosixPath(relative_path))]
    ).fetchone()
    return row[0] if row else None


def get_image(db: sqlite_utils.Database, image_id: int) -> dict:
    rows = list(db.query("SELECT * FROM images WHERE id = ?", [image_id]))
    if not rows:
        raise KeyError(f"no image with id {image_id}")
    return rows[0]


def image_path(db: sqlite_utils.Database, image_id: int) -> Path:
    """Where the image's file is now: its root's current folder + its relative path."""
    row = db.execute(
        "SELECT roots.path, images.relative_path FROM images JOIN roots ON roots.id = images.root_id"
        " WHERE images.id = ?",
        [image_id],
    ).fetchone()
    if row is None:
        raise KeyError(f"no image with id {image_id}")
    return Path(row[0]) / PurePosixPath(row[1])


def list_images(db: sqlite_utils.Database, role: str | None = None) -> list[dict]:
    if role is None:
        return list(db.query("SELECT * FROM images ORDER BY id"))
    return list(db.query("SELECT * FROM images WHERE role = ? ORDER BY id", [role]))


def count_images(db: sqlite_utils.Database, role: str | None = None) -> int:
    if role is None:
        return db.execute("SELECT count(*) FROM images").fetchone()[0]
    return db.execute("SELECT count(*) FROM images WHERE role = ?", [role]).fetchone()[0]


def reference_age_span(db: sqlite_utils.Database, age_max: int) -> dict:
    """The references of exact age that have a face (the ones a query can be shown): how many, the youngest and
    oldest age among those inside 0..age_max, and how many lie above age_max (never shown)."""
    row = db.execute(
        "SELECT count(*), min(CASE WHEN age <= :top THEN age END), max(CASE WHEN age <= :top THEN age END),"
        " sum(age > :top) FROM images WHERE role = 'reference' AND age IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id)",
        {"top": age_max},
    ).fetchone()
    return {"references": row[0], "youngest": row[1], "oldest": row[2], "above_range": row[3] or 0}


def query_hashes(db: sqlite_utils.Database) -> list[tuple[int, str]]:
    """(id, content hash) of every query, in id order."""
    return db.execute("SELECT id, sha1 FROM images WHERE role = 'query' ORDER BY id").fetchall()


def image_hashes(db: sqlite_utils.Database) -> dict[int, str]:
    """Every image's content hash by id."""
    return dict(db.execute("SELECT id, sha1 FROM images").fetchall())


def aged_image_ids(db: sqlite_utils.Database) -> set[int]:
    """Images with an exact known age."""
    return {row[0] for row in db.execute("SELECT id FROM images WHERE age IS NOT NULL")}
