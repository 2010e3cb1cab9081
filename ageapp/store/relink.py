"""Relinking moved image folders: every root at or under OLD is re-based onto NEW, in one transaction.

Image rows store a root and a path relative to it, so a dataset moved to another disk (or a project opened
on another computer) is fixed here without touching a single image row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlite_utils

from ageapp.store.images import relink_root


@dataclass(frozen=True)
class Relinked:
    root_id: int
    old: str
    new: str
    images: int
    found: int  # of those images, how many files are at the new place


def _absolute(folder: str | Path) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(folder)))


def plan_relink(db: sqlite_utils.Database, old_folder: str | Path, new_folder: str | Path) -> list[Relinked]:
    """What relinking OLD to NEW would do; ValueError (with what to do) if it cannot be done."""
    old, new = _absolute(old_folder), Path(new_folder).expanduser().resolve()
    if not new.is_dir():
        raise ValueError(f"{new} is not a folder: give the folder the images were moved to")
    roots = db.execute("SELECT id, path FROM roots ORDER BY id").fetchall()
    inside = old.rstrip(os.sep) + os.sep
    affected = [(root_id, path) for root_id, path in roots if path == old or path.startswith(inside)]
    if not affected:
        known = "\n  ".join(path for _, path in roots) or "(none)"
        raise ValueError(f"no image folder of this project is {old} or inside it; its folders are:\n  {known}")
    existing = {path for _, path in roots}
    plan = []
    for root_id, path in affected:
        target = new / os.path.relpath(path, old)
        if str(target) in existing and str(target) != path:
            raise ValueError(f"{target} is already another image folder of this project; cannot relink {path} onto it")
        relatives = [row[0] for row in db.execute("SELECT relative_path FROM images WHERE root_id = ?", [root_id])]
        found = sum((target / PurePosixPath(relative)).is_file() for relative in relatives)
        plan.append(Relinked(root_id, path, str(target), len(relatives), found))
    if sum(item.images for item in plan) and not sum(item.found for item in plan):
        raise ValueError(f"none of the {sum(item.images for item in plan)} images of {old} is in {new}: is it the "
                         "folder they were moved to? Nothing was changed")
    return plan


def relink(db: sqlite_utils.Database, old_folder: str | Path, new_folder: str | Path) -> list[Relinked]:
    """Re-base every root at or under OLD onto NEW; returns what was done."""
    plan = plan_relink(db, old_folder, new_folder)
    with db.atomic():
        for item in plan:
            if not Path(item.new).is_dir():
                raise ValueError(f"{item.new} (where {item.old} should now be) is not a folder; nothing was changed")
            relink_root(db, item.root_id, item.new)
    return plan
