"""`ageapp check` names what is wrong, and `--repair` does what the check promised: deleted labeller rows are
not missing images (repair puts the labellers back), a reference without an age is a problem of its own (not a
check that failed), a folder stored as bytes that are not text never stops the repair, and an unusable crop
whose image file is there is not reported as a missing file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import cv2
import numpy as np
import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.store.db import open_project
from tests.factories import make_project

REFERENCES, QUERIES = 20, 10


def _run(capsys, *argv) -> tuple[int, dict, str]:
    code = ageapp_main([str(arg) for arg in argv])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]), "\n".join(out[:-1])


@pytest.fixture
def project(tmp_path) -> Path:
    """A project whose image files are there (real pictures, their hashes stored), with 12 answers by fay."""
    path = tmp_path / "study.ageproj"
    db = make_project(path, references=REFERENCES, queries=QUERIES)[0]
    for role, count in (("ref", REFERENCES), ("query", QUERIES)):
        (tmp_path / role).mkdir()
        for index in range(count):
            picture = np.full((40, 40, 3), (index * 11 + len(role)) % 250, np.uint8)
            ok, data = cv2.imencode(".png", picture)
            (tmp_path / role / f"{index}.jpg").write_bytes(data.tobytes())
            db.execute("UPDATE images SET sha1 = ? WHERE relative_path = ?",
                       [hashlib.sha1(data.tobytes()).hexdigest(), f"{role}/{index}.jpg"])
    session = AnnotationSession(db, "fay", seed=0)
    for _ in range(12):
        session.answer(session.next_task(), "left", response_ms=1)
    db.close()
    return path


def _edit(project: Path, *statements, parameters=()) -> None:
    """A hand edit in the sqlite3 shell (foreign keys off, as there)."""
    with closing(sqlite3.connect(project)) as conn:
        for statement in statements:
            conn.execute(statement, parameters)
        conn.commit()


def _answers(project: Path) -> list:
    with closing(open_project(project, read_only=True)) as db:
        return [tuple(row) for row in db.execute("SELECT * FROM comparisons ORDER BY rowid")]


def test_the_fixture_passes_the_check(project, capsys):
    code, payload, _ = _run(capsys, "check", project)
    assert code == 0 and payload["ok"] and payload["checked"]["comparisons"] == 12


def test_deleted_labeller_rows_are_not_missing_images_and_repair_puts_them_back(project, capsys):
    answers = _answers(project)
    _edit(project, "DELETE FROM annotators WHERE name = 'fay'")
    code, payload, summary = _run(capsys, "check", project)
    assert code == 1 and payload["problems"] == {"comparison_missing_labeller": 12}
    assert "12 comparisons name labellers that are no longer in the project" in summary
    assert "images" not in summary.split("]", 1)[1].split(";")[0]
    code, payload, summary = _run(capsys, "check", project, "--repair")
    assert code == 0 and payload["ok"], summary
    assert any("put back 1 labellers whose rows were deleted" in action for action in payload["repairs"])
    assert _answers(project) == answers  # not one answer changed
    with closing(open_project(project, read_only=True)) as db:
        (name,) = [row[0] for row in db.execute("SELECT name FROM annotators")]
        assert name.endswith("(restored by repair)")


def test_a_reference_without_an_age_is_its_own_problem(project, capsys):
    with closing(open_project(project, read_only=True)) as db:
        reference = db.execute("SELECT reference_image_id FROM comparisons LIMIT 1").fetchone()[0]
        answered = db.execute("SELECT count(*) FROM comparisons WHERE reference_image_id = ?",
                              [reference]).fetchone()[0]
    _edit(project, "UPDATE images SET age = NULL, age_min = NULL, age_max = NULL WHERE id = ?",
          parameters=[reference])
    code, payload, summary = _run(capsys, "check", project)
    assert code == 1 and payload["problems"] == {"reference_without_age": answered}
    assert f"have no exact age (image ids {reference})" in summary and "check_failed" not in summary
    assert "import them again with their age labels" in summary


@pytest.mark.parametrize("stored", [b"/no/such/folder/\xff\xfe", "THE FOLDER"])
def test_a_folder_stored_as_bytes_is_repaired_without_stopping(project, capsys, stored):
    folder = str(project.parent).encode() if stored == "THE FOLDER" else stored
    _edit(project, "UPDATE roots SET path = ?", parameters=[folder])
    code, payload, summary = _run(capsys, "check", project)
    assert code == 1 and payload["problems"] == {"damaged_row": 1} and "--repair` turns them back into text" in summary
    code, payload, summary = _run(capsys, "check", project, "--repair")
    assert not any("stopped repairing" in action for action in payload["repairs"]), payload["repairs"]
    assert any("back into text" in action for action in payload["repairs"])
    if stored == "THE FOLDER":
        assert code == 0 and payload["ok"]
    else:  # not text: kept escaped, and now the check says where to relink it from
        assert code == 1 and payload["problems"] == {"missing_root": REFERENCES + QUERIES}
        assert "\\xff\\xfe" in summary and "`ageapp relink" in summary


def _garbage_crop(project: Path) -> int:
    with closing(open_project(project, read_only=True)) as db:
        image = db.execute("SELECT query_image_id FROM comparisons LIMIT 1").fetchone()[0]
        face = db.execute("SELECT id FROM faces WHERE image_id = ?", [image]).fetchone()[0]
    _edit(project, "UPDATE faces SET crop = ? WHERE id = ?", parameters=[b"garbage", face])
    return image


@pytest.mark.parametrize("file_state, expected", [
    ("present", "the face positions stored with them are unusable"),
    ("changed", "the files at their paths are other pictures now"),
    ("missing", "their image files are missing: put them back"),
])
def test_an_unusable_crop_is_explained_by_what_is_really_wrong(project, capsys, file_state, expected):
    image = _garbage_crop(project)
    with closing(open_project(project, read_only=True)) as db:
        relative = db.execute("SELECT relative_path FROM images WHERE id = ?", [image]).fetchone()[0]
    path = project.parent / relative
    if file_state == "changed":
        path.write_bytes(path.read_bytes() + b"edited")
    elif file_state == "missing":
        path.unlink()
    code, payload, summary = _run(capsys, "check", project, "--repair")
    kept = [action for action in payload["repairs"] if action.startswith("kept 1 unusable faces")]
    assert kept and expected in kept[0], payload["repairs"]
    if file_state != "missing":
        assert "missing" not in kept[0]
