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
from collections import defaultdict
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
    COMPARISON_MISSING_LABELLER,
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
    if kinds & {INTEGRITY, BAD_SETTING, DAMAGED_ROW, COMPARISON_MISSING_LABELLER}:
        if BAD_SETTING in kinds:
            actions.append(_repair_age_max(db))
        if DAMAGED_ROW in kinds:
            actions.append(_repair_text_paths(db))
        if COMPARISON_MISSING_LABELLER in kinds:
            actions.append(_restore_labellers(db))
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
    """Names stored as bytes (or numbers) as text again. Bytes that are not UTF-8 cannot be text in the project:
    they are written escaped (\\xNN), and the check then names the folder or files to relink or put back."""
    fixed, escaped = 0, 0
    with db.atomic():
        for table, column in (("roots", "path"), ("images", "relative_path")):
            for rowid, value in db.execute(f"SELECT rowid, {column} FROM {table} WHERE typeof({column}) != 'text'"
                                           ).fetchall():
                if isinstance(value, bytes):
                    try:
                        text = value.decode("utf-8")
                    except UnicodeDecodeError:
                        text, escaped = value.decode("utf-8", "backslashreplace"), escaped + 1
                else:
                    text = str(value)
                db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", [text, rowid])
                fixed += 1
    action = f"turned {fixed} folder and file names stored as bytes back into text"
    if escaped:
        action += (f" ({escaped} of them were not valid text, kept with their odd bytes written as \\xNN: relink "
                   "those folders with `ageapp relink` if the check cannot find them)")
    return action


def _restore_labellers(db: sqlite_utils.Database) -> str:
    """Labeller rows put back for comparisons whose labeller was deleted (a placeholder name, the default β)."""
    missing = [row[0] for row in db.execute(
        "SELECT DISTINCT annotator_id FROM comparisons WHERE annotator_id NOT IN (SELECT id FROM annotators)"
        " ORDER BY annotator_id")]
    names = {row[0] for row in db.execute("SELECT name FROM annotators")}
    restored = []
    with db.atomic():
        for annotator_id in missing:
            name = f"labeller {annotator_id} (restored by repair)"
            while name in names:
                name += "'"
            db.execute("INSERT INTO annotators (id, name) VALUES (?, ?)", [annotator_id, name])
            names.add(name)
            restored.append(name)
    return f"put back {len(restored)} labellers whose rows were deleted, as {', '.join(restored[:5])}"


def _drop_orphans(db: sqlite_utils.Database) -> str:
    with db.atomic():
        posteriors = db.execute("DELETE FROM posteriors WHERE query_image_id NOT IN (SELECT id FROM images)").rowcount
        faces = db.execute(
            "DELETE FROM faces WHERE image_id NOT IN (SELECT id FROM images)"
            " AND id NOT IN (SELECT query_face_id FROM comparisons WHERE query_face_id IS NOT NULL)").rowcount
    return f"removed {posteriors} posteriors and {faces} faces of images no longer in the project"


# Why a face could not be cropped again, and what the user can do about it.
NO_FILE = "their image files are missing: put them back (or relink their folder) and repair again"
OTHER_FILE = ("the files at their paths are other pictures now (their content changed since the import): put the "
              "imported pictures back and repair again")
UNREADABLE_FILE = "their image files are there but do not decode as pictures: put intact copies back and repair again"
NO_LANDMARKS = ("their image files are there, but the face positions stored with them are unusable, so they cannot "
                "be cropped again; their comparisons are kept, and labelling shows them as they are")


def _repair_crops(db: sqlite_utils.Database, face_ids: list[int]) -> list[str]:
    recropped, dropped, kept = 0, 0, defaultdict(list)
    for face_id in face_ids:
        crop, why = _crop_from_file(db, face_id)
        with db.atomic():
            if crop is not None:
                db.execute("UPDATE faces SET crop = ? WHERE id = ?", [crop, face_id])
                recropped += 1
            elif not _face_in_comparisons(db, face_id):
                db.execute("DELETE FROM faces WHERE id = ?", [face_id])
                dropped += 1
            else:
                kept[why].append(face_id)
    actions = [f"cropped {recropped} faces again from their image files; removed {dropped} unusable faces that "
               "no comparison involves"]
    for why, faces in kept.items():
        actions.append(f"kept {len(faces)} unusable faces whose images have comparisons: {why}")
    return actions


def _crop_from_file(db: sqlite_utils.Database, face_id: int) -> tuple[bytes | None, str]:
    """The face cropped again from its image file with the stored landmarks, or None and why not."""
    row = db.execute(
        "SELECT roots.path, images.relative_path, images.sha1, faces.landmarks FROM faces"
        " JOIN images ON images.id = faces.image_id JOIN roots ON roots.id = images.root_id WHERE faces.id = ?",
        [face_id]).fetchone()
    if row is None:
        return None, NO_FILE
    folder, relative, sha1, landmarks = row
    try:
        data = read_image_bytes(Path(folder) / PurePosixPath(relative))
    except (ImageError, *DAMAGE_ERRORS):
        return None, NO_FILE
    if hashlib.sha1(data).hexdigest() != sha1:
        return None, OTHER_FILE
    try:
        image = decode_image(data)
    except (ImageError, *DAMAGE_ERRORS):
        return None, UNREADABLE_FILE
    try:
        points = np.asarray(json.loads(landmarks), dtype=np.float32).reshape(5, 2)
        if not np.all(np.isfinite(points)) or float(points.std(axis=0).min()) < 1.0:
            return None, NO_LANDMARKS  # no face to align on: points not numbers, or all in one place
        return encode_crop(align_face(image, points)), ""
    except DAMAGE_ERRORS:  # landmarks that are not JSON, not 5 points, degenerate (SVD) ...
        return None, NO_LANDMARKS


def _face_in_comparisons(db: sqlite_utils.Database, face_id: int) -> bool:
    image_id = db.execute("SELECT image_id FROM faces WHERE id = ?", [face_id]).fetchone()[0]
    conditions = " OR ".join(f"{column} = :image" for column in COMPARISON_COLUMNS)
    return db.execute(f"SELECT 1 FROM comparisons WHERE query_face_id = :face OR {conditions} LIMIT 1",
                      {"face": face_id, "image": image_id}).fetchone() is not None


def _recompute_posteriors(db: sqlite_utils.Database, queries: list[int]) -> str:
    refresh_posteriors(db, queries=queries)  # with each query's prior and its beyond-the-references state
    return f"recomputed {len(queries)} posteriors from their comparisons"
