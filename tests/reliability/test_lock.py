"""One writer at a time: a second ageapp process is refused with who holds the project, read-only still
works, a crashed instance's lock is cleared, and closing releases it (store, CLI)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.store.db import ProjectError, ProjectLocked, open_project
from ageapp.store.lock import lock_path
from tests.factories import make_project

HOLD = """
import sys, time
from ageapp.store.db import open_project
db = open_project(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def project(tmp_path) -> Path:
    path = tmp_path / "study.ageproj"
    make_project(path, references=6, queries=3)[0].close()
    return path


@pytest.fixture
def other_process(project):
    """Another ageapp process holding the project open for writing."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(project)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "holding"
    yield process
    process.kill()
    process.wait()
    process.stdout.close()


def _counts(path: Path) -> tuple:
    db = open_project(path, read_only=True)
    try:
        return tuple(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("images", "comparisons", "roots"))
    finally:
        db.close()


def test_a_second_process_is_refused_with_who_holds_it(project, other_process):
    with pytest.raises(ProjectLocked) as refused:
        open_project(project)
    message = str(refused.value)
    assert isinstance(refused.value, ProjectError)
    assert f"on {socket.gethostname()}, process {other_process.pid}" in message
    assert "open it read-only" in message and "is open in another ageapp" in message
    assert json.loads(lock_path(project).read_text())["pid"] == other_process.pid  # its lock left as it was


def test_read_only_opens_while_another_process_writes(project, other_process):
    db = open_project(project, read_only=True)
    assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9
    db.close()


def test_the_lock_is_released_on_close_and_the_project_opens_again(project, other_process):
    other_process.kill()
    other_process.wait()  # killed: its lock file stays, naming a dead process
    assert lock_path(project).exists()
    with open_project(project) as db:  # the stale lock is cleared and taken over
        assert json.loads(lock_path(project).read_text())["pid"] == os.getpid()
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not lock_path(project).exists()


def test_a_lock_from_another_host_is_reported_not_taken(project):
    lock_path(project).write_text(json.dumps({"host": "labpc-7", "pid": 4242, "started": "2025-01-01T09:00:00+00:00"}))
    with pytest.raises(ProjectLocked, match=r"on labpc-7, process 4242, since 2025-01-01T09:00:00\+00:00") as refused:
        open_project(project)
    assert f"delete {lock_path(project)}" in str(refused.value)
    assert json.loads(lock_path(project).read_text())["host"] == "labpc-7"


def test_a_half_written_lock_is_respected_briefly_then_taken_over(project):
    lock_path(project).write_bytes(b"")  # a crash between creating the lock and writing it
    with pytest.raises(ProjectLocked, match="unreadable lock file"):
        open_project(project)
    old = time.time() - 60
    os.utime(lock_path(project), (old, old))
    open_project(project).close()
    assert not lock_path(project).exists()


def test_one_process_shares_its_own_lock_until_the_last_close(project):
    first = open_project(project)
    second = open_project(project)  # a worker thread's connection, say
    first.close()
    assert lock_path(project).exists()
    second.close()
    assert not lock_path(project).exists()


def test_a_failed_open_leaves_no_lock(tmp_path, bad_corpus):
    newer = tmp_path / "newer.ageproj"
    newer.write_bytes((bad_corpus / "projects" / "newer_schema.ageproj").read_bytes())
    with pytest.raises(ProjectError, match="newer ageapp"):
        open_project(newer)
    assert not lock_path(newer).exists()


def test_cli_commands_that_write_take_the_lock_too(project, other_process, capsys, tmp_path):
    before = _counts(project)
    folder = tmp_path / "photos"
    folder.mkdir()
    for argv in (["import", str(project), str(folder), "--role", "query"], ["check", str(project), "--repair"],
                 ["genders", str(project)], ["relink", str(project), str(tmp_path), str(folder)]):
        assert ageapp_main(argv) == 1
        error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
        assert f"process {other_process.pid}" in error and "open it read-only" in error
    assert _counts(project) == before


def test_cli_commands_that_only_read_work_while_another_process_writes(project, other_process, capsys, tmp_path):
    assert ageapp_main(["stats", str(project)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["images"] == 9
    assert ageapp_main(["export", str(project), "--out", str(tmp_path / "x.csv")]) == 0
    assert (tmp_path / "x.csv").read_text().splitlines()[0].startswith("path,mode,mean")
    assert json.loads(lock_path(project).read_text())["pid"] == other_process.pid  # its lock left as it was


def test_cli_commands_release_the_lock(project, capsys):
    for argv in (["stats", str(project)], ["check", str(project), "--repair"], ["export", str(project), "--out",
                                                                                  str(project.with_suffix(".csv"))]):
        ageapp_main(argv)
        assert not lock_path(project).exists(), argv


RACE = """
import pathlib, sys, time
from ageapp.store.db import ProjectLocked, open_project
folder, me, racers = pathlib.Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
(folder / f"ready-{me}").touch()
while not (folder / "go").exists():  # all start together, once every racer has imported ageapp
    time.sleep(0.002)
try:
    db = open_project(sys.argv[1])
except ProjectLocked:
    (folder / f"tried-{me}").touch()
    print("locked", flush=True)
else:
    (folder / f"tried-{me}").touch()
    print("got", flush=True)
    while len(list(folder.glob("tried-*"))) < racers:  # the winner holds on until every racer has tried
        time.sleep(0.01)
    db.close()
"""


def _wait_for(condition, what: str, seconds: float = 120.0) -> None:
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.01)


def test_instances_racing_for_a_stale_lock_end_with_exactly_one_writer(project):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(project).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "started": "then"}))
    signals = project.parent / "race"
    signals.mkdir()
    racers = [subprocess.Popen([sys.executable, "-c", RACE, str(project), str(signals), str(i), "6"],
                               stdout=subprocess.PIPE, text=True) for i in range(6)]
    _wait_for(lambda: len(list(signals.glob("ready-*"))) == 6, "six racers importing ageapp")
    (signals / "go").touch()
    outcomes = sorted(racer.communicate(timeout=120)[0].strip() for racer in racers)
    assert outcomes == ["got"] + ["locked"] * 5
    assert not lock_path(project).exists()
    assert not list(project.parent.glob("*.stale-*"))
