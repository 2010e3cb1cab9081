"""`ageapp check`: find what is wrong with a project; `ageapp check --repair` (store/repair.py) fixes what can be
fixed without losing answers.

Checked: SQLite's own integrity and foreign keys; face crops that are missing or do not decode; image folders
that moved and image files that are gone; comparisons pointing at images no longer in the project, at labellers
no longer in it, or at references that have no age; stored posteriors that differ from a recomputation from the
active comparisons, and queries with comparisons but no posterior; a setting the posteriors depend on (age_max)
and folder paths stored as something other than text.

A check never raises on a damaged project: one that cannot finish (a value of the wrong type where SQLite lets
one in, a setting that is not a number) becomes a problem that says so.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import sqlite_utils

from ageapp.core.model_description import AGE_MAX_RANGE
from ageapp.core.posterior import AGE_MAX_DEFAULT, summarize
from ageapp.faces.alignment import decode_crop
from ageapp.store.backup import restore_hint
from ageapp.store.errors import ProjectStorageError
from ageapp.store.posteriors import expected_posteriors

IDS_SHOWN = 100  # affected ids listed per problem in the JSON; the count is always complete
POSTERIOR_TOLERANCE = 1e-6  # stored posteriors are float32

# What each kind of problem is, and whether --repair can fix it.
INTEGRITY = "integrity"
FOREIGN_KEY = "foreign_key"
COMPARISON_MISSING_IMAGE = "comparison_missing_image"
COMPARISON_MISSING_LABELLER = "comparison_missing_labeller"
REFERENCE_WITHOUT_AGE = "reference_without_age"
MISSING_ROOT = "missing_root"
MISSING_IMAGE_FILE = "missing_image_file"
CORRUPT_CROP = "corrupt_crop"
STALE_POSTERIOR = "stale_posterior"
MISSING_POSTERIOR = "missing_posterior"
BAD_SETTING = "bad_setting"
DAMAGED_ROW = "damaged_row"
CHECK_FAILED = "check_failed"
REPAIRABLE_KINDS = {INTEGRITY, FOREIGN_KEY, CORRUPT_CROP, STALE_POSTERIOR, MISSING_POSTERIOR, BAD_SETTING, DAMAGED_ROW,
                    COMPARISON_MISSING_LABELLER}
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
                        ("references' ages", reference_age_problems), ("image files", missing_file_problems),
                        ("face crops", crop_problems)):
        problems += _guarded(name, check, db)
    # Posteriors are computed with the settings, the labellers' β and the references' ages: not without them.
    if not {problem.kind for problem in problems} & {BAD_SETTING, COMPARISON_MISSING_LABELLER, REFERENCE_WITHOUT_AGE}:
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
                                      "project is damaged in a way ageapp cannot repair; "
                                      f"{restore_hint(project_file(db))}", [name])]


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
                                 f"({low}-{high}); `ageapp check --repair` sets it back to {implied_age_max(db)} "
                                 "(what the stored posteriors were computed with)", ["age_max"])]


def implied_age_max(db: sqlite_utils.Database) -> int:
    """The age_max the stored posteriors were computed with (the default when they disagree or are damaged)."""
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
                               f"indexes; anything else needs a backup: {restore_hint(project_file(db))}",
                    messages)]


def foreign_key_problems(db: sqlite_utils.Database) -> list[Problem]:
    rows = list(db.execute("PRAGMA foreign_key_check"))
    # rows of comparisons whose image or labeller row is gone (not the whole table: that is damage of its own)
    known = {"images", "annotators"} & set(db.table_names())
    dangling = sorted({rowid for table, rowid, parent, _ in rows if table == "comparisons" and parent == "images"
                       and parent in known})
    unnamed = sorted({rowid for table, rowid, parent, _ in rows if table == "comparisons" and parent == "annotators"
                      and parent in known})
    others: dict[tuple[str, str], list] = defaultdict(list)
    for table, rowid, parent, _ in rows:
        if table != "comparisons" or parent not in known:
            others[(table, parent)].append(rowid)
    problems = []
    if unnamed:
        labellers = sorted({row[0] for row in db.execute(
            f"SELECT annotator_id FROM comparisons WHERE rowid IN ({','.join('?' * len(unnamed))})", unnamed)}, key=str)
        ids = [row[0] for row in db.execute(
            f"SELECT id FROM comparisons WHERE rowid IN ({','.join('?' * len(unnamed))}) ORDER BY rowid", unnamed)]
        problems.append(Problem(
            COMPARISON_MISSING_LABELLER,
            f"{len(ids)} comparisons name labellers that are no longer in the project (labeller ids "
            f"{', '.join(map(str, labellers[:10]))}: their rows were deleted); `ageapp check --repair` puts them "
            "back under a placeholder name (rename them in the team view if you know who they were)", ids))
    if dangling:
        ids = [r[0] for r in db.execute(
            f"SELECT id FROM comparisons WHERE rowid IN ({','.join('?' * len(dangling))}) ORDER BY rowid", dangling)]
        problems.append(Problem(
            COMPARISON_MISSING_IMAGE,
            f"{len(ids)} comparisons refer to images that are no longer in the project; they are kept (answers are "
            "never deleted) but count for nothing until the images are back: restore a backup that still has them "
            f"({restore_hint(project_file(db))})", ids))
    for (table, parent), rowids in sorted(others.items()):
        problems.append(Problem(FOREIGN_KEY, f"{len(rowids)} rows of {table} refer to {parent} rows that are gone"
                                             f"{'; --repair removes them' if table in ('faces', 'posteriors') else ''}",
                                [f"{table}:{rowid}" for rowid in rowids]))
    return problems


def reference_age_problems(db: sqlite_utils.Database) -> list[Problem]:
    """Comparisons against an image that is not a reference of exact age (an age deleted by hand)."""
    rows = db.execute(
        "SELECT c.id, image.id FROM comparisons AS c JOIN images AS image"
        " ON image.id IN (c.reference_image_id, c.second_reference_image_id)"
        " WHERE image.age IS NULL OR image.role != 'reference' ORDER BY c.rowid").fetchall()
    if not rows:
        return []
    images = sorted({image for _, image in rows})
    return [Problem(REFERENCE_WITHOUT_AGE, f"{len({c for c, _ in rows})} comparisons are against references that "
                                           f"have no exact age (image ids {', '.join(map(str, images[:10]))}), so "
                                           "no posterior can be computed from them: give those references their "
                                           "ages again (import them again with their age labels), or "
                                           f"{restore_hint(project_file(db))}", sorted({c for c, _ in rows}))]


def missing_file_problems(db: sqlite_utils.Database) -> list[Problem]:
    problems, project = [], project_file(db)
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


def project_file(db: sqlite_utils.Database) -> Path:
    """The file behind a connection (for messages, and the backup beside it)."""
    return Path(getattr(db, "path", None) or db.execute("PRAGMA database_list").fetchone()[2])
