"""Damage inside a valid project file, and merges that cannot use every answer: `check` and `check --repair`
report or fix it and never raise; repair makes a backup only when it can fix something and keeps a few; a
merge leaves out the comparisons whose references have no age here, and says so."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.core.posterior import AGE_MAX_DEFAULT
from ageapp.store.check import check_project
from ageapp.store.repair import REPAIR_BACKUPS_KEPT, repair_project
from ageapp.store.db import open_project
from tests.data.broken_projects import _clean_project
from tests.factories import make_project


def _run(capsys, *argv) -> tuple[int, dict, str]:
    status = ageapp_main([str(a) for a in argv])
    out = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(out[-1]), "\n".join(out[:-1])


@pytest.fixture
def sound(tmp_path) -> Path:
    """A sound project (real photos, faces cropped from them, comparisons and their posteriors)."""
    path = tmp_path / "p.ageproj"
    _clean_project(path, tmp_path / "photos")[0].close()
    return path


def _damage(path: Path, *statements: str) -> None:
    """Write behind the app's back, as another program (or a bit flip) would."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("PRAGMA ignore_check_constraints = ON")  # damage does not ask the schema first
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def _comparisons(path: Path) -> list:
    with open_project(path, read_only=True) as db:
        return db.execute("SELECT * FROM comparisons ORDER BY rowid").fetchall()


@pytest.mark.parametrize("value", ['"abc"', "abc", "-5", "100000", "70.5", "null"])
def test_a_setting_that_is_not_a_number_is_reported_and_repaired(sound, capsys, value):
    answers = _comparisons(sound)
    _damage(sound, f"INSERT OR REPLACE INTO settings (key, value) VALUES ('age_max', '{value}')")
    status, payload, summary = _run(capsys, "check", sound)
    assert status == 1 and payload["problems"] == {"bad_setting": 1}
    assert "setting age_max is" in summary and f"sets it back to {AGE_MAX_DEFAULT}" in summary
    status, payload, summary = _run(capsys, "check", sound, "--repair")
    assert status == 0 and payload["ok"] and f"set age_max back to {AGE_MAX_DEFAULT}" in summary
    assert _comparisons(sound) == answers


def test_a_folder_path_stored_as_bytes_is_reported_and_turned_back_into_text(sound, capsys):
    _damage(sound, "UPDATE roots SET path = CAST(path AS BLOB)")
    status, payload, summary = _run(capsys, "check", sound)
    assert status == 1 and payload["problems"] == {"damaged_row": 1} and "stored as something other than text" in summary
    status, payload, summary = _run(capsys, "check", sound, "--repair")
    assert status == 0 and payload["ok"] and "turned 1 folder and file names stored as bytes back into text" in summary


@pytest.mark.parametrize("landmarks", ["not json", "[1, 2, 3]", "[[0,0],[0,0],[0,0],[0,0],[0,0]]",
                                       '[["a","b"],[1,2],[3,4],[5,6],[7,8]]', "[[NaN,1],[2,3],[4,5],[6,7],[8,9]]"])
def test_bad_landmarks_on_a_face_with_a_corrupt_crop_never_crash_repair(sound, capsys, landmarks):
    with open_project(sound, read_only=True) as db:
        face, image = db.execute("SELECT faces.id, faces.image_id FROM faces JOIN images ON images.id = image_id"
                                 " WHERE images.role = 'query' ORDER BY faces.id LIMIT 1").fetchone()
    _damage(sound, f"UPDATE faces SET crop = x'00', landmarks = '{landmarks}' WHERE id = {face}")
    answers = _comparisons(sound)
    status, payload, summary = _run(capsys, "check", sound, "--repair")
    assert payload["problems"] == {"corrupt_crop": 1}  # compared, so kept, and said so
    assert "kept 1 unusable faces whose images have comparisons" in summary
    assert _comparisons(sound) == answers


def test_a_check_that_cannot_finish_becomes_a_problem_not_a_traceback(sound, capsys):
    _damage(sound, "DROP TABLE annotators")  # comparisons name annotators that are gone
    for argv in (["check", sound], ["check", sound, "--repair"]):
        status, payload, summary = _run(capsys, *argv)
        assert status == 1 and "check_failed" in payload["problems"]
        assert "could not finish" in summary and "`ageapp restore " in summary


def test_repairing_an_unfixable_project_again_and_again_keeps_a_few_backups(tmp_path):
    db, references, _ = _clean_project(tmp_path / "p.ageproj", tmp_path / "photos")
    db.execute("UPDATE faces SET crop = x'00' WHERE image_id = ?", [references[0]])  # compared, photo gone:
    (tmp_path / "photos" / f"{references[0] - 1}.jpg").unlink()  # it can be neither re-cropped nor dropped
    for _ in range(9):
        repaired = repair_project(db)
        assert repaired.backup is not None and repaired.remaining.kinds() == {"corrupt_crop", "missing_image_file"}
    backups = sorted(tmp_path.glob("p.before-repair-*.ageproj"))
    assert len(backups) == REPAIR_BACKUPS_KEPT and repaired.backup == backups[-1]
    db.close()


def test_repair_makes_no_backup_when_nothing_can_be_fixed(tmp_path, capsys):
    db, references, _ = _clean_project(tmp_path / "p.ageproj", tmp_path / "photos")
    db.close()
    (tmp_path / "photos" / "0.jpg").unlink()  # a missing photo: only the user can put it back
    status, payload, summary = _run(capsys, "check", tmp_path / "p.ageproj", "--repair")
    assert status == 1 and payload["backup"] is None and "nothing here that --repair can fix" in summary
    assert not list(tmp_path.glob("*.before-repair-*"))


def test_check_reads_a_posterior_vector_of_nans_as_stale(sound, capsys):
    with open_project(sound, read_only=True) as db:
        length = len(db.execute("SELECT probabilities FROM posteriors LIMIT 1").fetchone()[0])
    nans = "x'" + "0000c07f" * (length // 4) + "'"  # float32 NaN, little-endian: the right length, no numbers
    _damage(sound, f"UPDATE posteriors SET probabilities = {nans} WHERE query_image_id = "
                   "(SELECT min(query_image_id) FROM posteriors)")
    status, payload, _ = _run(capsys, "check", sound)
    assert status == 1 and payload["problems"] == {"stale_posterior": 1}
    status, payload, summary = _run(capsys, "check", sound, "--repair")
    assert status == 0, summary


# ---------------------------------------------------------------------------------------------------- merge
def test_merge_leaves_out_comparisons_whose_references_have_no_age_here(tmp_path, capsys):
    here = tmp_path / "here.ageproj"
    make_project(here, references=30, queries=5)[0].close()
    there = tmp_path / "there.ageproj"
    shutil.copyfile(here, there)
    db = open_project(there)
    session = AnnotationSession(db, "bob", seed=0)
    for _ in range(12):
        session.answer(session.next_task(), "left", response_ms=1)
    used = {row[0] for row in db.execute("SELECT DISTINCT reference_image_id FROM comparisons")}
    db.close()
    unaged = sorted(used)[: len(used) // 2]  # half of the references the other labeller used lose their age here
    _damage(here, f"UPDATE images SET age = NULL, age_min = NULL, age_max = NULL WHERE id IN "
                  f"({','.join(map(str, unaged))})")
    with closing(sqlite3.connect(there)) as conn:
        expected_out = conn.execute(f"SELECT count(*) FROM comparisons WHERE reference_image_id IN "
                                    f"({','.join(map(str, unaged))}) OR second_reference_image_id IN "
                                    f"({','.join(map(str, unaged))})").fetchone()[0]
        total = conn.execute("SELECT count(*) FROM comparisons").fetchone()[0]
    status, payload, summary = _run(capsys, "merge", here, there)
    assert status == 0 and expected_out > 0
    assert (payload["added"], payload["without_age"]) == (total - expected_out, expected_out)
    assert f"left out {expected_out} comparisons with references that have no age" in summary
    with open_project(here) as db:
        assert check_project(db).kinds() <= {"missing_image_file"}  # posteriors agree with what was merged
