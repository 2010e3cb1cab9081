"""The preferences file (no Qt): round trip, migration from an older version, damaged and newer files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ageapp.preferences import (
    VERSION,
    Preferences,
    PreferencesError,
    PreferencesStore,
    load_preferences,
    migrate,
    save_preferences,
)


def test_round_trip_write_reopen_read_back(tmp_path):
    path = tmp_path / "config" / "preferences.json"
    chosen = Preferences(detector_path="/models/yunet.onnx", detector_kind="haar", camera_index=2, torch_threads=3,
                         annotator="hana", hide_posterior=True, backup_minutes=25, recent_projects_count=4,
                         recent_projects=["/p/a.ageproj", "/p/b.ageproj"], log_level="DEBUG")
    save_preferences(path, chosen)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["version"] == VERSION == 2 and on_disk["camera_index"] == 2
    loaded = load_preferences(path)
    assert loaded.message == ""
    assert loaded.preferences == chosen
    assert loaded.preferences.log_level_number() == logging.DEBUG
    assert not list(path.parent.glob("*.tmp"))  # written through a temporary file, renamed


def test_no_file_gives_the_defaults_silently(tmp_path):
    loaded = load_preferences(tmp_path / "preferences.json")
    assert loaded.preferences == Preferences() and loaded.message == ""
    assert Preferences().recent_projects_count == 10 and Preferences().log_level == "INFO"


def test_a_version_1_file_is_migrated(tmp_path):
    path = tmp_path / "preferences.json"
    path.write_text(json.dumps({"version": 1, "yunet_path": "/m/yunet.onnx", "detector": "haar",
                                "recent_limit": 3, "threads": 2, "log_level": 30, "annotator": "bo",
                                "recent_projects": ["/p/1.ageproj", "/p/2.ageproj", "/p/3.ageproj", "/p/4.ageproj"]}),
                    encoding="utf-8")
    loaded = load_preferences(path)
    assert loaded.message == ""
    p = loaded.preferences
    assert (p.detector_path, p.detector_kind, p.recent_projects_count, p.torch_threads, p.log_level, p.annotator) == (
        "/m/yunet.onnx", "haar", 3, 2, "WARNING", "bo")
    assert p.recent_projects == ["/p/1.ageproj", "/p/2.ageproj", "/p/3.ageproj"]  # cut to the migrated limit
    assert p.camera_index == 0 and p.backup_minutes == 10  # new in version 2: defaults


def test_a_file_without_a_version_is_version_1():
    assert migrate({"recent_limit": 7})["recent_projects_count"] == 7
    assert migrate({"recent_limit": 7})["version"] == VERSION


def test_a_corrupt_file_gives_defaults_a_message_and_is_kept_as_bak(tmp_path):
    path = tmp_path / "preferences.json"
    path.write_text('{"version": 2, "camera_index": 1,', encoding="utf-8")  # cut off mid-write
    loaded = load_preferences(path)
    assert loaded.preferences == Preferences()
    backup = tmp_path / "preferences.json.bak"
    assert backup.read_text(encoding="utf-8") == '{"version": 2, "camera_index": 1,'
    assert not path.exists()
    assert str(path) in loaded.message and f"kept as {backup}" in loaded.message
    assert "File ▸ Preferences" in loaded.message  # says what to do
    assert load_preferences(path).message == ""  # said once: the next start has a clean slate


@pytest.mark.parametrize("text", ["[1, 2]", '{"version": "two"}', "\udcff".encode("utf-8", "surrogateescape")])
def test_other_unreadable_files_are_set_aside_too(tmp_path, text):
    path = tmp_path / "preferences.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    loaded = load_preferences(path)
    assert loaded.preferences == Preferences() and "was not used" in loaded.message
    assert (tmp_path / "preferences.json.bak").exists()


def test_values_of_the_wrong_kind_fall_back_one_by_one(tmp_path):
    path = tmp_path / "preferences.json"
    path.write_text(json.dumps({"version": 2, "camera_index": "two", "torch_threads": -1, "log_level": "LOUD",
                                "annotator": "  kim ", "backup_minutes": 15, "hide_posterior": 1}), encoding="utf-8")
    loaded = load_preferences(path)
    p = loaded.preferences
    assert (p.camera_index, p.torch_threads, p.log_level, p.hide_posterior) == (0, 0, "INFO", False)
    assert p.annotator == "kim" and p.backup_minutes == 15  # the good values are kept
    for name in ("camera_index", "torch_threads", "log_level", "hide_posterior"):
        assert name in loaded.message
    assert path.exists()  # readable JSON: not moved aside


def test_a_newer_file_is_read_as_far_as_known_and_copied_aside(tmp_path):
    path = tmp_path / "preferences.json"
    text = json.dumps({"version": 9, "annotator": "li", "theme": "dark"})
    path.write_text(text, encoding="utf-8")
    loaded = load_preferences(path)
    assert loaded.preferences.annotator == "li"
    assert "newer ageapp" in loaded.message and "version 9" in loaded.message
    assert (tmp_path / "preferences.json.bak").read_text(encoding="utf-8") == text


def test_store_update_and_first_load_message(tmp_path):
    path = tmp_path / "preferences.json"
    path.write_text("not json", encoding="utf-8")
    store = PreferencesStore(path)
    assert store.load() == Preferences()
    assert store.update(annotator="ana", camera_index=1).annotator == "ana"
    assert PreferencesStore(path).load().camera_index == 1
    message = store.take_message()
    assert "was not used" in message and store.take_message() == ""
    with pytest.raises(KeyError, match="unknown preferences: colour"):
        store.update(colour="red")


def test_an_unwritable_path_says_what_to_do(tmp_path):
    blocker = tmp_path / "config"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(PreferencesError, match=r"could not be saved to .*config/preferences.json.*writable"):
        save_preferences(blocker / "preferences.json", Preferences())
    assert Path(blocker).read_text(encoding="utf-8").startswith("a file")
