"""The project is its file, not its path: one writer per file under any name (hard links, symbolic links, bind
mounts, `..` paths), refused with who holds it; and every odd thing at the lock's path gets a message."""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.store import identity
from ageapp.store import lock as project_lock
from ageapp.store.db import ProjectError, ProjectLocked, ProjectStorageError, open_project
from ageapp.store.lock import lock_path
from tests.factories import make_project
from tests.reliability.conftest import fill, mount

needs_os_lock = pytest.mark.skipif(not identity.SUPPORTED, reason="OS locks on the file need Linux (F_OFD_SETLK)")

HOLD = """
import sys, time
from ageapp.store.db import open_project
db = open_project(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def project(tmp_path) -> Path:
    path = tmp_path / "here" / "study.ageproj"
    path.parent.mkdir()
    make_project(path, references=6, queries=3)[0].close()
    return path


def _hold(path: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "holding"
    return process


@pytest.fixture
def holder(project):
    process = _hold(project)
    yield process
    process.kill()
    process.wait()
    process.stdout.close()


def _comparisons(path: Path) -> int:
    with open_project(path, read_only=True) as db:
        return db.execute("SELECT count(*) FROM comparisons").fetchone()[0]


# ---------------------------------------------------------------------------------------- one writer per file
@needs_os_lock
def test_a_hard_link_in_another_folder_meets_the_writer_and_names_it(project, holder, tmp_path, capsys):
    other = tmp_path / "elsewhere" / "copy.ageproj"
    other.parent.mkdir()
    os.link(project, other)
    assert not lock_path(other).exists()  # the holder's lock file is named after the other name
    with pytest.raises(ProjectLocked) as refused:
        open_project(other)
    message = str(refused.value)
    assert f"process {holder.pid} on this computer" in message and "another name (a hard link" in message
    assert "open it read-only" in message
    assert ageapp_main(["check", str(other), "--repair"]) == 1  # a writing command is refused the same way
    assert f"process {holder.pid}" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert not lock_path(other).exists() and not Path(f"{other}-wal").exists()
    with open_project(other, read_only=True) as db:  # looking is still allowed
        assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9


@pytest.mark.parametrize("name", ["symlink", "dotdot"])
def test_a_symbolic_link_or_a_dotdot_path_meets_the_writer(project, holder, tmp_path, name):
    if name == "symlink":
        other = tmp_path / "link.ageproj"
        other.symlink_to(project)
    else:
        (project.parent / "sub").mkdir()
        other = project.parent / "sub" / ".." / project.name
    with pytest.raises(ProjectLocked, match=f"process {holder.pid}"):
        open_project(other)


def test_a_bind_mount_meets_the_writer(project, holder, tmp_path):
    view = tmp_path / "mounted"
    view.mkdir()
    if not mount("--bind", str(project.parent), str(view)):
        pytest.skip("a bind mount needs root")
    try:
        with pytest.raises(ProjectLocked, match=f"process {holder.pid}"):
            open_project(view / project.name)
    finally:
        subprocess.run(["umount", str(view)], check=True)


@needs_os_lock
def test_this_process_refuses_the_same_file_under_a_second_name(project, tmp_path):
    other = tmp_path / "twin.ageproj"
    os.link(project, other)
    with open_project(project) as db:
        with pytest.raises(ProjectLocked, match="is the same file as .*which this ageapp already has open"):
            open_project(other)
        db.execute("SELECT 1").fetchone()
    with open_project(other) as db:  # once closed under the first name, the second name opens
        assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9


@needs_os_lock
def test_writers_under_two_names_never_both_write(project, tmp_path):
    """The issue's case: two writers answering under hard-linked names lost half the answers. Now the second
    is refused at the door, and every answer the first reports is kept."""
    other = tmp_path / "twin.ageproj"
    os.link(project, other)
    first = _hold(project)
    try:
        for _ in range(3):
            with pytest.raises(ProjectLocked):
                open_project(other)
    finally:
        first.kill()
        first.wait()
        first.stdout.close()
    with open_project(other) as db:  # the holder died: its OS lock went with it, its lock file is stale
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ------------------------------------------------------------------------------------------ odd lock files
@pytest.mark.parametrize("kind", ["folder", "dangling symlink", "symlink to a file", "fifo"])
def test_a_lock_path_that_is_not_a_file_is_named_with_what_to_do(project, kind):
    path = lock_path(project)
    if kind == "folder":
        path.mkdir()
    elif kind == "dangling symlink":
        path.symlink_to(project.parent / "gone")
    elif kind == "symlink to a file":
        (project.parent / "target.txt").write_text("keep me")
        path.symlink_to(project.parent / "target.txt")
    else:
        os.mkfifo(path)
    word = {"folder": "a folder", "fifo": "a pipe (FIFO)"}.get(kind, "a symbolic link")
    with pytest.raises(ProjectError, match=re.escape(f"is {word}, not a lock file ageapp wrote") + ".*move or delete"):
        open_project(project)
    assert os.path.lexists(path)  # left for the user to look at
    if kind == "symlink to a file":
        assert (project.parent / "target.txt").read_text() == "keep me"


@pytest.mark.parametrize("content", [
    json.dumps({"host": socket.gethostname(), "pid": 2 ** 40, "started": "then"}).encode(),
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps({"host": socket.gethostname(), "pid": -3, "started": "then"}).encode(),
    b"x" * 10_000,
], ids=["pid 2^40", "deeply nested JSON", "negative pid", "too long"])
def test_a_lock_file_that_is_not_ours_is_respected_briefly_then_taken_over(project, content):
    lock_path(project).write_bytes(content)
    with pytest.raises(ProjectLocked, match="left an unreadable lock file"):
        open_project(project)
    old = time.time() - 60
    os.utime(lock_path(project), (old, old))
    with open_project(project) as db:
        assert json.loads(lock_path(project).read_text())["pid"] == os.getpid()
        assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9
    assert not lock_path(project).exists()


@needs_os_lock
def test_a_stale_lock_whose_pid_now_belongs_to_another_program_is_taken_over(project):
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(project).write_text(json.dumps({"host": socket.gethostname(), "pid": unrelated.pid,
                                                  "started": "2020-01-01T00:00:00+00:00"}))
        assert project_lock.pid_alive(unrelated.pid)  # the pid is alive: only the OS lock can tell
        with open_project(project) as db:
            assert json.loads(lock_path(project).read_text())["pid"] == os.getpid()
            assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9
    finally:
        unrelated.kill()
        unrelated.wait()


def test_pid_checks_never_raise():
    assert project_lock.pid_alive(os.getpid())
    assert not project_lock.pid_alive(2 ** 40) and not project_lock.pid_alive(-1) and not project_lock.pid_alive(0)


def test_a_lock_file_the_full_disk_cannot_hold_gives_a_message_and_no_stale_lock(project, monkeypatch):
    real_write = os.write

    def full(descriptor, data):
        if os.fstat(descriptor).st_ino == lock_path(project).stat().st_ino:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, data)

    monkeypatch.setattr(project_lock.os, "write", full)
    with pytest.raises(ProjectStorageError, match="is full: ageapp could not even write its lock file"):
        open_project(project)
    assert not lock_path(project).exists()
    monkeypatch.undo()
    open_project(project).close()  # no "open in another ageapp" after the disk refused


def test_opening_on_a_really_full_disk_gives_a_message_then_opens_once_there_is_room(small_disk, capsys):
    project = small_disk / "study.ageproj"
    make_project(project, references=6, queries=3)[0].close()
    fill(small_disk)
    assert ageapp_main(["check", str(project), "--repair"]) == 1
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert "full" in error and "Free some space" in error
    assert not lock_path(project).exists()
    (small_disk / "filler").unlink()
    with open_project(project) as db:
        assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 9
