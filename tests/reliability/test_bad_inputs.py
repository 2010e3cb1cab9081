"""Everything in the bad-input corpus (tests/data/bad/) gets a clear message and leaves the project as it was:
images and tables imported into a project, projects opened, checkpoints loaded (the one carrying code is
never executed: its marker file never appears)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.datasets.records import ImageRecord, ScanError, ScanResult
from ageapp.datasets.scan import scan
from ageapp.store.db import ProjectError, open_project
from ageapp.store.importing import import_records
from ageapp.store.lock import lock_path
from tests.data.make_bad_corpus import PICKLE_MARKER
from tests.factories import make_project
from tests.trainer.conftest import write_utkface_folder
from trainer.__main__ import main as trainer_main
from trainer.checkpoint import CheckpointError, model_from_checkpoint

REFUSED_IMAGES = {
    "zero_bytes.jpg": "empty file (0 bytes)",
    "text_named.jpg": "not an image (or an unsupported format): open it in an image viewer",
    "truncated.jpg": "truncated JPEG (the file ends before the image does): re-copy",
    "truncated_ends_whole.jpg": "truncated JPEG (the file was cut short and its bottom is missing",
    "truncated.png": "truncated PNG (the file ends before the image does): re-copy",
    "bomb_50000x50000.png": "image dimensions are absurdly large",
    os.fsdecode(b"caf\xe9_photo.jpg"): "not valid text (UTF-8",
}
AWKWARD_IMAGES = ("cmyk.jpg", "sixteen_bit.png", "exif_rotated.jpg", "very_long_name_" + "x" * 200 + ".jpg")

BAD_PROJECTS = {
    "not_sqlite.ageproj": "is not an ageapp project (not a SQLite database); pick the .ageproj file",
    "newer_schema.ageproj": "was written by a newer ageapp (project schema 9999",
    "empty.ageproj": "is empty, not an ageapp project; create one with `ageapp new`",
    "other_program.ageproj": "is a SQLite database but not an ageapp project",
    "truncated.ageproj": "the file is damaged or incomplete; restore a backup with `ageapp restore ",
}

BAD_CHECKPOINTS = {
    "code_in_pickle.pt": "is not a readable PyTorch checkpoint",
    "code_in_torch_zip.pt": "was refused: it is not a plain-weights checkpoint (loading it would need to run code",
    "resnet18_as_ours.pt": "the weights do not fit a resnet18 age network (another architecture",
    "resnet18_state_dict.pt": "is not an age-network checkpoint of this app",
    "newer_version.pt": "was written by a newer version of the app (format 3, this one reads up to 2): update",
    "truncated.pt": "is not a readable PyTorch checkpoint",
}


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "study.ageproj"
    make_project(path, references=6, queries=3)[0].close()
    return path


def _counts(path: Path) -> dict:
    with open_project(path, read_only=True) as db:
        return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("roots", "images", "faces", "comparisons", "posteriors")}


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------- images
@pytest.mark.parametrize("name", sorted(REFUSED_IMAGES))
def test_each_bad_image_is_refused_with_a_reason_and_the_project_is_unchanged(bad_corpus, project, name):
    before = _counts(project)
    path = bad_corpus / "images" / name
    with open_project(project) as db:
        report = import_records(db, ScanResult([ImageRecord(path, "folder")], [], "folder"), path.parent,
                                role="query")
    assert report.imported == 0 and len(report.errors) == 1
    assert REFUSED_IMAGES[name] in report.errors[0]["reason"]
    assert _counts(project) == before


def test_awkward_but_valid_images_are_imported(bad_corpus, project):
    before = _counts(project)
    folder = bad_corpus / "images"
    with open_project(project) as db:
        report = import_records(db, ScanResult([ImageRecord(folder / name, "folder") for name in AWKWARD_IMAGES],
                                               [], "folder"), folder, role="query")
        sizes = {row[0]: row[1:] for row in db.execute("SELECT relative_path, width, height FROM images")}
    assert (report.imported, report.errors) == (4, [])
    assert _counts(project)["images"] == before["images"] + 4
    assert sizes["exif_rotated.jpg"] == (60, 140)  # stored rotated: upright after EXIF


def test_importing_the_whole_corpus_folder_reports_every_bad_file(bad_corpus, project, capsys):
    before = _counts(project)
    assert ageapp_main(["import", str(project), str(bad_corpus / "images"), "--role", "query"]) == 0
    payload = _last_json(capsys)
    assert payload["imported"] == 4 and len(payload["errors"]) == len(REFUSED_IMAGES)
    assert any(r"caf\udce9_photo.jpg" in error["path"] for error in payload["errors"])  # printable, not a crash
    assert _counts(project)["images"] == before["images"] + 4


# ---------------------------------------------------------------------------------------------------- tables
@pytest.mark.parametrize("name, message", [
    ("latin1.csv", "is not UTF-8 text; save it as 'CSV UTF-8' and import again"),
    ("no_path_column.csv", "needs a header row with `path` and either `age` or `age_min,age_max`"),
])
def test_an_unreadable_table_is_refused_and_the_project_is_unchanged(bad_corpus, project, capsys, name, message):
    before = _counts(project)
    with pytest.raises(ScanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scan(bad_corpus / "tables" / name, "csv")
    assert ageapp_main(["import", str(project), str(bad_corpus / "tables" / name), "--role", "reference",
                        "--format", "csv"]) == 1
    assert message in _last_json(capsys)["error"]
    assert _counts(project) == before


@pytest.mark.parametrize("name, fmt, messages", [
    ("wrong_types.csv", "csv", ["line 2: age 'twenty' is not a number; fix the row and import again",
                                "line 3: age '-4' is outside 0-120; fix the row and import again",
                                "file not found (moved or deleted?)"]),
    ("ragged_rows.csv", "csv", ["line 2: the row has a different number of fields than the header (2)",
                                "line 3: the row has a different number of fields than the header (2)"]),
    ("bom_crlf.csv", "csv", ["file not found (moved or deleted?)"]),
    ("missing_columns.csv", "csv", ["file not found (moved or deleted?)"]),
    ("megaage", "megaage", ["3 names but 2 ages in train_age.txt; the two lists must pair line by line"]),
])
def test_bad_rows_are_reported_one_by_one_and_nothing_is_half_imported(bad_corpus, project, capsys, name, fmt,
                                                                       messages):
    before = _counts(project)
    assert ageapp_main(["import", str(project), str(bad_corpus / "tables" / name), "--role", "reference",
                        "--format", fmt]) == 0
    payload = _last_json(capsys)
    reasons = [error["reason"] for error in payload["errors"]]
    assert payload["imported"] == 0 and len(reasons) == len(messages)
    for message in messages:
        assert any(message in reason for reason in reasons), (message, reasons)
    assert _counts(project) == before


def test_an_adience_fold_with_an_unknown_group_keeps_the_image_without_an_age(bad_corpus):
    scanned = scan(bad_corpus / "tables", "adience")
    ages = {record.path.name: (record.age_min, record.age_max) for record in scanned.records}
    assert ages == {"coarse_tilt_aligned_face.1.x.jpg": (25, 32), "coarse_tilt_aligned_face.2.y.jpg": (None, None)}
    (problem,) = scanned.problems
    assert problem.kept and "age group (26, 31) is not one of Adience's eight groups" in problem.reason


# ---------------------------------------------------------------------------------------------------- projects
@pytest.mark.parametrize("name", sorted(BAD_PROJECTS))
def test_each_bad_project_is_refused_with_a_reason_and_left_alone(bad_corpus, tmp_path, capsys, name):
    path = tmp_path / name
    path.write_bytes((bad_corpus / "projects" / name).read_bytes())
    before = _digest(path)
    for read_only in (False, True):
        with pytest.raises(ProjectError) as refused:
            open_project(path, read_only=read_only)
        assert BAD_PROJECTS[name] in str(refused.value)
    for command in ("stats", "check"):
        assert ageapp_main([command, str(path)]) == 1
        assert BAD_PROJECTS[name] in _last_json(capsys)["error"]
    assert _digest(path) == before
    assert not lock_path(path).exists()


# ---------------------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_utkface_folder(tmp_path_factory.mktemp("utk"), n=4)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("name", sorted(BAD_CHECKPOINTS))
def test_each_bad_checkpoint_is_refused_everywhere_and_never_executed(bad_corpus, tiny_data, capsys, name):
    path = bad_corpus / "checkpoints" / name
    marker = bad_corpus / "checkpoints" / PICKLE_MARKER
    before = _digest(path)
    with pytest.raises(CheckpointError) as refused:
        model_from_checkpoint(path)
    assert BAD_CHECKPOINTS[name] in str(refused.value)

    image = next(tiny_data.iterdir())
    assert ageapp_main(["estimate", "--model", str(path), str(image)]) == 1
    assert BAD_CHECKPOINTS[name] in _last_json(capsys)["error"]
    assert trainer_main(["evaluate", "--model", str(path), "--data", str(tiny_data), "--format", "utkface",
                         "--aligned", "--quiet"]) == 1
    assert BAD_CHECKPOINTS[name] in _last_json(capsys)["error"]
    assert not marker.exists()
    assert _digest(path) == before
