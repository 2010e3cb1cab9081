"""Projects broken the ways `ageapp check` looks for, each otherwise sound (real image files, faces cropped
from them, comparisons with their posteriors), written by make_bad_corpus into bad/projects/check/.

Each name says what is wrong; `REPAIRABLE` lists those that `ageapp check --repair` must bring back to a
clean check, the others need the user (a relink) or can only be reported (answers are never deleted).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np

from ageapp.annotation.session import recompute_posterior
from ageapp.faces.alignment import align_face, encode_crop
from ageapp.store.annotators import annotator_id_for
from ageapp.store.comparisons import record_comparison
from ageapp.store.db import open_project
from ageapp.store.faces import add_face
from ageapp.store.images import add_image, root_id_for
from ageapp.store.settings import get_setting

LANDMARKS = np.array([[35, 50], [65, 50], [50, 66], [38, 86], [62, 86]], np.float32)
REPAIRABLE = ("stale_posterior", "missing_posterior", "corrupt_crop", "damaged_index")
NEEDS_THE_USER = ("moved_images", "dangling_comparison")


def _photo(index: int) -> np.ndarray:
    image = np.full((120, 100, 3), 90 + 7 * index, np.uint8)
    cv2.ellipse(image, (50, 60), (33, 52), 0, 0, 360, (110, 140 + 3 * index, 190), -1)
    return image


def _clean_project(path: Path, images: Path, references: int = 6, queries: int = 3):
    """A sound project with its photos in `images`; returns (db, reference ids, query ids)."""
    path.unlink(missing_ok=True)
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    db = open_project(path, create=True)
    root = root_id_for(db, images)
    ids = {"reference": [], "query": []}
    for index in range(references + queries):
        role = "reference" if index < references else "query"
        data = cv2.imencode(".jpg", _photo(index))[1].tobytes()
        (images / f"{index}.jpg").write_bytes(data)
        image_id = add_image(db, root_id=root, relative_path=f"{index}.jpg", sha1=hashlib.sha1(data).hexdigest(),
                             size_bytes=len(data), source_format="folder", role=role, width=100, height=120,
                             age=float(10 + 8 * index) if role == "reference" else None)
        add_face(db, image_id, box=(17, 8, 66, 104), landmarks=LANDMARKS, score=1.0, detector="landmarks",
                 crop=encode_crop(align_face(_photo(index), LANDMARKS)), template="chip")
        ids[role].append(image_id)
    annotator = annotator_id_for(db, "corpus")
    age_max = int(get_setting(db, "age_max"))
    for query in ids["query"]:
        for reference, answer in zip(ids["reference"][:3], ("older", "younger", "older")):
            with db.atomic():
                record_comparison(db, query_image_id=query, reference_image_id=reference, answer=answer,
                                  annotator_id=annotator)
                recompute_posterior(db, query, age_max)
    return db, ids["reference"], ids["query"]


def stale_posterior(folder: Path) -> None:
    db, _, queries = _clean_project(folder / "stale_posterior.ageproj", folder / "stale_posterior_images")
    uniform = np.full(int(get_setting(db, "age_max")) + 1, 1.0, "<f4")
    uniform /= uniform.sum()
    db.execute("UPDATE posteriors SET probabilities = ? WHERE query_image_id = ?", [uniform.tobytes(), queries[0]])
    db.execute("UPDATE posteriors SET n_comparisons = 7 WHERE query_image_id = ?", [queries[1]])
    db.close()


def missing_posterior(folder: Path) -> None:
    db, _, queries = _clean_project(folder / "missing_posterior.ageproj", folder / "missing_posterior_images")
    db.execute("DELETE FROM posteriors WHERE query_image_id = ?", [queries[0]])
    db.close()


def corrupt_crop(folder: Path) -> None:
    """Undecodable crops (garbage, and empty) of faces whose photos are there to crop them again from."""
    db, references, queries = _clean_project(folder / "corrupt_crop.ageproj", folder / "corrupt_crop_images")
    db.execute("UPDATE faces SET crop = ? WHERE image_id = ?", [b"\xff\xd8 not a jpeg any more", queries[0]])
    db.execute("UPDATE faces SET crop = ? WHERE image_id = ?", [b"", references[-1]])
    db.close()


def moved_images(folder: Path) -> None:
    """The photos moved from moved_images_old/ (gone) to moved_images_new/."""
    old, new = folder / "moved_images_old", folder / "moved_images_new"
    db, _, _ = _clean_project(folder / "moved_images.ageproj", old)
    db.close()
    shutil.rmtree(new, ignore_errors=True)
    old.rename(new)


def damaged_index(folder: Path) -> None:
    """One entry of the images_by_role index no longer matches its row (a bit flip on disk)."""
    path = folder / "damaged_index.ageproj"
    _clean_project(path, folder / "damaged_index_images")[0].close()
    with sqlite3.connect(path) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        page = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'images_by_role'").fetchone()[0]
    connection.close()
    data = bytearray(path.read_bytes())
    start = (page - 1) * page_size
    offset = start + bytes(data[start:start + page_size]).index(b"query")
    data[offset:offset + 5] = b"qzery"
    path.write_bytes(bytes(data))


def dangling_comparison(folder: Path) -> None:
    """A reference deleted behind the app's back (foreign keys off) while comparisons still name it."""
    path = folder / "dangling_comparison.ageproj"
    db, references, _ = _clean_project(path, folder / "dangling_comparison_images")
    db.close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("DELETE FROM faces WHERE image_id = ?", [references[0]])
        connection.execute("DELETE FROM images WHERE id = ?", [references[0]])
    connection.close()


def write_broken_projects(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for build in (stale_posterior, missing_posterior, corrupt_crop, moved_images, damaged_index, dangling_comparison):
        build(folder)
    return folder
