"""A project file holding part of another's queries: every reference, the chosen queries, and what they need.

Used to split a project for a team (ageapp.annotation.team). Like backup.py this works on the project file as a
whole rather than on one table, so it is the one place besides the tables' owners that names them all: each table
is either copied (every row, or the rows that belong to the chosen queries) or deliberately left out, and a table
this module does not know (a newer migration) stops the copy instead of being lost silently.

Rows keep their ids, so a part's image, face and annotator ids are the source's, and comparisons keep their
UUIDs: `ageapp merge` brings a part's answers back by UUID and content hash. The part is written under a
temporary name, checked, and renamed: a cancel or a crash never leaves a half part that looks whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path

import sqlite_utils

from ageapp.store.backup import PARTIAL_SUFFIX
from ageapp.store.db import open_project, schema_version
from ageapp.store.lock import lock_path

CHUNK = 500  # rows per INSERT batch (and per progress step)
_KEPT_IMAGES = "SELECT id FROM images WHERE role = 'reference' OR id IN (SELECT value FROM json_each(:queries))"
_KEPT_QUERIES = "SELECT value FROM json_each(:queries)"
_KEPT_COMPARISONS = f"SELECT id FROM comparisons WHERE is_gold = 1 OR query_image_id IN ({_KEPT_QUERIES})"
# table -> which of its rows a part gets (None: all of them), in an order that keeps foreign keys satisfied.
COPIED: dict[str, str | None] = {
    "roots": None,
    "annotators": None,  # with their β estimates: a labeller's answers weigh the same in the part
    "runs": None,
    "models": None,  # the active model gives the paper protocol its rough estimates
    "settings": "key NOT IN ('journal_session', 'team_split')",  # the part's journal is its own; split: below
    "images": f"id IN ({_KEPT_IMAGES})",
    "faces": f"image_id IN ({_KEPT_IMAGES})",
    "comparisons": f"id IN ({_KEPT_COMPARISONS})",  # the gold pairs (references only) and the chosen queries'
    "undone": f"comparison_id IN ({_KEPT_COMPARISONS})",
    "posteriors": f"query_image_id IN ({_KEPT_QUERIES})",
    "model_priors": f"query_image_id IN ({_KEPT_QUERIES})",  # a part labels from the same priors
    "gender_corrections": f"image_id IN ({_KEPT_IMAGES})",
    "requeued": f"query_image_id IN ({_KEPT_QUERIES})",
}
LEFT_OUT = {
    "study_answers": "the user study belongs to the project it was taken in (merge does not bring answers of it back)",
}


class SubsetError(Exception):
    """The part cannot be written: says why and what to do."""


def unknown_tables(db: sqlite_utils.Database) -> list[str]:
    """Tables of the project that this module neither copies nor leaves out on purpose."""
    names = [name for name in db.table_names() if not name.startswith("sqlite_")]
    return sorted(set(names) - set(COPIED) - set(LEFT_OUT))


def rows_to_copy(source: sqlite_utils.Database, query_ids: Iterable[int]) -> int:
    """How many rows write_subset copies for these queries (its progress counts them)."""
    queries = json.dumps(sorted({int(i) for i in query_ids}))
    return sum(_count(source, table, where, queries) for table, where in COPIED.items())


def write_subset(source: sqlite_utils.Database, destination: Path, query_ids: Iterable[int], *,
                 settings: dict | None = None, on_rows: Callable[[int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> bool:
    """Write a new project at `destination` with every reference and the given queries (their faces, comparisons,
    undos, posteriors, gender corrections, send-backs), all annotators, runs, models and settings, plus
    `settings` (key -> value) on top. on_rows(n) follows each batch of n rows copied. Returns False, leaving
    nothing behind, when should_stop() turned true; raises SubsetError if the destination exists or the
    source has a table this version does not know."""
    destination = Path(destination)
    if destination.exists():
        raise SubsetError(f"{destination} already exists: remove it or choose another folder")
    unknown = unknown_tables(source)
    if unknown:
        raise SubsetError(f"this project has tables this version of ageapp cannot split ({', '.join(unknown)}): "
                          "update ageapp")
    partial = destination.with_name(destination.name + PARTIAL_SUFFIX)
    _remove(partial)
    queries = json.dumps(sorted({int(i) for i in query_ids}))
    try:
        with closing(open_project(partial, create=True)) as target:
            if schema_version(target) != schema_version(source):
                raise SubsetError("the project uses an older schema: open it once for writing, then split it")
            with target.atomic():
                for table, where in COPIED.items():
                    if not _copy_table(source, target, table, where, queries, on_rows, should_stop):
                        return False
                for key, value in (settings or {}).items():
                    target.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                                   [key, json.dumps(value)])
            problems = target.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise SubsetError(f"the part would break {len(problems)} references between rows ({problems[:3]}); "
                                  "run `ageapp check --repair` on the project, then split again")
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        os.replace(partial, destination)
        return True
    finally:
        _remove(partial)


def _count(source, table: str, where: str | None, queries: str) -> int:
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    return source.execute(sql, {"queries": queries} if where and ":queries" in where else {}).fetchone()[0]


def _copy_table(source, target, table: str, where: str | None, queries: str, on_rows, should_stop) -> bool:
    columns = [column.name for column in target[table].columns]
    listed = ", ".join(f'"{name}"' for name in columns)
    sql = f"SELECT {listed} FROM {table}" + (f" WHERE {where}" if where else "")
    verb = "INSERT OR REPLACE" if table == "settings" else "INSERT"  # a new project's settings may hold the key
    insert = f"{verb} INTO {table} ({listed}) VALUES ({', '.join('?' * len(columns))})"
    cursor = source.execute(sql, {"queries": queries} if where and ":queries" in where else {})
    while True:
        if should_stop is not None and should_stop():
            return False
        rows = cursor.fetchmany(CHUNK)
        if not rows:
            return True
        target.conn.executemany(insert, rows)
        if on_rows is not None:
            on_rows(len(rows))


def _remove(partial: Path) -> None:
    for path in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm"), lock_path(partial)):
        path.unlink(missing_ok=True)
