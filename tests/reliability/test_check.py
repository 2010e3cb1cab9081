"""`ageapp check` finds each broken project of the corpus; `--repair` (after a backup) leaves the repairable
ones passing the check without losing a single answer; a moved folder is fixed with `ageapp relink`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.store.check import check_project
from ageapp.store.repair import repair_project
from ageapp.store.db import open_project
from tests.data.broken_projects import NEEDS_THE_USER, REPAIRABLE, _clean_project

FOUND = {
    "stale_posterior": {"stale_posterior": 2},
    "missing_posterior": {"missing_posterior": 1},
    "corrupt_crop": {"corrupt_crop": 2},
    "damaged_index": {"integrity": 1},
    "moved_images": {"missing_root": 9},
    "dangling_comparison": {"comparison_missing_image": 3, "stale_posterior": 3},
}


def _copy(bad_corpus: Path, name: str, tmp_path: Path) -> Path:
    """The corpus project copied (its image folders stay in the corpus, where its roots point)."""
    project = tmp_path / f"{name}.ageproj"
    shutil.copyfile(bad_corpus / "projects" / "check" / f"{name}.ageproj", project)
    return project


def _run(capsys, *argv) -> tuple[int, dict, str]:
    status = ageapp_main([str(a) for a in argv])
    out = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(out[-1]), "\n".join(out[:-1])


def _answers(project: Path) -> tuple[list, list]:
    with open_project(project, read_only=True) as db:
        return ([tuple(row) for row in db.execute("SELECT * FROM comparisons ORDER BY rowid")],
                [tuple(row) for row in db.execute("SELECT * FROM undone ORDER BY rowid")])


def test_the_corpus_has_every_broken_project():
    assert set(FOUND) == set(REPAIRABLE) | set(NEEDS_THE_USER)


@pytest.mark.parametrize("name", sorted(FOUND))
def test_check_reports_each_broken_project_and_changes_nothing(bad_corpus, tmp_path, capsys, name):
    project = _copy(bad_corpus, name, tmp_path)
    before = hashlib.sha256(project.read_bytes()).hexdigest()
    status, payload, summary = _run(capsys, "check", project)
    assert status == 1 and not payload["ok"]
    assert payload["problems"] == FOUND[name]
    for kind in FOUND[name]:
        assert f"[{kind}]" in summary
    assert hashlib.sha256(project.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("name", REPAIRABLE)
def test_repair_leaves_a_project_that_passes_check_with_every_answer_kept(bad_corpus, tmp_path, capsys, name):
    project = _copy(bad_corpus, name, tmp_path)
    answers = _answers(project)
    status, payload, summary = _run(capsys, "check", project, "--repair")
    assert status == 0 and payload["ok"] and payload["problems"] == {}
    assert payload["repairs"] and "repaired:" in summary and "no problems found" in summary
    assert _run(capsys, "check", project)[0] == 0
    assert _answers(project) == answers
    backup = Path(payload["backup"])  # the project as it was before the repair, next to it
    assert backup.parent == project.parent
    with open_project(backup, read_only=True) as db:
        assert check_project(db).by_kind() == FOUND[name]


def test_a_moved_image_folder_is_relinked(bad_corpus, tmp_path, capsys):
    project = _copy(bad_corpus, "moved_images", tmp_path)
    folder = bad_corpus / "projects" / "check"
    old, new = folder / "moved_images_old", folder / "moved_images_new"
    status, payload, _ = _run(capsys, "check", project)
    assert f"ageapp relink {project} {old.resolve()} NEW_FOLDER" in payload["details"][0]["message"]

    wrong = tmp_path / "empty_folder"
    wrong.mkdir()
    status, payload, _ = _run(capsys, "relink", project, old, wrong)
    assert status == 1 and "none of the 9 images" in payload["error"] and "Nothing was changed" in payload["error"]
    status, payload, _ = _run(capsys, "relink", project, tmp_path / "never_was", new)
    assert status == 1 and "no image folder of this project is" in payload["error"]

    status, payload, summary = _run(capsys, "relink", project, old, new)
    assert status == 0 and payload["relinked"][0]["found"] == 9 and payload["still_missing"] == 0
    assert _run(capsys, "check", project)[0] == 0


def test_comparisons_of_a_deleted_image_are_reported_and_never_deleted(bad_corpus, tmp_path, capsys):
    project = _copy(bad_corpus, "dangling_comparison", tmp_path)
    answers = _answers(project)
    status, payload, summary = _run(capsys, "check", project, "--repair")
    assert status == 1 and payload["problems"] == {"comparison_missing_image": 3}
    assert "answers are never deleted" in summary and "recomputed 3 posteriors" in summary
    assert _answers(project) == answers


def test_an_unusable_face_without_its_photo_is_dropped_only_if_no_comparison_involves_it(tmp_path):
    db, references, _ = _clean_project(tmp_path / "p.ageproj", tmp_path / "photos")
    compared, uncompared = references[0], references[-1]  # the first references have comparisons
    for image_id in (compared, uncompared):
        db.execute("UPDATE faces SET crop = x'00' WHERE image_id = ?", [image_id])
        (tmp_path / "photos" / f"{image_id - 1}.jpg").unlink()
    answers = db.execute("SELECT count(*) FROM comparisons").fetchone()[0]

    repaired = repair_project(db)
    assert "removed 1 unusable faces" in repaired.actions[0] and "kept 1 unusable faces" in repaired.actions[1]
    assert db.execute("SELECT count(*) FROM faces WHERE image_id = ?", [uncompared]).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM faces WHERE image_id = ?", [compared]).fetchone()[0] == 1
    assert repaired.remaining.by_kind() == {"missing_image_file": 2, "corrupt_crop": 1}
    assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == answers
    db.close()


def test_a_photo_changed_since_import_is_not_used_to_crop_again(tmp_path):
    db, _, queries = _clean_project(tmp_path / "p.ageproj", tmp_path / "photos")
    db.execute("UPDATE faces SET crop = x'00' WHERE image_id = ?", [queries[0]])
    (tmp_path / "photos" / f"{queries[0] - 1}.jpg").write_bytes((tmp_path / "photos" / "0.jpg").read_bytes())
    repaired = repair_project(db)
    assert "cropped 0 faces again" in repaired.actions[0] and "kept 1" in repaired.actions[1]
    db.close()
