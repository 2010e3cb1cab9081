"""`ageapp new / import / stats`: the summary, the JSON last line, exit codes, and the FG-NET acceptance run."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from ageapp.__main__ import main
from ageapp.store import schema
from tests.data.test_importers import write_image


def run(capsys, *argv):
    """Run the command in-process; return (exit status, the JSON last line, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, json.loads(captured.out.strip().splitlines()[-1]), captured.out, captured.err


@pytest.fixture
def project(tmp_path, capsys):
    path = tmp_path / "p.ageproj"
    status, payload, _, _ = run(capsys, "new", path)
    assert status == 0 and payload == {"project": str(path), "schema_version": len(schema.MIGRATIONS), "age_max": 100}
    return path


def write_utkface_chips(folder, ages):
    """Face-chip files named as UTKFace names them (age_gender_race_date): imported --aligned, each has a face."""
    for index, age in enumerate(ages):
        write_image(folder / f"{age}_{index % 2}_0_2017010{index % 10}{index:04d}.jpg.chip.jpg", index, size=48)
    return folder


def test_new_takes_the_age_range_and_refuses_one_out_of_bounds(tmp_path, capsys):
    from ageapp.store.db import open_project
    from ageapp.store.settings import get_setting

    path = tmp_path / "narrow.ageproj"
    status, payload, out, _ = run(capsys, "new", path, "--age-max", 70)
    assert (status, payload["age_max"]) == (0, 70) and "ages 0-70" in out
    with open_project(path, read_only=True) as db:
        assert get_setting(db, "age_max") == 70
    for bad in (5, 121):
        status, payload, _, _ = run(capsys, "new", tmp_path / f"bad{bad}.ageproj", "--age-max", bad)
        assert status == 1 and "between 10 and 120" in payload["error"]
        assert not (tmp_path / f"bad{bad}.ageproj").exists()


def test_import_warns_with_the_figures_when_the_references_do_not_span_the_range(tmp_path, capsys):
    chips = write_utkface_chips(tmp_path / "chips", [5, 20, 61, 64, 80])
    wide = tmp_path / "wide.ageproj"
    run(capsys, "new", wide)
    status, payload, out, _ = run(capsys, "import", wide, chips, "--role", "reference", "--aligned", "--no-gender")
    assert status == 0 and payload["imported"] == 5
    assert {key: payload["range"][key] for key in ("age_max", "references", "youngest", "oldest", "above_range",
                                                   "spans")} == {
        "age_max": 100, "references": 5, "youngest": 5, "oldest": 80, "above_range": 0, "spans": False}
    assert "warning: the references' ages span 5-80 but the project's range is 0-100" in out

    narrow = tmp_path / "narrow.ageproj"
    run(capsys, "new", narrow, "--age-max", 62)
    _, payload, out, _ = run(capsys, "import", narrow, chips, "--role", "reference", "--aligned", "--no-gender")
    assert (payload["range"]["oldest"], payload["range"]["above_range"]) == (61, 2)
    assert "2 references are older than 62" in out and "span 5-61" in out

    fits = tmp_path / "fits.ageproj"
    run(capsys, "new", fits, "--age-max", 62)
    _, payload, out, _ = run(capsys, "import", fits, write_utkface_chips(tmp_path / "all", [1, 30, 60]),
                             "--role", "reference", "--aligned", "--no-gender")
    assert payload["range"]["spans"] and payload["range"]["warning"] == "" and "warning:" not in out


def test_new_refuses_an_existing_file_a_wrong_suffix_and_a_missing_folder(project, tmp_path, capsys):
    before = project.read_bytes()
    status, payload, _, err = run(capsys, "new", project)
    assert status == 1 and "already exists" in payload["error"] and "already exists" in err
    assert project.read_bytes() == before
    status, payload, _, _ = run(capsys, "new", tmp_path / "p.db")
    assert status == 1 and "ageapp new" in payload["error"] and "p.db.ageproj" in payload["error"]
    status, payload, _, _ = run(capsys, "new", tmp_path / "missing" / "p.ageproj")
    assert status == 1 and "does not exist" in payload["error"]


def test_import_reports_counts_and_every_bad_file_then_stats_agree(project, tmp_path, capsys):
    folder = tmp_path / "photos"
    for seed in range(3):
        write_image(folder / f"{seed}.jpg", seed)
    shutil.copy(folder / "0.jpg", folder / "3.jpg")
    (folder / "4.jpg").write_bytes(b"")
    (folder / "5.png").write_text("not a png")
    status, payload, out, err = run(capsys, "import", project, folder, "--role", "query")
    assert status == 0
    assert {key: payload[key] for key in ("imported", "skipped", "duplicates", "faces_found")} == {
        "imported": 3, "skipped": 0, "duplicates": 1, "faces_found": 0}
    assert [(error["path"], "empty file" in error["reason"] or "not an image" in error["reason"])
            for error in payload["errors"]] == [(str(folder / "4.jpg"), True), (str(folder / "5.png"), True)]
    assert "imported 3 query images" in out and "2 errors (not imported)" in out
    assert "Haar cascade" in err  # the detector notice, on stderr

    status, again, _, _ = run(capsys, "import", project, folder, "--role", "query")
    assert (status, again["imported"], again["skipped"]) == (0, 0, 4)

    status, stats, out, _ = run(capsys, "stats", project)
    assert status == 0 and stats == {"project": str(project), "images": 3, "references": 0, "queries": 3,
                                     "faces": 0, "comparisons": 0, "posteriors": 0, "flagged": 0, "runs": 0,
                                     "team": {"labellers": [], "pairs": [], "split": None, "part": None}}


def test_import_failures_exit_1_with_a_message_and_leave_the_project_alone(project, tmp_path, capsys):
    before = project.read_bytes()
    status, payload, _, _ = run(capsys, "import", project, tmp_path / "nowhere", "--role", "query")
    assert status == 1 and "does not exist" in payload["error"]
    status, payload, _, _ = run(capsys, "import", project, tmp_path, "--role", "query", "--detector",
                                tmp_path / "yunet.onnx")
    assert status == 1 and "detector model" in payload["error"] and "--detector" in payload["error"]
    status, payload, _, _ = run(capsys, "import", tmp_path / "absent.ageproj", tmp_path, "--role", "query")
    assert status == 1 and "ageapp new" in payload["error"]
    assert project.read_bytes() == before


def test_a_file_that_is_not_a_project_is_refused(tmp_path, capsys):
    fake = tmp_path / "photo.ageproj"
    write_image(tmp_path / "photo.jpg")
    shutil.copy(tmp_path / "photo.jpg", fake)
    status, payload, _, _ = run(capsys, "stats", fake)
    assert status == 1 and "not a SQLite database" in payload["error"]
    assert fake.read_bytes() == (tmp_path / "photo.jpg").read_bytes()


FGNET_DECADES = {0: 371, 1: 339, 2: 144, 3: 79, 4: 46, 5: 15, 6: 8}  # from ../shared/data/README.md


@pytest.mark.shared
@pytest.mark.slow
def test_fgnet_acceptance(project, fgnet_images, yunet_model, capsys, monkeypatch):
    """All 1,002 FG-NET photos with ages and subjects, a detected face in at least 990; again adds nothing."""
    from ageapp.store.db import open_project
    from ageapp.store.images import list_images

    monkeypatch.setenv("AGEAPP_DETECTOR", str(yunet_model))
    status, payload, _, err = run(capsys, "import", project, fgnet_images, "--role", "reference")
    assert status == 0 and "YuNet" in err
    assert (payload["format"], payload["imported"], payload["errors"]) == ("fgnet", 1002, [])
    # FG-NET's ages reach 69 (README of the data); a new project's range is 0-100: said, with the figures.
    assert (payload["range"]["youngest"], payload["range"]["oldest"], payload["range"]["spans"]) == (0, 69, False)
    assert payload["faces_found_by"]["yunet"] >= 990 and payload["faces_found"] == 1002
    images = list_images(open_project(project))
    assert Counter(int(image["age"]) // 10 for image in images) == FGNET_DECADES
    assert len({image["subject"] for image in images}) == 82
    status, again, _, _ = run(capsys, "import", project, fgnet_images, "--role", "reference")
    assert (again["imported"], again["skipped"]) == (0, 1002)
    _, stats, _, _ = run(capsys, "stats", project)
    assert (stats["images"], stats["references"], stats["faces"]) == (1002, 1002, payload["faces_stored"])


@pytest.mark.shared
def test_import_uses_the_projects_detector_before_the_environments(project, fgnet_images, yunet_model, tmp_path,
                                                                    capsys, monkeypatch):
    """One owner decides the detector (ageapp.model.resolve.choose_detector): a project that stored YuNet keeps
    it, whatever $AGEAPP_DETECTOR says (here a file that is no detector at all, which would be refused)."""
    from ageapp.store.db import open_project
    from ageapp.store.settings import set_setting

    db = open_project(project)
    set_setting(db, "detector_path", str(yunet_model))
    db.close()
    folder = tmp_path / "few"
    folder.mkdir()
    for photo in sorted(fgnet_images.iterdir())[:3]:
        shutil.copy(photo, folder / photo.name)
    not_a_detector = tmp_path / "other.onnx"
    not_a_detector.write_bytes(b"not an onnx file")
    monkeypatch.setenv("AGEAPP_DETECTOR", str(not_a_detector))
    status, payload, _, err = run(capsys, "import", project, folder, "--role", "reference", "--no-gender")
    assert status == 0 and "YuNet" in err and payload["detector"] == "yunet"
    assert payload["imported"] == 3
