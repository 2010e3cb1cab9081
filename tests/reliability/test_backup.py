"""Automatic backups: a whole, consistent copy every N minutes of labelling and on close, the last few kept;
a failed copy never stops labelling."""

from __future__ import annotations

import threading

import pytest

from ageapp.annotation.session import AnnotationSession
from ageapp.store.backup import BackupScheduler, backups_folder, copy_project, list_backups
from ageapp.store.check import check_project
from ageapp.store.db import open_project
from ageapp.store.settings import set_setting
from tests.factories import make_project
from tests.reliability.conftest import fill


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def labelling(tmp_path):
    path = tmp_path / "study.ageproj"
    db = make_project(path, references=20, queries=30)[0]
    yield path, db, AnnotationSession(db, "ann", seed=0)
    db.close()


def _answer(session: AnnotationSession, times: int = 1) -> None:
    for _ in range(times):
        session.answer(session.next_task(), "left", response_ms=1)


def _comparisons(path) -> int:
    with open_project(path, read_only=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT count(*) FROM comparisons").fetchone()[0]


def test_a_copy_every_interval_of_labelling_and_on_close(labelling):
    path, db, session = labelling
    clock = Clock()
    backups = BackupScheduler.for_project(db, path, clock=clock)
    assert (backups.interval_s, backups.keep) == (600.0, 5)  # the defaults: 10 minutes, 5 copies
    _answer(session, 3)
    clock.now = 599.0
    assert backups.maybe_backup() is None and list_backups(path) == []
    clock.now = 600.0
    first = backups.maybe_backup()
    assert first.parent == backups_folder(path) == path.with_name("study.backups")
    assert _comparisons(first) == 3
    assert backups.close() is None  # nothing answered since that copy
    _answer(session, 2)
    clock.now = 700.0
    assert backups.maybe_backup() is None  # not yet due
    last = backups.close()  # closing copies what changed since
    assert _comparisons(last) == 5 and list_backups(path) == [first, last]


def test_only_the_newest_copies_are_kept(labelling):
    path, db, session = labelling
    set_setting(db, "backups_kept", 3)
    set_setting(db, "backup_minutes", 1)
    clock = Clock()
    backups = BackupScheduler.for_project(db, path, clock=clock)
    made = []
    for minute in range(1, 6):
        _answer(session)
        clock.now = 60.0 * minute
        made.append(backups.maybe_backup())
    assert list_backups(path) == made[-3:]
    assert [_comparisons(copy) for copy in made[-3:]] == [3, 4, 5]


def test_a_copy_made_while_another_connection_writes_is_consistent(labelling, tmp_path):
    path, db, session = labelling
    stop, answered = threading.Event(), threading.Event()

    def keep_answering():
        with open_project(path) as writer:  # the same process: the lock is shared
            other = AnnotationSession(writer, "other", seed=1)
            while not stop.is_set():
                _answer(other)
                answered.set()

    thread = threading.Thread(target=keep_answering)
    thread.start()
    copies = []
    try:
        for i in range(5):
            answered.clear()
            assert answered.wait(timeout=30)  # at least one more answer lands between two copies
            copies.append(copy_project(path, tmp_path / f"copy{i}.ageproj"))
    finally:
        stop.set()
        thread.join()
    for copy in copies:
        with open_project(copy, read_only=True) as backup:
            report = check_project(backup)
            assert report.kinds() <= {"missing_image_file"}  # the factory's photos do not exist; all else sound
    assert len({_comparisons(copy) for copy in copies}) > 1  # the copies were taken while answers came in


def test_a_failed_copy_is_reported_and_labelling_goes_on(labelling):
    path, db, session = labelling
    backups_folder(path).write_text("a file where the backups folder should be")
    clock = Clock()
    backups = BackupScheduler(path, interval_s=60, keep=2, clock=clock)
    _answer(session)
    clock.now = 60.0
    assert backups.maybe_backup() is None
    assert "automatic backup" in backups.last_error and "labelling goes on" in backups.last_error
    assert not list(path.parent.glob("*.partial"))
    _answer(session)  # labelling is unaffected
    backups_folder(path).unlink()
    clock.now = 90.0
    assert backups.maybe_backup() is None  # the next try waits one interval ...
    clock.now = 120.0
    assert backups.maybe_backup() is not None and backups.last_error is None  # ... and then works


def test_a_copy_onto_a_full_disk_leaves_no_half_backup(small_disk):
    path = small_disk / "study.ageproj"
    db = make_project(path, references=20, queries=30)[0]
    session = AnnotationSession(db, "ann", seed=0)
    _answer(session)
    clock = Clock()
    backups = BackupScheduler(path, interval_s=1, keep=2, clock=clock)
    fill(small_disk, leave=20_000)  # room for the folder, not for a copy
    clock.now = 10.0
    assert backups.maybe_backup() is None and "disk is full" in backups.last_error
    assert list(backups_folder(path).iterdir()) == []
    db.close()
