"""Preferences files that used to crash or hang the start: each gives the defaults (for the field, or for the
whole file, which is then kept as .bak) and a message, and never blocks on a pipe or reads a device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ageapp.preferences import MAX_FILE_BYTES, Preferences, load_preferences

DEFAULTS = Preferences()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preferences.json"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["1e400", "-Infinity", "Infinity", "NaN", "-1e400"])
def test_an_infinite_camera_index_falls_back_to_its_default(tmp_path, value):
    path = _write(tmp_path, f'{{"version": 2, "camera_index": {value}, "annotator": "fay"}}')
    loaded = load_preferences(path)
    assert loaded.preferences.camera_index == DEFAULTS.camera_index and loaded.preferences.annotator == "fay"
    assert "camera_index" in loaded.message and "their defaults are used" in loaded.message


def test_infinite_or_absurd_training_choices_are_dropped(tmp_path):
    path = _write(tmp_path, '{"version": 2, "training": {"epochs": 1e400, "lr": -Infinity, "batch": 32, '
                            '"size": 1' + "0" * 400 + ', "net": "tiny", "augment": true, "extra_sources": ["a", "b"],'
                            ' "scales": [1, 1e400], "deep": [[1]]}}')
    loaded = load_preferences(path)
    assert loaded.preferences.training == {"batch": 32, "net": "tiny", "augment": True, "extra_sources": ["a", "b"]}
    assert "training" in loaded.message


def test_a_recent_project_no_file_system_takes_is_dropped(tmp_path):
    long_name = "/home/fay/" + "x" * 5000 + ".ageproj"
    kept = str(tmp_path / "study.ageproj")
    path = _write(tmp_path, json.dumps({"version": 2, "recent_projects": [long_name, kept, "a\0b.ageproj"]}))
    loaded = load_preferences(path)
    assert loaded.preferences.recent_projects == [kept] and "recent_projects" in loaded.message
    for recent in loaded.preferences.recent_projects:
        Path(recent).exists()  # what the window does with each: no OSError (name too long)


def test_brackets_nested_too_deeply_reset_the_preferences(tmp_path):
    path = _write(tmp_path, "[" * 200_000 + "]" * 200_000)
    loaded = load_preferences(path)
    assert loaded.preferences == DEFAULTS
    assert "was not used" in loaded.message and "nested too deeply" in loaded.message
    assert (tmp_path / "preferences.json.bak").exists() and not path.exists()


def test_a_file_larger_than_any_preferences_file_is_not_read_whole(tmp_path):
    path = _write(tmp_path, "{" + " " * (MAX_FILE_BYTES + 10) + "}")
    loaded = load_preferences(path)
    assert loaded.preferences == DEFAULTS and "larger than 1024 KB" in loaded.message


LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # reading a device whole dies here, not the machine
from ageapp.preferences import load_preferences
loaded = load_preferences(sys.argv[1])
print(loaded.preferences == type(loaded.preferences)(), loaded.message.replace(chr(10), " "))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.parametrize("kind", ["a pipe (FIFO)", "a link to /dev/zero"])
def test_a_pipe_or_a_device_resets_the_preferences_without_blocking(tmp_path, kind):
    path = tmp_path / "preferences.json"
    if kind == "a pipe (FIFO)":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    done = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    defaults, message = done.stdout.strip().split(" ", 1)
    assert defaults == "True" and "was not used: it is not a regular file" in message
    assert f"is {'a pipe (FIFO)' if kind == 'a pipe (FIFO)' else 'a device'}" in message
    assert (tmp_path / "preferences.json.bak").is_symlink() or (tmp_path / "preferences.json.bak").exists()
    assert not os.path.lexists(path)  # moved aside: the next start reads the defaults quietly
