"""Crashes in a row, for `python benchmarks/kill_test.py --streaks N`: kill a worker, start the next on the project
as the crash left it (it reopens the project and writes on), kill it too, and only after the last kill of the
streak open the project for writing (as the next session would) and check that everything each worker reported
committed is there. Workloads: labelling, import and merge (see kill_test.py's docstring).
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.kill_test import QUERIES, _kill_once

CHIPS_PER_STREAK = 400  # more than an import worker gets through before its kill
PARTS_AHEAD = 60  # labellers' copies ready beyond those merged: more than a merge worker gets through
ANSWERS_PER_PART = 6
HOLD_S = 3600  # a worker with nothing left to do waits to be killed: every kill is a crash, not a clean close


@dataclass
class StreakReport:
    workload: str
    crashes: int  # kills in a row, per streak
    streaks: int = 0
    kills: int = 0
    killed_before_any_commit: int = 0
    committed: int = 0  # answers and undos / images / merged comparisons reported committed
    lost: int = 0  # of everything reported committed in this workload so far, missing at a check
    integrity_failures: int = 0
    posterior_mismatches: int = 0
    open_failures: int = 0
    worker_errors: int = 0
    journals_set_aside: int = 0  # the project's own journal taken for a foreign one: must be 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.integrity_failures or self.posterior_mismatches or self.open_failures
                    or self.worker_errors or self.journals_set_aside)


# ------------------------------------------------------------------------------------------------ the workers
def _hold() -> None:
    print("finished", flush=True)
    time.sleep(HOLD_S)


def work_import(project: Path, folder: Path) -> None:
    """Import the folder's chips as queries; print `image SHA1` for each image once committed."""
    from ageapp.datasets.scan import scan
    from ageapp.store.db import open_project
    from ageapp.store.importing import import_records

    db = open_project(project)
    last = [db.execute("SELECT coalesce(max(rowid), 0) FROM images").fetchone()[0]]

    def tell(done: int, total: int) -> None:
        for rowid, sha1 in db.execute("SELECT rowid, sha1 FROM images WHERE rowid > ? ORDER BY rowid", last):
            last[0] = rowid
            print(f"image {sha1}", flush=True)

    import_records(db, scan(folder, "utkface"), folder, role="query", aligned=True, workers=1, on_progress=tell)
    _hold()


def work_merge(project: str, parts: str, start: str) -> None:
    """Merge the labellers' copies part-NNNNN.ageproj from number `start` on, printing `merged N` after each."""
    from ageapp.annotation.exchange import merge_projects
    from ageapp.store.db import open_project

    db = open_project(project)
    for path in sorted(Path(parts).glob("part-*.ageproj")):
        number = int(path.stem.split("-")[1])
        if number < int(start):
            continue
        with open_project(path, read_only=True) as other:
            merge_projects(db, other)
        print(f"merged {number}", flush=True)
    _hold()


# ------------------------------------------------------------------------------------------------ workloads
class _Labelling:
    """The labelling worker of kill_test.py: answers (and undoes) as fast as it can."""

    def __init__(self, folder: Path, seed: int):
        from tests.factories import make_project

        self.project = folder / "labelling.ageproj"
        make_project(self.project, references=60, queries=QUERIES, seed=seed)[0].close()

    def prepare(self, streak: int) -> None:
        pass

    def command(self, seed: int) -> list[str] | None:
        return None  # kill_test's own labeller

    def committed(self, lines: list[str]) -> set[str]:
        return {line.replace(" ", ":") for line in lines if line.startswith(("answer ", "undo "))}

    def present(self, db) -> set[str]:
        return ({f"answer:{row[0]}" for row in db.execute("SELECT id FROM comparisons")}
                | {f"undo:{row[0]}" for row in db.execute("SELECT comparison_id FROM undone")})


class _Import:
    """Aligned chips imported as queries; each streak brings a folder of new ones."""

    def __init__(self, folder: Path, seed: int):
        from tests.factories import make_project

        self.folder, self.seed = folder, seed
        self.project = folder / "import.ageproj"
        make_project(self.project, references=20, queries=5, seed=seed)[0].close()
        self.chips = folder / "chips"

    def prepare(self, streak: int) -> None:
        shutil.rmtree(self.chips, ignore_errors=True)
        self.chips.mkdir()
        rng = np.random.default_rng([self.seed, streak])
        for index in range(CHIPS_PER_STREAK):
            chip = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
            cv2.imwrite(str(self.chips / f"{index % 90 + 1}_0_0_2017{streak:04d}{index:05d}.jpg.chip.jpg"), chip)

    def command(self, seed: int) -> list[str]:
        return [sys.executable, str(Path(__file__).with_name("kill_test.py")), "--worker-import", str(self.project),
                str(self.chips)]

    def committed(self, lines: list[str]) -> set[str]:
        return {line.split()[1] for line in lines if line.startswith("image ")}

    def present(self, db) -> set[str]:
        return {row[0] for row in db.execute("SELECT sha1 FROM images")}


class _Merge:
    """Labellers' copies of one project (ANSWERS_PER_PART answers each) merged into it one after another."""

    def __init__(self, folder: Path, seed: int):
        from tests.factories import make_project

        self.base = folder / "base.ageproj"
        make_project(self.base, references=30, queries=60, seed=seed)[0].close()
        self.project = folder / "merge.ageproj"
        shutil.copyfile(self.base, self.project)
        self.parts = folder / "parts"
        self.parts.mkdir()
        self.answers: dict[int, set[str]] = {}  # part number -> its comparisons' UUIDs
        self.merged = 0  # parts reported merged so far (they are merged in order)

    def _make_part(self, number: int) -> None:
        from ageapp.annotation.session import AnnotationSession
        from ageapp.store.db import open_project

        path = self.parts / f"part-{number:05d}.ageproj"
        shutil.copyfile(self.base, path)
        with open_project(path) as db:
            session = AnnotationSession(db, f"labeller {number}", seed=number)
            for _ in range(ANSWERS_PER_PART):
                session.answer(session.next_task(), random.Random(number).choice(("left", "right")), response_ms=1)
            self.answers[number] = {row[0] for row in db.execute("SELECT id FROM comparisons")}

    def prepare(self, streak: int) -> None:
        pass

    def command(self, seed: int) -> list[str]:
        for number in range(len(self.answers), self.merged + PARTS_AHEAD):
            self._make_part(number)
        return [sys.executable, str(Path(__file__).with_name("kill_test.py")), "--worker-merge", str(self.project),
                str(self.parts), str(self.merged)]

    def committed(self, lines: list[str]) -> set[str]:
        numbers = [int(line.split()[1]) for line in lines if line.startswith("merged ")]
        if numbers:
            self.merged = max(self.merged, max(numbers) + 1)
        return set().union(*(self.answers[number] for number in numbers))

    def present(self, db) -> set[str]:
        return {row[0] for row in db.execute("SELECT id FROM comparisons")}


WORKLOADS = {"labelling": _Labelling, "import": _Import, "merge": _Merge}


# ------------------------------------------------------------------------------------------------ the driver
def _verify(workload, committed: set[str], report: StreakReport) -> None:
    """Open the project for writing, as the session after the crashes would, and check it."""
    from ageapp.store.check import posterior_problems
    from ageapp.store.db import ProjectError, open_project

    project = workload.project
    try:
        db = open_project(project)
    except ProjectError as error:
        print(f"{report.workload} streak {report.streaks}: cannot open: {error}", file=sys.stderr)
        report.open_failures += 1
        return
    try:
        report.journals_set_aside = len(list(project.parent.glob(f"{project.stem}.set-aside-*")))
        report.integrity_failures += (db.execute("PRAGMA integrity_check").fetchall() != [("ok",)]
                                      or bool(db.execute("PRAGMA foreign_key_check").fetchall()))
        report.lost = max(report.lost, len(committed - workload.present(db)))  # never deleted: lost stays lost
        report.posterior_mismatches += sum(len(problem.ids) for problem in posterior_problems(db))
    finally:
        db.close()


def run_streaks(workloads: list[str], crash_counts: list[int], streaks: int, seed: int = 0,
                log=None) -> list[StreakReport]:
    """`streaks` streaks of each count of crashes in a row, for each workload; one report per pair."""
    reports = []
    for name in workloads:
        with tempfile.TemporaryDirectory(prefix=f"kill-{name}-") as folder:
            workload = WORKLOADS[name](Path(folder), seed)
            rng, committed, number = random.Random(seed), set(), 0
            for crashes in crash_counts:
                report, started = StreakReport(name, crashes), time.perf_counter()
                for _streak in range(streaks):
                    workload.prepare(number)
                    for _kill in range(crashes):
                        lines, error = _kill_once(workload.project, seed * 100_000 + number, rng,
                                                  workload.command(seed * 100_000 + number))
                        number += 1
                        report.kills += 1
                        if error:
                            report.worker_errors += 1
                            print(f"{name}: the worker failed: {error}", file=sys.stderr)
                        done = workload.committed(lines)
                        report.killed_before_any_commit += not done
                        report.committed += len(done - committed)
                        committed |= done
                    report.streaks += 1
                    _verify(workload, committed, report)
                    if log is not None:
                        log(f"{name}, {crashes} crashes in a row: streak {report.streaks}/{streaks}, "
                            f"{len(committed)} committed, lost {report.lost}")
                report.seconds = round(time.perf_counter() - started, 1)
                reports.append(report)
                if log is not None:
                    log(json.dumps(report.__dict__))
    return reports
