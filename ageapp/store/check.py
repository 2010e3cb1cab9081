"""`ageapp check`: find what is wrong with a project, and repair what can be repaired without losing answers.

Checked: SQLite's own integrity and foreign keys; face crops that are missing or do not decode; image folders
that moved and image files that are gone; comparisons pointing at images no longer in the project; stored
posteriors that differ from a recomputation from the active comparisons, and queries with comparisons but
no posterior.

Repair (after a backup copy next to the project) rebuilds the indexes, recomputes posteriors, re-crops
faces from their image files (the stored landmarks, the file's hash checked), drops an undecodable face
only when no comparison involves it or its image, and drops posteriors and faces of images that are gone.
It never deletes or changes a comparison: what needs the user (a moved folder, a damaged table) is left,
with what to do.

Neither raises on a damaged project: a check that cannot finish (a value of the wrong type where SQLite lets
one in, a setting that is not a number) becomes a problem that says so. Repair also puts back a setting the
posteriors depend on (age_max, from the stored posteriors) and turns a folder path stored as bytes back into
text. A backup is made only when there is something --repair can fix, and only the newest few are kept.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import sqlite_utils

from ageapp.core.model_description import AGE_MAX_RANGE
from ageapp.core.posterior import AGE_MAX_DEFAULT, summarize
from ageapp.faces.alignment import align_face, decode_crop, encode_crop
from ageapp.faces.images import ImageError, decode_image, read_image_bytes
from ageapp.store.backup import copy_project, restore_hint
from ageapp.store.errors import ProjectStorageError
from ageapp.store.posteriors import expected_posteriors, save_posterior

IDS_SHOWN = 100  # affected ids listed per problem in the JSON; the count is always complete
POSTERIOR_TOLERANCE = 1e-6  # stored posteriors are float32

# What each kind of problem is, and whether --repair can fix it.
INTEGRITY = "integrity"
FOREIGN_KEY = "foreign_key"
COMPARISON_MISSING_IMAGE = "comparison_missing_image"
MISSING_ROOT = "missing_root"
MISSING_IMAGE_FILE = "missing_image_file"
CORRUPT_CROP = "corrupt_crop"
STALE_POSTERIOR = "stale_posterior"
MISSING_POSTERIOR = "missing_posterior"
BAD_SETTING = "bad_setting"
DAMAGED_ROW = "damaged_row"
CHECK_FAILED = "check_failed"
REPAIRABLE_KINDS = {INTEGRITY, FOREIGN_KEY, CORRUPT_CROP, STALE_POSTERIOR, MISSING_POSTERIOR, BAD_SETTING, DAMAGED_ROW}
COMPARISON_COLUMNS = ("query_image_id", "reference_image_id", "second_reference_image_id")
REPAIR_BACKUPS_KEPT = 3  # before-repair copies beside the project
# What a damaged project makes the checks and repairs raise (never raised further).
DAMAGE_ERRORS = (sqlite3.Error, ValueError, TypeError, KeyError, OverflowError, IndexError, np.linalg.LinAlgError,
                 cv2.error)


@dataclass
class Problem:
    kind: str
    message: str  # what is wrong and what to do, for a person
    ids: list = field(default_factory=list)  # the affected rows (image, face or query ids ...)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "count": len(self.ids), "ids": self.ids[:IDS_SHOWN]}


@dataclass
class CheckReport:
    checked: dict  # how many of each thing were looked at
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for problem in self.problems:
            counts[problem.kind] += max(1, len(problem.ids))
        return dict(counts)

    def kinds(self) -> set[str]:
        return {problem.kind for problem in self.problems}

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "problems": self.by_kind(),
                "details": [problem.as_dict() for problem in self.problems]}


@dataclass
class RepairReport:
    backup: Path | None
    actions: list[str]
    remaining: CheckReport


# ---------------------------------------------------------------------------------------------------- checks
def check_project(db: sqlite_utils.Database) -> CheckReport:
    """Every check; a damaged file stops after the integrity check (what follows would read damaged pages)."""
    problems = _guarded("integrity", integrity_problems, db)
    if problems:
        return CheckReport({}, problems)
    checked = _guarded("counting", lambda db: {name: db.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                                               for name in ("images", "faces", "comparisons", "posteriors")}, db)
    if isinstance(checked, list):  # the count itself failed: a problem
        return CheckReport({}, checked)
    problems = []
    for name, check in (("foreign keys", foreign_key_problems), ("settings", setting_problems),
                        ("image files", missing_file_problems), ("face crops", crop_problems)):
        problems += _guarded(name, check, db)
    if BAD_SETTING not in {problem.kind for problem in problems}:  # posteriors are computed with the settings
        problems += _guarded("posteriors", posterior_problems, db)
    return CheckReport(checked, problems)


def _guarded(name: str, check, db: sqlite_utils.Database):
    """check(db), or the problem that it could not finish on this project."""
    try:
        return check(db)
    except ProjectStorageError:
        raise
    except DAMAGE_ERRORS as error:
        return [Problem(CHECK_FAILED, f"the {name} check could not finish ({type(error).__name__}: {error}): the "
                                      f"project is damaged in a way ageapp cannot repair; {restore_hint(_path(db))}",
                        [name])]


def setting_problems(db: sqlite_utils.Database) -> list[Problem]:
    row = db.execute("SELECT value FROM settings WHERE key = 'age_max'").fetchone()
    try:
        value = AGE_MAX_DEFAULT if row is None else json.loads(row[0])
    except (ValueError, TypeError):
        value = row[0]
    low, high = AGE_MAX_RANGE
    if not isinstance(value, bool) and isinstance(value, int) and low <= value <= high:
        return []
    return [Problem(BAD_SETTING, f"the project's setting age_max is {value!r}, not a whole number of years "
                                 f"({low}-{high}); `ageapp check --repair` sets it back to {_implied_age_max(db)} "
                                 "(what the stored posteriors were computed with)", ["age_max"])]


def _implied_age_max(db: sqlite_utils.Database) -> int:
    found = [row[0] for row in db.execute("SELECT DISTINCT age_max FROM posteriors")]
    low, high = AGE_MAX_RANGE
    if len(found) == 1 and isinstance(found[0], int) and low <= found[0] <= high:
        return found[0]
    return AGE_MAX_DEFAULT


def integrity_problems(db: sqlite_utils.Database) -> list[Problem]:
    messages = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if messages == ["ok"]:
        return []
    shown = "; ".join(messages[:5]) + (f"; … {len(messages) - 5} more" if len(messages) > 5 else "")
    return [Problem(INTEGRITY, f"SQLite's integrity check failed: {shown}. `ageapp check --repair` rebuilds damaged "
                               f"indexes; anything else needs a backup: {restore_hint(_path(db))}",
                    messages)]


def foreign_key_problems(db: sqlite_utils.Database) -> list[Problem]:
    rows = list(db.execute("PRAGMA foreign_key_check"))
    dangling = sorted({rowid for table, rowid, _, _ in rows if table == "comparisons"})
    others: dict[tuple[str, str], list] = defaultdict(list)
    for table, rowid, parent, _ in rows:
        if table != "comparisons":
            others[(table, parent)].append(rowid)
    problems = []
    if dangling:
        ids = [r[0] for r in db.execute(
            f"SELECT id FROM comparisons WHERE rowid IN ({','.join('?' * len(dangling))}) ORDER BY rowid", dangling)]
        problems.append(Problem(
            COMPARISON_MISSING_IMAGE,
            f"{len(ids)} comparisons refer to images that are no longer in the project; they are kept (answers are "
            "never deleted) but count for nothing until the images are back: restore a backup that still has them "
            f"({restore_hint(_path(db))})", ids))
    for (table, parent), rowids in sorted(others.items()):
        problems.append(Problem(FOREIGN_KEY, f"{len(rowids)} rows of {table} refer to {parent} rows that are gone"
                                             f"{'; --repair removes them' if table in ('faces', 'posteriors') else ''}",
                                [f"{table}:{rowid}" for rowid in rowids]))
    return problems


def missing_file_problems(db: sqlite_utils.Database) -> list[Problem]:
    problems, project = [], _path(db)
    for root_id, folder in db.execute("SELECT id, path FROM roots ORDER BY id").fetchall():
        rows = db.execute("SELECT id, relative_path FROM images WHERE root_id = ? ORDER BY id", [root_id]).fetchall()
        if not rows:
            continue
        if not isinstance(folder, str) or not all(isinstance(relative, str) for _, relative in rows):
            problems.append(Problem(
                DAMAGED_ROW, f"the image folder {folder!r} ({len(rows)} images) or some of its file names are stored "
                             "as something other than text; `ageapp check --repair` turns them back into text",
                [f"roots:{root_id}"]))
            continue
        if not Path(folder).is_dir():
            problems.append(Problem(
                MISSING_ROOT,
                f"the folder {folder} ({len(rows)} images) is gone: if it moved, run `ageapp relink {project} "
                f"{folder} NEW_FOLDER`", [row[0] for row in rows]))
            continue
        missing = [image_id for image_id, relative in rows if not (Path(folder) / PurePosixPath(relative)).is_file()]
        if missing:
            problems.append(Problem(
                MISSING_IMAGE_FILE,
                f"{len(missing)} image files in {folder} are missing (moved or deleted); their face crops are in the "
                "project, so labelling goes on, but they cannot be re-cropped: put them back to restore them",
                missing))
    return problems


def _crop_is_usable(crop: bytes | None) -> bool:
    if not crop:
        return False
    try:
        decode_crop(crop)
    except (ValueError, cv2.error):
        return False
    return True


def crop_problems(db: sqlite_utils.Database) -> list[Problem]:
    bad = [face_id for face_id, crop in db.execute("SELECT id, crop FROM faces ORDER BY id")
           if not _crop_is_usable(crop)]
    if not bad:
        return []
    return [Problem(CORRUPT_CROP, f"{len(bad)} face crops are missing or do not decode; `ageapp check --repair` "
                                  "crops them again from the image files", bad)]


def posterior_problems(db: sqlite_utils.Database) -> list[Problem]:
    stored = {row["query_image_id"]: row for row in db.query(
        "SELECT query_image_id, probabilities, mode, ci_low, ci_high, n_comparisons FROM posteriors")}
    stale, missing = [], []
    for query, (posterior, count) in sorted(expected_posteriors(db).items()):
        row = stored.get(query)
        if row is None:
            if count:
                missing.append(query)
        elif not _matches(row, posterior, count):
            stale.append(query)
    problems = []
    if stale:
        problems.append(Problem(STALE_POSTERIOR, f"{len(stale)} stored posteriors differ from their comparisons; "
                                                 "`ageapp check --repair` recomputes them", stale))
    if missing:
        problems.append(Problem(MISSING_POSTERIOR, f"{len(missing)} queries have comparisons but no posterior; "
                                                   "`ageapp check --repair` computes them", missing))
    return problems


def _matches(row: dict, posterior: np.ndarray, count: int) -> bool:
    if not isinstance(row["probabilities"], bytes) or len(row["probabilities"]) % 4:
        return False  # damaged: recomputed by --repair
    vector = np.frombuffer(row["probabilities"], dtype="<f4")
    if len(vector) != len(posterior) or row["n_comparisons"] != count:
        return False
    summary = summarize(posterior)
    return (bool(np.allclose(vector, posterior, rtol=0, atol=POSTERIOR_TOLERANCE))
            and (row["mode"], row["ci_low"], row["ci_high"]) == (summary.mode, summary.ci_low, summary.ci_high))


def _path(db: sqlite_utils.Database) -> Path:
    return Path(getattr(db, "path", None) or db.execute("PRAGMA database_list").fetchone()[2])


# ---------------------------------------------------------------------------------------------------- repair
def repair_project(db: sqlite_utils.Database) -> RepairReport:
    """Back the project up next to itself, fix what can be fixed, and check again. Never raises on damage."""
    report = check_project(db)
    if report.ok:
        return RepairReport(None, [], report)
    if not report.kinds() & REPAIRABLE_KINDS:
        return RepairReport(None, [], report)  # nothing to write, so no backup either
    backup = _backup_before_repair(_path(db))
    actions: list[str] = []
    try:
        _repair(db, report, actions)
    except ProjectStorageError:
        raise
    except DAMAGE_ERRORS as error:
        actions.append(f"stopped repairing ({type(error).__name__}: {error}): what is left needs a backup; "
                       f"{restore_hint(_path(db))}")
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
    value = _implied_age_max(db)
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
    expected = expected_posteriors(db)
    with db.atomic():
        for query in queries:
            posterior, count = expected[query]
            save_posterior(db, query, posterior, summarize(posterior), count)
    return f"recomputed {len(queries)} posteriors from their comparisons"
