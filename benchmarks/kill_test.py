"""Crash safety of labelling: a subprocess answers (and now and then undoes) comparisons as fast as it can and
is killed with SIGKILL at random moments, then restarted on the same project, again and again.

    python benchmarks/kill_test.py [--kills 200] [--seed 0] [--project PATH]
    python benchmarks/kill_test.py --streaks 20 [--crashes 2 3] [--workloads labelling import merge] [--seed 0]

The worker prints `answer UUID` / `undo UUID` (flushed) only after `AnnotationSession.answer` / `undo` has
returned, i.e. once committed. After every kill the project is opened the normal way (which replays the WAL
and clears the dead worker's stale lock) and checked: `PRAGMA integrity_check` and `foreign_key_check`,
every reported answer and undo present, and every stored posterior equal to one recomputed from the
comparisons (ageapp.store.check). Most kills land while answers stream in; some land at a random moment
after the start (imports, open, lock, migration). The last line is one JSON object: kills, committed
(answers reported), undos, lost (must be 0), lost_undos, integrity_failures, posterior_mismatches,
open_failures, worker_errors, stale_locks_cleared, journals_set_aside (a crash's own journal mistaken for a
foreign one and set aside: must be 0), seconds.

--streaks: crashes in a row (benchmarks/kill_streaks.py). Each streak kills a worker, starts the next on the
project as the crash left it (it reopens it and writes on), kills that too, `--crashes` times, and only then
opens the project for writing and checks it as above. Workloads: labelling (as above), import (aligned chips
imported one transaction each; the worker prints each image's hash once committed) and merge (labellers'
copies merged in one after another; the worker prints each part once its merge committed). The last line
then holds one report per workload and number of crashes in a row: streaks, kills, committed, lost (must be
0), journals_set_aside (must be 0), integrity_failures, posterior_mismatches, open_failures, worker_errors.

SIGKILL tests a crash of the app, not of the machine: a power cut's durability rests on synchronous=FULL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EARLY_KILL_SHARE = 0.2  # kills at a random moment after the start, whatever the worker is doing
STREAM_WINDOW_S = 0.3  # other kills: this long at most after the first answer printed
STARTUP_TIMEOUT_S = 60.0
QUERIES = 3000  # enough that the worker never runs out (12 comparisons at most each)
COMMITTED = ("answer ", "undo ", "image ", "merged ")  # what workers print once a commit returned


@dataclass
class KillReport:
    kills: int = 0
    committed: int = 0
    undos: int = 0
    lost: int = 0
    lost_undos: int = 0
    integrity_failures: int = 0
    posterior_mismatches: int = 0
    open_failures: int = 0
    worker_errors: int = 0
    stale_locks_cleared: int = 0
    journals_set_aside: int = 0  # the project's own journal taken for a foreign one: must be 0
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------ the worker
def work(project: Path, seed: int) -> None:
    """Answer as fast as possible until killed; print each committed answer's / undo's UUID."""
    from ageapp.annotation.session import AnnotationSession
    from ageapp.store.db import open_project

    db = open_project(project)
    session = AnnotationSession(db, "kill-test", seed=seed)
    rng = random.Random(seed)
    print("ready", flush=True)
    while True:
        if rng.random() < 0.05 and session.undo() is not None:
            undone = db.execute("SELECT comparison_id FROM undone ORDER BY rowid DESC LIMIT 1").fetchone()[0]
            print(f"undo {undone}", flush=True)
            continue
        task = session.next_task()
        if task is None:
            print("finished", flush=True)
            return
        session.answer(task, rng.choice(("left", "right", "left", "right", "unsure")), response_ms=1)
        last = db.execute("SELECT id FROM comparisons ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        print(f"answer {last}", flush=True)


# ------------------------------------------------------------------------------------------------ the driver
class _Lines:
    """Collects a subprocess's stdout lines in a thread; `first_answer` is set once one is printed."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.first_answer = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.strip())
            if line.startswith(COMMITTED):
                self.first_answer.set()

    def join(self) -> None:
        self._thread.join(timeout=10)


def _kill_once(project: Path, seed: int, rng: random.Random,
               command: list[str] | None = None) -> tuple[list[str], str | None]:
    """Start a worker (by default a labeller), SIGKILL it at a random moment; (its lines, an error if it ended
    by itself)."""
    command = command or [sys.executable, __file__, "--worker", str(project), "--seed", str(seed)]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = _Lines(worker.stdout)
    if rng.random() < EARLY_KILL_SHARE:
        time.sleep(rng.uniform(0.0, 1.5))
    else:
        lines.first_answer.wait(STARTUP_TIMEOUT_S)
        time.sleep(rng.uniform(0.0, STREAM_WINDOW_S))
    ended_by_itself = worker.poll() is not None
    if not ended_by_itself:
        os.kill(worker.pid, signal.SIGKILL)
    worker.wait()  # reaped: its pid is no longer alive, so its lock is stale
    lines.join()
    stderr = worker.stderr.read()
    worker.stdout.close()
    worker.stderr.close()
    if ended_by_itself and "finished" not in lines.lines:
        return lines.lines, stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {worker.returncode}"
    return lines.lines, None


def _verify(project: Path, answers: set[str], undos: set[str], report: KillReport) -> None:
    from ageapp.store.check import posterior_problems
    from ageapp.store.db import ProjectError, open_project
    from ageapp.store.lock import lock_path

    report.stale_locks_cleared += lock_path(project).exists()
    report.journals_set_aside = len(list(project.parent.glob(f"{project.stem}.set-aside-*")))
    try:
        db = open_project(project)
    except ProjectError as error:
        print(f"kill {report.kills}: cannot open: {error}", file=sys.stderr)
        report.open_failures += 1
        return
    try:
        report.integrity_failures += (db.execute("PRAGMA integrity_check").fetchall() != [("ok",)]
                                      or bool(db.execute("PRAGMA foreign_key_check").fetchall()))
        present = {row[0] for row in db.execute("SELECT id FROM comparisons")}
        undone = {row[0] for row in db.execute("SELECT comparison_id FROM undone")}
        report.lost = max(report.lost, len(answers - present))  # comparisons are never deleted: lost stays lost
        report.lost_undos = max(report.lost_undos, len(undos - undone))
        report.posterior_mismatches += sum(len(problem.ids) for problem in posterior_problems(db))
    finally:
        db.close()


def run_kill_test(project: Path, kills: int, seed: int = 0, log=None) -> KillReport:
    """Kill a labelling worker `kills` times on `project` (made here if absent), checking after each kill."""
    from tests.factories import make_project

    if not project.exists():
        make_project(project, references=60, queries=QUERIES, seed=seed)[0].close()
    rng, report, started = random.Random(seed), KillReport(), time.perf_counter()
    answers: set[str] = set()
    undos: set[str] = set()
    for kill in range(kills):
        lines, error = _kill_once(project, seed * 100_000 + kill, rng)
        if error:
            report.worker_errors += 1
            print(f"kill {kill}: the worker failed: {error}", file=sys.stderr)
        answers.update(line.split()[1] for line in lines if line.startswith("answer "))
        undos.update(line.split()[1] for line in lines if line.startswith("undo "))
        report.kills += 1
        _verify(project, answers, undos, report)
        if log is not None:
            log(f"kill {kill + 1}/{kills}: {len(answers)} answers reported, lost {report.lost}")
    report.committed, report.undos = len(answers), len(undos)
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--project", type=Path, help="project to use (default: a new one in a temporary folder)")
    parser.add_argument("--streaks", type=int, help="crashes in a row: this many streaks per workload and count")
    parser.add_argument("--crashes", type=int, nargs="+", default=[2, 3], help="kills in a row per streak")
    parser.add_argument("--workloads", nargs="+", default=["labelling", "import", "merge"],
                        choices=["labelling", "import", "merge"])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-import", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-merge", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        work(args.worker, args.seed)
        return 0
    if args.worker_import or args.worker_merge:
        from benchmarks.kill_streaks import work_import, work_merge

        work_import(*args.worker_import) if args.worker_import else work_merge(*args.worker_merge)
        return 0
    if args.streaks:
        from benchmarks.kill_streaks import run_streaks

        reports = run_streaks(args.workloads, args.crashes, args.streaks, args.seed,
                              log=lambda m: print(m, file=sys.stderr, flush=True))
        print(json.dumps({"streaks": [asdict(report) for report in reports]}))
        return 0 if all(report.ok for report in reports) else 1
    with tempfile.TemporaryDirectory() as folder:
        project = args.project or Path(folder) / "kill.ageproj"
        report = run_kill_test(project, args.kills, args.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(asdict(report)))
    ok = not (report.lost or report.lost_undos or report.integrity_failures or report.posterior_mismatches
              or report.open_failures or report.worker_errors or report.journals_set_aside)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
