"""`ageapp check --repair`: fix what store/check.py found, without losing answers.

Repair (after a backup copy next to the project) rebuilds the indexes, recomputes posteriors, re-crops
faces from their image files (the stored landmarks, the file's hash checked), drops an undecodable face
only when no comparison involves it or its image, and drops posteriors and faces of images that are gone.
It never deletes or changes a comparison: what needs the user (a moved folder, a damaged table) is left,
with what to do.

It never raises on a damaged project. It also puts back a setting the posteriors depend on (age_max, from the
stored posteriors) and turns a folder path stored as bytes back into text. A backup is made only when there
is something to fix, and only the newest few are kept.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np
import sqlite_utils

from ageapp.faces.alignment import align_face, encode_crop
from ageapp.faces.images import ImageError, decode_image, read_image_bytes
from ageapp.store.backup import copy_project, restore_hint
from ageapp.store.check import (
    BAD_SETTING,
    CORRUPT_CROP,
    DAMAGE_ERRORS,
    DAMAGED_ROW,
    FOREIGN_KEY,
    INTEGRITY,
    MISSING_POSTERIOR,
    REPAIRABLE_KINDS,
    STALE_POSTERIOR,
    CheckReport,
    check_project,
    implied_age_max,
    integrity_problems,
    project_file,
)
from ageapp.store.errors import ProjectStorageError
from ageapp.store.posteriors import refresh_posteriors

COMPARISON_COLUMNS = ("query_image_id", "reference_image_id", "second_reference_image_id")
REPAIR_BACKUPS_KEPT = 3  # before-repair copies beside the project


@dataclass
class RepairReport:
    backup: Path | None
    actions: list[str]
    remaining: CheckReport


def repair_project(db: sqlite_utils.Database) -> RepairReport:
    """Back the project up next to itself, fix what can be fixed, and check again. Never raises on damage."""
    report = check_project(db)
    if report.ok:
        return RepairReport(None, [], report)
    if not report.kinds() & REPAIRABLE_KINDS:
        return RepairReport(None, [], report)  # nothing to write, so no backup either
    backup = _backup_before_repair(project_file(db))
    actions: list[str] = []
    try:
        _repair(db, report, actions)
    except ProjectStorageError:
        raise
    except DAMAGE_ERRORS as error:
        actions.append(f"stopped repairing ({type(error).__name__}: {error}): what is left needs a backup; "
                       f"{restore_hint(project_file(db))}")
    return RepairReport(backup, actions, check_project(db))


def _backup_before_repair(project: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")  # unique: never overwrites a backup
    backup = copy_project(project, project.with_name(f"{project.stem}.before-repair-{stamp}{project.suffix}"))
    for old in sorted(project.parent.glob(f"{project.stem}.before-repair-*{project.suffix}"))[:-REPAIR_BACKUPS_KEPT]:
        old.unlink(missing_ok=True)
    return backup


def _repair(db: sqlite_utils.Database, report: CheckReport, actions: list[str]) -> None:
    kinds = report.kinds()
    if INTEGRITY in kinds:
        db.execute("REINDEX")
        actions.append("rebuilt every index (REINDEX)")
        if integrity_problems(db):  # damage beyond the indexes: writing more could make it worse
            return
    if kinds & {INTEGRITY, BAD_SETTING, DAMAGED_ROW}:
        if BAD_SETTING in kinds:
            actions.append(_repair_age_max(db))
        if DAMAGED_ROW in kinds:
            actions.append(_repair_text_paths(db))
        report = check_project(db)  # what these hid (posteriors are checked once the setting is sound)
        kinds = report.kinds()
    if FOREIGN_KEY in kinds:
        actions.append(_drop_orphans(db))
    for problem in report.problems:
        if problem.kind == CORRUPT_CROP:
            actions += _repair_crops(db, problem.ids)
    outdated = [query for problem in report.problems if problem.kind in (STALE_POSTERIOR, MISSING_POSTERIOR)
                for query in problem.ids]
    if outdated:
        actions.append(_recompute_posteriors(db, outdated))


def _repair_age_max(db: sqlite_utils.Database) -> str:
    value = implied_age_max(db)
    with db.atomic():
        db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('age_max', ?)", [json.dumps(value)])
    return f"set age_max back to {value}"


def _repair_text_paths(db: sqlite_utils.Database) -> str:
    fixed = 0
    with db.atomic():
        for table, column in (("roots", "path"), ("images", "relative_path")):
            for rowid, value in db.execute(f"SELECT rowid, {column} FROM {table} WHERE typeof({column}) != 'text'"
                                           ).fetchall():
                text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
                db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", [text, rowid])
                fixed += 1
    return f"turned {fixed} folder and file names stored as bytes back into text"


def _drop_orphans(db: sqlite_utils.Database) -> str:
    with db.atomic():
        posteriors = db.execute("DELETE FROM posteriors WHERE query_image_id NOT IN (SELECT id FROM images)").rowcount
        faces = db.execute(
            "DELETE FROM faces WHERE image_id NOT IN (SELECT id FROM images)"
            " AND id NOT IN (SELECT query_face_id FROM comparisons WHERE query_face_id IS NOT NULL)").rowcount
    return f"removed {posteriors} posteriors and {faces} faces of images no longer in the project"


def _repair_crops(db: sqlite_utils.Database, face_ids: list[int]) -> list[str]:
    recropped, dropped, kept = 0, 0, []
    for face_id in face_ids:
        crop = _crop_from_file(db, face_id)
        with db.atomic():
            if crop is not None:
                db.execute("UPDATE faces SET crop = ? WHERE id = ?", [crop, face_id])
                recropped += 1
            elif not _face_in_comparisons(db, face_id):
                db.execute("DELETE FROM faces WHERE id = ?", [face_id])
                dropped += 1
            else:
                kept.append(face_id)
    actions = [f"cropped {recropped} faces again from their image files; removed {dropped} unusable faces that "
               "no comparison involves"]
    if kept:
        actions.append(f"kept {len(kept)} unusable faces whose images have comparisons: put their image files back "
                       "(or relink their folder) and repair again")
    return actions


def _crop_from_file(db: sqlite_utils.Database, face_id: int) -> bytes | None:
    """The face cropped again from its image file with the stored landmarks; None if the file is gone or changed."""
    row = db.execute(
        "SELECT roots.path, images.relative_path, images.sha1, faces.landmarks FROM faces"
        " JOIN images ON images.id = faces.image_id JOIN roots ON roots.id = images.root_id WHERE faces.id = ?",
        [face_id]).fetchone()
    if row is None:
        return None
    folder, relative, sha1, landmarks = row
    try:
        data = read_image_bytes(Path(folder) / PurePosixPath(relative))
        if hashlib.sha1(data).hexdigest() != sha1:
            return None  # another picture now lies at that path
        image = decode_image(data)
        points = np.asarray(json.loads(landmarks), dtype=np.float32).reshape(5, 2)
        if not np.all(np.isfinite(points)) or float(points.std(axis=0).min()) < 1.0:
            return None  # no face to align on: points not numbers, or all in one place
        return encode_crop(align_face(image, points))
    except (ImageError, *DAMAGE_ERRORS):  # landmarks that are not JSON, not 5 points, degenerate (SVD) ...
        return None


def _face_in_comparisons(db: sqlite_utils.Database, face_id: int) -> bool:
    image_id = db.execute("SELECT image_id FROM faces WHERE id = ?", [face_id]).fetchone()[0]
    conditions = " OR ".join(f"{column} = :image" for column in COMPARISON_COLUMNS)
    return db.execute(f"SELECT 1 FROM comparisons WHERE query_face_id = :face OR {conditions} LIMIT 1",
                      {"face": face_id, "image": image_id}).fetchone() is not None


def _recompute_posteriors(db: sqlite_utils.Database, queries: list[int]) -> str:
    refresh_posteriors(db, queries=queries)  # with each query's prior and its beyond-the-references state
    return f"recomputed {len(queries)} posteriors from their comparisons"
