"""Files that are not files, and outputs that cannot be written: a pipe named as a project, a label file or an
Adience fold file is refused before a byte is read (no hang, no lock left held); an output path is checked
before the work starts and written all or nothing; file names that are not UTF-8 never crash an output.

Commands that could hang run in a subprocess with a generous timeout, so a regression fails instead of
freezing the suite (the timeout is a guard, not a measurement)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.store.db import open_project
from ageapp.store.lock import lock_path
from tests.conftest import REPO_ROOT
from tests.factories import make_project
from tests.reliability.conftest import fill

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
GUARD_S = 120


def _ageapp(*args, env: dict | None = None) -> tuple[int, dict, str]:
    """Run `python -m ageapp ARGS` in a subprocess: (exit status, its JSON last line, stderr)."""
    result = subprocess.run([sys.executable, "-m", "ageapp", *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                            timeout=GUARD_S, env={**os.environ, **(env or {})})
    out = result.stdout.decode("utf-8", "replace").strip().splitlines()
    return result.returncode, json.loads(out[-1]) if out else {}, result.stderr.decode("utf-8", "replace")


@pytest.fixture
def project(tmp_path) -> Path:
    path = tmp_path / "study.ageproj"
    make_project(path, references=6, queries=3)[0].close()
    return path


def _digest(path: Path) -> bytes:
    return path.read_bytes()


# ------------------------------------------------------------------------------------------------- pipes
@pytest.mark.parametrize("command", [["stats"], ["check"], ["check", "--repair"], ["export", "--out", "x.csv"],
                                     ["import", "SOURCE", "--role", "query"]])
def test_a_pipe_named_as_the_project_is_refused_at_once(tmp_path, command):
    fifo = tmp_path / "study.ageproj"
    os.mkfifo(fifo)
    (tmp_path / "photos").mkdir()
    argv = [part if part != "SOURCE" else tmp_path / "photos" for part in command]
    argv = [argv[0], fifo, *[tmp_path / part if part == "x.csv" else part for part in argv[1:]]]
    status, payload, _ = _ageapp(*argv)
    assert status == 1 and "is a pipe (FIFO), not a regular .ageproj project file" in payload["error"]
    assert not lock_path(fifo).exists() and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("layout", ["labels.csv", "adience fold", "the source itself", "megaage list"])
def test_a_pipe_among_the_label_files_is_refused_and_the_lock_released(project, tmp_path, layout):
    folder = tmp_path / "dataset"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.zeros((64, 64, 3), np.uint8))
    source, fmt = folder, "auto"
    if layout == "labels.csv":
        os.mkfifo(folder / "labels.csv")
        expected = "labels.csv is a pipe (FIFO), not a regular CSV file"
    elif layout == "adience fold":
        os.mkfifo(folder / "fold_0_data.txt")
        expected = "fold_0_data.txt is a pipe (FIFO), not a regular Adience fold file"
    elif layout == "megaage list":
        (folder / "list").mkdir()
        os.mkfifo(folder / "list" / "train_name.txt")
        (folder / "list" / "train_age.txt").write_text("30\n")
        expected = "train_name.txt and train_age.txt must both be in list/"  # a pipe is not a list file
    else:
        source = tmp_path / "labels.csv"
        os.mkfifo(source)
        expected = "labels.csv is a pipe (FIFO); point at a folder of images or at a .csv file"
    before = _digest(project)
    status, payload, _ = _ageapp("import", project, source, "--role", "reference", "--format", fmt)
    assert expected in json.dumps(payload)
    assert not lock_path(project).exists()
    if layout != "megaage list":  # refused: the project is as it was (MegaAge reports the list as a problem)
        assert status == 1 and _digest(project) == before
    with open_project(project) as db:  # nobody holds it: it opens for writing at once
        assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9


def test_a_pipe_or_device_as_an_image_is_refused(tmp_path):
    from ageapp.faces.images import ImageError, load_image

    os.mkfifo(tmp_path / "face.jpg")
    for path in (tmp_path / "face.jpg", Path("/dev/zero")):
        with pytest.raises(ImageError, match="not a regular file"):
            load_image(path)


# ----------------------------------------------------------------------------------------------- outputs
BAD_OUTPUTS = {
    "missing folder": ("nowhere/out.csv", "the folder .* does not exist; create it"),
    "a device": ("/dev/full", "must end in .csv or .json"),
    "a device named .csv": ("DEVICE", "it is a device, not a file; choose a file name"),
    "a .txt name": ("out.txt", "must end in .csv or .json, not '.txt': for example out.csv"),
    "a folder": ("folder.csv", "it is a folder, not a file"),
}


def _bad_output(tmp_path: Path, name: str) -> Path:
    spec = BAD_OUTPUTS[name][0]
    if spec == "DEVICE":
        device = tmp_path / "full.csv"
        os.symlink("/dev/full", device)  # a .csv name that leads to a device
        return device
    if spec == "folder.csv":
        (tmp_path / spec).mkdir()
    return Path(spec) if spec.startswith("/") else tmp_path / spec


@pytest.mark.parametrize("name", sorted(BAD_OUTPUTS))
def test_export_to_a_bad_output_says_what_to_change_and_writes_nothing(project, tmp_path, capsys, name):
    out = _bad_output(tmp_path, name)
    assert ageapp_main(["export", str(project), "--out", str(out)]) == 1
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert __import__("re").search(BAD_OUTPUTS[name][1], error), error
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize("name", sorted(BAD_OUTPUTS))
def test_estimate_checks_its_output_before_looking_at_any_photo(tmp_path, capsys, monkeypatch, name):
    import ageapp.estimation.photos as photos
    import ageapp.model as model

    def must_not_run(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(photos, "estimate_photos", must_not_run)
    monkeypatch.setattr(model, "load_model", must_not_run)
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.zeros((64, 64, 3), np.uint8))
    out = _bad_output(tmp_path, name)
    assert ageapp_main(["estimate", str(tmp_path / "photo.jpg"), "--out", str(out)]) == 1
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert __import__("re").search(BAD_OUTPUTS[name][1], error), error


def test_an_export_onto_a_full_disk_says_so_and_leaves_nothing_half_written(project, small_disk, capsys):
    out = small_disk / "export.json"
    out.write_text("the previous export")
    fill(small_disk)
    assert ageapp_main(["export", str(project), "--out", str(out)]) == 1
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert "No space left on device" in error and "nothing was written" in error
    assert out.read_text() == "the previous export" and sorted(p.name for p in small_disk.iterdir()) == [
        "export.json", "filler"]


NOT_UTF8 = os.fsdecode(b"caf\xe9_photo.jpg")


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_estimate_writes_file_names_that_are_not_utf8(tmp_path, capsys, suffix):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / NOT_UTF8).write_bytes(b"not an image at all")  # gives an error row that names the file
    cv2.imwrite(str(folder / "plain.jpg"), np.zeros((64, 64, 3), np.uint8))
    out = tmp_path / f"results{suffix}"
    assert ageapp_main(["estimate", str(folder), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 2 and len(summary["errors"]) == 1
    text = out.read_text(encoding="utf-8")  # valid UTF-8 throughout
    if suffix == ".csv":
        rows = text.splitlines()
        assert len(rows) == 2 and rows[1].startswith(str(folder / "caf\\udce9_photo.jpg"))
    else:
        assert json.loads(text)[0]["path"] == str(folder / NOT_UTF8)  # the exact name, escaped by JSON


def test_an_import_printing_such_names_to_a_strict_utf8_stdout_finishes(project, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / NOT_UTF8).write_bytes(b"not an image at all")
    status, payload, stderr = _ageapp("import", project, folder, "--role", "query", "--no-gender",
                                      env={"PYTHONIOENCODING": "utf-8:strict", "PYTHONUTF8": "1"})
    assert "Traceback" not in stderr
    assert status == 0 and payload["imported"] == 0 and len(payload["errors"]) == 1
    assert payload["errors"][0]["path"].endswith("caf\\udce9_photo.jpg")  # the odd byte shown escaped
