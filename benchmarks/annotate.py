"""Labelling at MegaAge scale: open a 50,000-query / 10,000-reference project in the window, then answer.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/annotate.py [--queries 50000] [--references 10000]
        [--labelled 25000] [--answers 200] [--pause-every 0]

The project is made with tests/factories.make_project; `--labelled` queries are then given 12 earlier answers
each (a study half done, which is what makes "the next query to resume" and the statistics work hard). It is
cached in the system temporary folder (`ageapp-bench`), and every run works on a fresh copy of it, so runs compare.

Measured, in the real window (MainWindow with the label page), offscreen:
- open_50k_s: File ▸ Open → the first pair painted (the annotator is remembered, as on a second day);
- latency_ms_p50 / p95 / max: a key press (QTest.keyClick ← or → on the comparison panel, one in ten ↓) →
  the next pair painted, over --answers presses; undo_latency_ms_p50 likewise for Backspace (every 25th press);
- frame_ms_p50 / p95: the same press → the posterior plot repainted too (the whole window up to date);
- next_task_ms_p50 / p95 and answer_ms_p50 / p95: the session's share of it (the answer's commit with fsync
  and the posterior, and choosing + decoding the next pair);
- queue_refresh_ms (a full re-count and first window of the queue), statistics_ms (the worker thread's
  computation, off the key press) and statistics_apply_ms (drawing its result, on the GUI thread).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CACHE = Path(tempfile.gettempdir()) / "ageapp-bench"
EARLIER_ANSWERS = 12  # per pre-labelled query: finished under the default active protocol (12 at most)


def cached_project(references: int, queries: int, labelled: int) -> Path:
    """The benchmark project, built once per size (tens of seconds) and reused."""
    from ageapp.store.schema import CURRENT_VERSION

    path = CACHE / f"bench-r{references}-q{queries}-l{labelled}-v{CURRENT_VERSION}.ageproj"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for stale in CACHE.glob(building.name + "*"):
        stale.unlink()
    from tests.factories import make_project

    db, reference_ids, query_ids, query_ages = make_project(building, references=references, queries=queries)
    prelabel(db, reference_ids, query_ids[:labelled], query_ages[:labelled])
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    building.rename(path)
    return path


def prelabel(db, reference_ids, query_ids, true_ages, seed: int = 0) -> None:
    """Earlier work, written in bulk: each query compared with 12 references around its true age by a
    simulated annotator (the paper's answer model, beta 0.36), answers 3 s apart, posteriors stored."""
    from ageapp.core.posterior import OUTLIER_WIDTH, age_grid, credible_intervals, log_prob_outcome, normalize_log

    if not len(query_ids):
        return
    rng = np.random.default_rng(seed)
    reference_ages = np.array([db.execute("SELECT age FROM images WHERE id = ?", [r]).fetchone()[0]
                               for r in reference_ids])
    by_age = {age: np.array(reference_ids)[reference_ages == age] for age in np.unique(reference_ages)}
    true = np.asarray(true_ages, dtype=np.float64)
    wanted = np.clip(np.rint(true[:, None] + rng.normal(0, 8, (len(true), EARLIER_ANSWERS))), 0, 70)
    chosen = np.array([[rng.choice(by_age[a]) for a in row] for row in wanted])
    p_older = 1 / (1 + np.exp(-0.36 * (true[:, None] - wanted)))
    older = rng.random(wanted.shape) < p_older
    posteriors = np.exp(normalize_log(
        log_prob_outcome(age_grid(70), wanted[..., None], older[..., None].astype(int), 0.36).sum(axis=1)))
    low, high = credible_intervals(posteriors)
    db.execute("INSERT INTO annotators (name) VALUES ('earlier')")
    annotator = db.execute("SELECT id FROM annotators WHERE name = 'earlier'").fetchone()[0]
    start = time.time() - posteriors.size * 3.0
    comparisons, rows = [], []
    for i, query in enumerate(query_ids):
        for j in range(EARLIER_ANSWERS):
            moment = start + (i * EARLIER_ANSWERS + j) * 3.0
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(moment))
            comparisons.append((str(uuid.uuid4()), int(query), int(chosen[i, j]),
                                "older" if older[i, j] else "younger", annotator, stamp, 2500, "left"))
        p = posteriors[i]
        rows.append((int(query), 70, p.astype("<f4").tobytes(), int(np.argmax(p)), float(p @ age_grid(70)),
                     int(low[i]), int(high[i]), int(high[i] - low[i] > OUTLIER_WIDTH), EARLIER_ANSWERS))
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO comparisons (id, query_image_id, reference_image_id, answer, annotator_id, created,"
            " response_ms, query_side) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", comparisons)
        db.conn.executemany(
            "INSERT INTO posteriors (query_image_id, age_max, probabilities, mode, mean, ci_low, ci_high, flagged,"
            " n_comparisons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


class PaintClock:
    """Records when a widget is next painted (the moment a new pair is really on screen)."""

    def __init__(self, widget):
        from PySide6.QtCore import QEvent, QObject

        clock = self

        class Filter(QObject):
            def eventFilter(self, _watched, event):  # noqa: N802 (Qt's name)
                if event.type() == QEvent.Type.Paint and clock.painted_at is None:
                    clock.painted_at = time.perf_counter()
                return False

        self.painted_at: float | None = None
        self._filter = Filter()
        widget.installEventFilter(self._filter)

    def wait(self, app, timeout_s: float = 5.0, what: str = "the pair") -> float:
        deadline = time.perf_counter() + timeout_s
        while self.painted_at is None and time.perf_counter() < deadline:
            app.processEvents()
        if self.painted_at is None:
            raise RuntimeError(f"{what} was never painted")
        painted, self.painted_at = self.painted_at, None
        return painted


def timed(record: list[float], function):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            record.append((time.perf_counter() - started) * 1000)

    return wrapper


def percentile(values, q) -> float | None:
    """None (JSON null) when nothing was measured: NaN is not JSON."""
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--references", type=int, default=10_000)
    parser.add_argument("--labelled", type=int, default=25_000, help="queries finished before the run")
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause-every", type=int, default=0,
                        help="a 2.5 s pause after every N presses, as a labeller takes (0: press after press)")
    args = parser.parse_args()

    built = time.perf_counter()
    source = cached_project(args.references, args.queries, min(args.labelled, args.queries))
    build_s = time.perf_counter() - built
    work = Path(tempfile.mkdtemp(prefix="ageapp-annotate-"))
    project = work / "bench.ageproj"
    shutil.copyfile(source, project)

    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    # the window's state and the preferences (recent projects, who labels) in the work folder, never the user's
    os.environ["AGEAPP_CONFIG_DIR"] = str(work / "config")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from ageapp.ui.shell.app import configure_application
    from ageapp.ui.label.page import install_label_page
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.shell.settings import AppSettings
    from ageapp.ui.label.statistics import project_path
    from ageapp.annotation.statistics import project_statistics

    configure_application(app)
    AppSettings().set_annotator("bench")
    # The project's earlier answers are someone else's: the window asks who is labelling; "bench" confirms.
    from PySide6.QtWidgets import QDialog

    from ageapp.ui.label.dialogs import AnnotatorDialog

    AnnotatorDialog.exec = lambda dialog: QDialog.DialogCode.Accepted
    window = MainWindow()
    page = install_label_page(window)
    window.resize(1280, 900)
    window.show()
    QTest.qWaitForWindowExposed(window)
    clock = PaintClock(page.panel.left_view)
    plot_clock = PaintClock(page.plot.viewport())

    started = time.perf_counter()
    if not window.open_project_path(project):
        raise SystemExit(f"could not open {project}")
    open_s = clock.wait(app) - started
    if page.task is None:
        raise SystemExit("no pair was shown after opening the project")

    session = page.session
    answer_ms, next_ms = [], []
    session.answer = timed(answer_ms, session.answer)
    session.next_task = timed(next_ms, session.next_task)
    rng = np.random.default_rng(args.seed)
    latencies, undo_latencies, frames = [], [], []
    for press in range(args.answers):
        if args.pause_every and press and press % args.pause_every == 0:
            QTest.qWait(2500)  # the statistics, the backup check and the WAL checkpoint run now
        undo = press % 25 == 24
        key = (Qt.Key.Key_Backspace if undo else Qt.Key.Key_Down if rng.random() < 0.1
               else Qt.Key.Key_Left if rng.random() < 0.5 else Qt.Key.Key_Right)
        before = page.answers_this_session
        answering_query = page.task.kind == "query"  # a gold pair leaves the plot as it was
        plot_clock.painted_at = None
        pressed = time.perf_counter()
        QTest.keyClick(page.panel, key)
        latency = (clock.wait(app) - pressed) * 1000
        (undo_latencies if undo else latencies).append(latency)
        if answering_query and not undo:
            frames.append((plot_clock.wait(app, what="the posterior plot") - pressed) * 1000)
        if page.answers_this_session == before:
            raise SystemExit(f"key press {press} ({key}) did not register")

    refresh_started = time.perf_counter()
    page.queue_panel.model.refresh()
    page.queue_panel.model.row_at(0)
    queue_refresh_ms = (time.perf_counter() - refresh_started) * 1000

    stats_started = time.perf_counter()
    stats = project_statistics(page.db, page.labelling.protocol)  # what the worker computes, timed here
    statistics_ms = (time.perf_counter() - stats_started) * 1000
    apply_started = time.perf_counter()
    page.statistics_panel._on_computed(stats, page.statistics_panel._generation)
    statistics_apply_ms = (time.perf_counter() - apply_started) * 1000
    assert project_path(page.db) == project.resolve()

    answered = page.db.execute("SELECT count(*) FROM comparisons WHERE annotator_id = ?",
                               [session.annotator_id]).fetchone()[0]
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "queries": args.queries, "references": args.references, "labelled_before": min(args.labelled, args.queries),
        "open_50k_s": round(open_s, 3),
        "latency_ms_p50": percentile(latencies, 50), "latency_ms_p95": percentile(latencies, 95),
        "latency_ms_max": percentile(latencies, 100), "presses": len(latencies),
        "undo_latency_ms_p50": percentile(undo_latencies, 50),
        "frame_ms_p50": percentile(frames, 50), "frame_ms_p95": percentile(frames, 95),
        "answer_ms_p50": percentile(answer_ms, 50), "answer_ms_p95": percentile(answer_ms, 95),
        "next_task_ms_p50": percentile(next_ms, 50), "next_task_ms_p95": percentile(next_ms, 95),
        "queue_refresh_ms": round(queue_refresh_ms, 1), "statistics_ms": round(statistics_ms, 1),
        "statistics_apply_ms": round(statistics_apply_ms, 1), "comparisons_written": answered,
        "pause_every": args.pause_every,
        "project_build_s": round(build_s, 1), "platform": QApplication.platformName(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
