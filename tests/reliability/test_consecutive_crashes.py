"""Crashes in a row: a labeller, an import or a merge killed (SIGKILL), the project reopened and written to, and
killed again, with no clean close in between. Every answer (image, merged comparison) reported committed is
there afterwards, `ageapp check` is clean, and no journal was set aside as foreign; a foreign journal still is."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.store.backup import copy_project
from ageapp.store.db import open_project
from ageapp.store.journal import SETTING, wal_path
from tests.factories import make_project
from tests.trainer.conftest import write_utkface_folder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

LABELLER = """
import sys
from ageapp.annotation.session import AnnotationSession
from ageapp.store.db import open_project
db = open_project(sys.argv[1])
session = AnnotationSession(db, "ann", seed=int(sys.argv[2]))
print("open", flush=True)
for line in sys.stdin:
    for _ in range(int(line)):
        session.answer(session.next_task(), "left", response_ms=1)
        print(db.execute("SELECT id FROM comparisons ORDER BY rowid DESC LIMIT 1").fetchone()[0], flush=True)
    print("done", flush=True)
"""

# `ageapp import` / `ageapp merge` as run from the command line, held still once `STOP` commits are reported
# (then killed): each commit prints what it committed.
COMMAND = """
import sys, time
from ageapp.__main__ import main
from ageapp.store import importing
from ageapp.annotation import exchange
stop = int(sys.argv[1])
committed = []
def held(sha1):
    committed.append(sha1)
    print(sha1, flush=True)
    if len(committed) >= stop:
        print("done", flush=True)
        time.sleep(120)
write = importing._Importer.write
def write_and_tell(self, pending):
    write(self, pending)
    held(pending.sha1)
importing._Importer.write = write_and_tell
merge = exchange.merge_projects
def merge_and_tell(db, other):
    report = merge(db, other)
    held(str(report.added))
    return report
exchange.merge_projects = merge_and_tell
sys.exit(main(sys.argv[2:]))
"""


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def _label_then_crash(project: Path, answers: int, seed: int) -> list[str]:
    """A labeller answers `answers` comparisons (each reported committed), then is killed."""
    worker = subprocess.Popen([sys.executable, "-c", LABELLER, str(project), str(seed)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "open"
    worker.stdin.write(f"{answers}\n")
    worker.stdin.flush()
    committed = [worker.stdout.readline().strip() for _ in range(answers)]
    assert worker.stdout.readline().strip() == "done"
    _kill(worker)
    return committed


def _command_then_crash(stop: int, *command: str) -> list[str]:
    """Run `ageapp COMMAND...` until `stop` commits are reported, then kill it."""
    worker = subprocess.Popen([sys.executable, "-c", COMMAND, str(stop), *command], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    lines = []
    for line in worker.stdout:
        if line.strip() == "done":
            break
        lines.append(line.strip())
    assert len(lines) == stop, lines
    _kill(worker)
    return lines


def _check_clean(project: Path, capsys) -> dict:
    """`ageapp check` as the user runs it after the crashes: no problem, no notice; its JSON line."""
    assert ageapp_main(["check", str(project)]) == 0
    captured = capsys.readouterr()
    assert "another copy" not in captured.err and "set aside" not in captured.err
    return json.loads(captured.out.strip().splitlines()[-1])


def _ids(project: Path, sql: str) -> set:
    with open_project(project) as db:  # for writing, as the next session would: vouches for the journal
        assert db.notices == []
        return {row[0] for row in db.execute(sql)}


@pytest.fixture
def project(tmp_path) -> Path:
    path = tmp_path / "study.ageproj"
    make_project(path, references=20, queries=40)[0].close()
    for role, count in (("ref", 20), ("query", 40)):  # the images' files, so that `ageapp check` finds them
        (tmp_path / role).mkdir()
        for index in range(count):
            (tmp_path / role / f"{index}.jpg").write_bytes(b"")
    return path


@pytest.mark.parametrize("crashes", [2, 3])
def test_labelling_crashed_again_and_again_loses_no_answer(project, capsys, crashes):
    """The issue's case: answer 15, SIGKILL; reopen, answer 15, SIGKILL (and once more); then check."""
    committed = []
    for crash in range(crashes):
        committed += _label_then_crash(project, 15, seed=crash)
        assert wal_path(project).exists()  # a crash: the answers are (also) in the journal
    report = _check_clean(project, capsys)
    assert report["ok"] and report["checked"]["comparisons"] == 15 * crashes
    assert _ids(project, "SELECT id FROM comparisons") == set(committed)
    assert not list(project.parent.glob("*.set-aside-*"))


READER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1] + "?mode=ro", uri=True)
conn.execute("BEGIN")
print(conn.execute("SELECT count(*) FROM comparisons").fetchone()[0], flush=True)
sys.stdin.read()
"""


def test_a_reader_that_holds_the_journal_back_does_not_break_the_chain(project, capsys):
    """A read-only viewer keeps an old snapshot, so reopening cannot merge the whole journal into the file:
    the sessions after it carry the chain of tokens back to the file's, and are still recognised."""
    worker = subprocess.Popen([sys.executable, "-c", LABELLER, str(project), "0"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "open"
    worker.stdin.write("5\n")
    worker.stdin.flush()
    committed = [worker.stdout.readline().strip() for _ in range(5)]
    assert worker.stdout.readline().strip() == "done"
    reader = subprocess.Popen([sys.executable, "-c", READER, project.resolve().as_uri()], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "5"  # its snapshot: the first five answers
    worker.stdin.write("10\n")
    worker.stdin.flush()
    committed += [worker.stdout.readline().strip() for _ in range(10)]
    assert worker.stdout.readline().strip() == "done"
    _kill(worker)
    for crash in (1, 2):
        committed += _label_then_crash(project, 15, seed=crash)
    with closing(sqlite3.connect(f"{project.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        chain = json.loads(conn.execute("SELECT value FROM settings WHERE key = ?", [SETTING]).fetchone()[0])
    assert len(chain) > 2  # the reader did hold the journal back: the chain was carried on
    reader.stdin.close()
    reader.wait()
    reader.stdout.close()
    assert _check_clean(project, capsys)["checked"]["comparisons"] == 45
    assert _ids(project, "SELECT id FROM comparisons") == set(committed)
    assert not list(project.parent.glob("*.set-aside-*"))


def test_import_crashed_twice_keeps_every_committed_image(project, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    folder = write_utkface_folder(tmp_path / "utk", n=30, size=48)
    command = ("import", str(project), str(folder), "--role", "query", "--aligned", "--no-gender")
    committed = _command_then_crash(8, *command) + _command_then_crash(8, *command)
    assert len(set(committed)) == 16  # the second run went on where the first stopped
    _check_clean(project, capsys)
    assert set(committed) <= _ids(project, "SELECT sha1 FROM images")
    assert not list(project.parent.glob("*.set-aside-*"))


def test_merge_crashed_twice_keeps_both_merges(project, tmp_path, capsys):
    """Two labellers' copies merged in, each merge killed after it committed (before the project was closed)."""
    parts, expected = [], set()
    for index in (1, 2):
        part = copy_project(project, tmp_path / f"part{index}.ageproj")
        with open_project(part) as db:
            session = AnnotationSession(db, f"labeller {index}", seed=index)
            for _ in range(12):
                session.answer(session.next_task(), "right", response_ms=1)
            expected |= {row[0] for row in db.execute("SELECT id FROM comparisons")}
        parts.append(part)
    for part in parts:
        assert _command_then_crash(1, "merge", str(project), str(part)) == ["12"]
    assert _check_clean(project, capsys)["checked"]["comparisons"] == 24
    assert _ids(project, "SELECT id FROM comparisons") == expected
    assert not list(project.parent.glob("*.set-aside-*"))


def test_a_foreign_journal_after_crashes_is_still_set_aside(project, tmp_path):
    """Crashes leave chains of sessions; a journal from another copy of the project (whose sessions started
    from that copy) is still refused, whichever copy crashed how often."""
    other = copy_project(project, tmp_path / "copy.ageproj")  # a backup: a lineage of its own
    shutil.copyfile(other, tmp_path / "copy-again.ageproj")
    _label_then_crash(project, 5, seed=0)
    _label_then_crash(other, 5, seed=1)
    _label_then_crash(other, 5, seed=2)  # the copy's journal now holds two sessions
    shutil.copyfile(wal_path(other), wal_path(project))  # a sync tool brings the copy's journal over
    with open_project(project) as db:
        assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0
        assert "written for another copy of this project" in db.notices[0]
    # The copy's own journal over an unwritten copy of the copy: same file, but not the file it started from
    # once that file moved on (the crash's session merged in at the reopen).
    twin = tmp_path / "copy-again.ageproj"
    shutil.copyfile(wal_path(other), wal_path(twin))
    with open_project(twin) as db:
        assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0
        assert "written for another copy of this project" in db.notices[0]
