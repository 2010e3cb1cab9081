"""Synthetic projects for tests and benchmarks: references of known age and queries, each with a face crop.

The crops are small generated pictures (a shade per image), not faces: enough for the store, the session
and the window, which never look inside a crop.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ageapp.faces.alignment import CROP_HEIGHT, CROP_WIDTH, encode_crop
from ageapp.store.db import open_project
from ageapp.store.faces import add_face
from ageapp.store.images import add_image, root_id_for
from ageapp.store.settings import set_setting

LANDMARKS = np.zeros((5, 2))


def _crop(index: int) -> bytes:
    shade = np.full((CROP_HEIGHT, CROP_WIDTH, 3), (index * 37) % 200 + 30, np.uint8)
    shade[40:60, 20:76] = 255 - shade[0, 0]
    return encode_crop(shade)


def make_project(path: Path, references: int = 40, queries: int = 10, *, seed: int = 0,
                 reference_genders: bool = False, query_genders: bool = False, age_max: int = 70):
    """Create a project with the age range 0..age_max; returns (db, reference ids, query ids, true query ages)."""
    rng = np.random.default_rng(seed)
    db = open_project(path, create=True)
    set_setting(db, "age_max", age_max)
    root = root_id_for(db, path.parent)
    crops = [_crop(i) for i in range(16)]  # a few distinct crops, shared: keeps big projects quick to build
    reference_ids, query_ids = [], []
    query_ages = rng.integers(1, age_max, queries)
    with db.atomic():
        for i in range(references):
            gender = int(i % 2) if reference_genders else None
            image = add_image(db, root_id=root, relative_path=f"ref/{i}.jpg", sha1=_digest("r", i), size_bytes=1,
                              source_format="synthetic", role="reference", age=float(i % (age_max + 1)),
                              gender=gender)
            add_face(db, image, box=(0, 0, 96, 112), landmarks=LANDMARKS, score=1.0, detector="synthetic",
                     crop=crops[i % len(crops)], template="chip")
            reference_ids.append(image)
        for i in range(queries):
            gender = int(i % 2) if query_genders else None
            image = add_image(db, root_id=root, relative_path=f"query/{i}.jpg", sha1=_digest("q", i), size_bytes=1,
                              source_format="synthetic", role="query", gender=gender)
            add_face(db, image, box=(0, 0, 96, 112), landmarks=LANDMARKS, score=1.0, detector="synthetic",
                     crop=crops[(i + 7) % len(crops)], template="chip")
            query_ids.append(image)
    return db, reference_ids, query_ids, query_ages


def _digest(kind: str, index: int) -> str:
    return hashlib.sha1(f"{kind}{index}".encode()).hexdigest()


def foreign_journal(folder: Path, rows: int = 40) -> bytes:
    """The -wal of another SQLite database (not a project), caught while it was being written: page size 4096,
    like a project's, so SQLite would take it for any database's journal."""
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    other = folder / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.executemany("INSERT INTO notes VALUES (?)", [("x" * 500,)] * rows)
    conn.commit()
    data = Path(f"{other}-wal").read_bytes()
    conn.close()
    return data
