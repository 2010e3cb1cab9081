"""Does the window stay responsive while a model trains? A real run started from the Train page, with a 20 ms
QTimer firing in the GUI thread the whole time; the gaps between its firings are what a user feels.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/ui_during_training.py [--project P.ageproj | --fgnet]
        [--net mobilefacenet] [--epochs 1] [--batch 32] [--size 112] [--threads N] [--limit 400]

The page is shown and its device list (the torch import) has arrived before Start is pressed, as for a
user. Data: --project (an existing project, copied first so that its runs are not touched), --fgnet (a project built
once from ../shared/data/fgnet with YuNet and cached in the system temporary folder, `ageapp-train`), or by default a generated project
(tests/factories) of --limit references. --threads sets torch's CPU threads for the run (default: the app's
choice, all cores but one). Prints one JSON line: gap_ms_p50 / p95 / max over the whole run (data preparation
included) and over its training batches alone, firings, images_per_s, and the run's settings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CACHE = Path(tempfile.gettempdir()) / "ageapp-train"
SHARED = REPO.parent / "shared"
TIMER_MS = 20


def fgnet_project() -> Path:
    """FG-NET imported as references (cached: the import with face detection takes ~20 s)."""
    path = CACHE / "fgnet.ageproj"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AGEAPP_DETECTOR": str(SHARED / "models" / "face_detection_yunet.onnx")}
        ageapp = [sys.executable, "-m", "ageapp"]
        subprocess.run([*ageapp, "new", str(path)], check=True, cwd=REPO, env=env, capture_output=True)
        subprocess.run([*ageapp, "import", str(path), str(SHARED / "data" / "fgnet" / "images"), "--role", "reference"],
                       check=True, cwd=REPO, env=env, capture_output=True)
    return path


def generated_project(references: int) -> Path:
    from tests.factories import make_project

    path = CACHE / f"generated-{references}.ageproj"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        db, *_ = make_project(path, references=references, queries=0)
        db.execute("UPDATE images SET subject = 'person' || (id / 8)")
        db.close()
    return path


def working_copy(source: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="ui-train-"))
    target = folder / source.name
    shutil.copyfile(source, target)
    return target


def percentiles(gaps_ms: list[float]) -> dict:
    if not gaps_ms:
        return {"p50": None, "p95": None, "max": None}
    gaps = np.asarray(gaps_ms)
    return {"p50": round(float(np.percentile(gaps, 50)), 1), "p95": round(float(np.percentile(gaps, 95)), 1),
            "max": round(float(gaps.max()), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--project", type=Path)
    source.add_argument("--fgnet", action="store_true")
    parser.add_argument("--limit", type=int, default=400, help="references in the generated project")
    parser.add_argument("--net", default="mobilefacenet")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    import ageapp.ui.train.worker as train_worker
    from ageapp.ui.shell.app import configure_application
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.train.page import PAGE_NAME, install_train_page

    if args.threads is not None:
        train_worker.default_threads = lambda device: args.threads
    project = working_copy(args.project if args.project else fgnet_project() if args.fgnet
                           else generated_project(args.limit))
    # Settings and preferences in the throw-away folder, never the user's
    os.environ["AGEAPP_CONFIG_DIR"] = str(project.parent / "config")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(project.parent / "settings"))
    app = QApplication.instance() or QApplication([])
    configure_application(app)
    window = MainWindow()
    page = install_train_page(window)
    window.show()
    if not window.open_project_path(project):
        raise SystemExit(f"could not open {project}")
    window.show_page(PAGE_NAME)
    probe_until = time.perf_counter() + 60  # as a user would: the device list (the torch import) is there first
    while page.form.device_combo.itemText(0) == "Automatic" and time.perf_counter() < probe_until:  # not yet probed
        app.processEvents()
        time.sleep(0.02)
    page.form.net_combo.setCurrentIndex(page.form.net_combo.findData(args.net))
    page.form.epochs_spin.setValue(args.epochs)
    page.form.batch_spin.setValue(args.batch)
    page.form.size_spin.setValue(args.size)
    page.form.device_combo.setCurrentIndex(max(0, page.form.device_combo.findData("cpu")))

    ticks: list[float] = []
    batch_times: list[float] = []
    epochs: list[dict] = []
    outcome: dict = {}
    timer = QTimer()
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def connect(worker) -> None:
        worker.progress.connect(lambda *a: batch_times.append(time.perf_counter()))
        worker.epoch_finished.connect(epochs.append)
        worker.finished.connect(lambda summary: outcome.update(summary))
        worker.failed.connect(lambda reason, ckpt: outcome.update(status="failed", reason=reason))

    page.run_starting.connect(connect)
    page.run_ended.connect(lambda status: app.quit())
    timer.start()
    started = time.perf_counter()
    if not page.start_training():
        raise SystemExit(page.banner_text() or page.controls.form_hint.text())
    app.exec()
    duration = time.perf_counter() - started
    timer.stop()

    gaps = list(np.diff(ticks) * 1000.0)
    training = [b - a for a, b in zip(ticks, ticks[1:]) if batch_times and batch_times[0] <= a <= batch_times[-1]]
    whole, batches = percentiles(gaps), percentiles([g * 1000.0 for g in training])
    rate = [m["images_per_s"] for m in epochs if m.get("images_per_s")]
    config = outcome.get("out") and json.loads((Path(outcome["out"]) / "config.json").read_text()) or {}
    result = {
        "gap_ms_p50": whole["p50"], "gap_ms_p95": whole["p95"], "gap_ms_max": whole["max"], "firings": len(ticks),
        "training_gap_ms_p50": batches["p50"], "training_gap_ms_p95": batches["p95"],
        "training_gap_ms_max": batches["max"],
        "images_per_s": round(float(np.mean(rate)), 1) if rate else None,
        "duration_s": round(duration, 1), "status": outcome.get("status"), "reason": outcome.get("reason"),
        "net": args.net, "epochs": args.epochs, "batch": args.batch, "size": args.size,
        "threads": config.get("threads"), "train_images": outcome.get("train"), "val_images": outcome.get("val"),
        "cpu_count": os.cpu_count(),
        "project": str(args.project or ("fgnet" if args.fgnet else f"generated-{args.limit}")),
    }
    window.close()
    shutil.rmtree(project.parent, ignore_errors=True)
    print(json.dumps(result))
    return 0 if outcome.get("status") == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
