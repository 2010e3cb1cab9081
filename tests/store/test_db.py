"""Opening project files: schema version, migrations, WAL, and the refusals (each leaving the file untouched)."""

from __future__ import annotations

import sqlite3

import pytest

from ageapp.store import schema
from ageapp.store.db import ProjectError, open_project, schema_version

EXPECTED_TABLES = {"roots", "images", "faces", "annotators", "comparisons", "undone", "posteriors", "runs",
                   "models", "settings"}


def raw_pragma(path, name):
    """Read a pragma through plain sqlite3, not through the code under test."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def test_new_project_has_every_table_the_current_version_and_wal(tmp_path):
    path = tmp_path / "p.ageproj"
    db = open_project(path, create=True)
    assert EXPECTED_TABLES <= set(db.table_names())
    assert schema_version(db) == len(schema.MIGRATIONS)
    db.close()
    assert raw_pragma(path, "user_version") == len(schema.MIGRATIONS)
    assert raw_pragma(path, "journal_mode") == "wal"
    assert raw_pragma(path, "application_id") == 0x41474550


def test_reopening_an_up_to_date_project_applies_nothing(tmp_path):
    path = tmp_path / "p.ageproj"
    open_project(path, create=True).close()
    db = open_project(path)
    assert schema.migrate(db) == []


def schema_sql(db):
    return sorted(row[0] for row in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))


@pytest.mark.parametrize("start", range(1, len(schema.MIGRATIONS)))  # 0 is a new project, tested above
def test_a_project_at_any_older_version_upgrades_to_the_same_schema_as_a_new_one(tmp_path, start):
    import sqlite_utils

    old = sqlite_utils.Database(tmp_path / "old.ageproj")
    assert schema.migrate(old, target=start) == list(range(1, start + 1))
    old.close()
    upgraded = open_project(tmp_path / "old.ageproj")
    fresh = open_project(tmp_path / "fresh.ageproj", create=True)
    assert schema_version(upgraded) == schema_version(fresh) == len(schema.MIGRATIONS)
    assert schema_sql(upgraded) == schema_sql(fresh)


def test_a_new_migration_is_applied_once_in_order(tmp_path, monkeypatch):
    current = len(schema.MIGRATIONS)

    def add_notes(db):
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")

    old = open_project(tmp_path / "old.ageproj", create=True)  # a project written by the version before
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_notes])
    assert schema.migrate(old) == [current + 1]
    assert schema_version(old) == current + 1 and "notes" in old.table_names()
    assert schema.migrate(old) == []


def test_a_failing_migration_leaves_the_previous_version_intact(tmp_path, monkeypatch):
    db = open_project(tmp_path / "p.ageproj", create=True)
    current = schema_version(db)

    def half_done(db):
        db.execute("CREATE TABLE half (id INTEGER)")
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, half_done])
    with pytest.raises(RuntimeError):
        schema.migrate(db)
    assert schema_version(db) == current
    assert "half" not in db.table_names()


def test_a_project_from_a_newer_ageapp_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "p.ageproj"
    open_project(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(schema.MIGRATIONS) + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="newer ageapp.*update ageapp"):
        open_project(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"hello, not a database", b"\xff\xd8\xff\xe0" + bytes(200)])
def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path, content):
    path = tmp_path / "photo.ageproj"
    path.write_bytes(content)
    with pytest.raises(ProjectError, match="not a SQLite database"):
        open_project(path)
    assert path.read_bytes() == content


def test_another_programs_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match="not an ageapp project"):
        open_project(path)
    assert raw_pragma(path, "user_version") == 0


def test_an_empty_file_is_not_adopted_as_a_project(tmp_path):
    path = tmp_path / "empty.ageproj"
    path.touch()
    with pytest.raises(ProjectError, match="empty"):
        open_project(path)
    assert path.stat().st_size == 0


def test_missing_file_and_folder_say_what_to_do(tmp_path):
    with pytest.raises(ProjectError, match="ageapp new"):
        open_project(tmp_path / "absent.ageproj")
    with pytest.raises(ProjectError, match="is a folder"):
        open_project(tmp_path)
    with pytest.raises(ProjectError, match="does not exist"):
        open_project(tmp_path / "no" / "such" / "p.ageproj", create=True)


def test_read_only_opens_but_refuses_writes(tmp_path):
    path = tmp_path / "p.ageproj"
    open_project(path, create=True).close()
    db = open_project(path, read_only=True)
    assert EXPECTED_TABLES <= set(db.table_names())
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("INSERT INTO roots (path) VALUES ('/x')")


def test_writes_are_committed_at_once(tmp_path):
    """A second connection sees a write immediately: a crash right after loses nothing already written."""
    path = tmp_path / "p.ageproj"
    db = open_project(path, create=True)
    db.execute("INSERT INTO roots (path) VALUES ('/data')")
    other = sqlite3.connect(path)
    assert other.execute("SELECT path FROM roots").fetchall() == [("/data",)]
