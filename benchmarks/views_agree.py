"""The long profile of the labelling window's state-machine test: thousands of random steps, every view checked
against the project file after each (tests/ui/views_agree.py says what is driven and what is checked).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/views_agree.py [--steps 5000] [--per-window 50]

Each window (a fresh project) gets up to --per-window steps; windows are opened until --steps steps have run.
Random each run (Hypothesis, no example database); a failure prints the sequence of steps that led to it, shrunk
to a short one, and exits 1. Settings and preferences go to a temporary folder, never the user's. Prints one
JSON line: steps, windows, seconds, passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--per-window", type=int, default=50, help="at most this many steps on one window")
    parser.add_argument("--no-shrink", action="store_true", help="report a failure as found, without shrinking it")
    args = parser.parse_args()

    for name in [name for name in os.environ if name.startswith("AGEAPP_")]:
        os.environ.pop(name)  # hermetic, as the tests are
    folder = tempfile.mkdtemp(prefix="ageapp-views-bench-")
    os.environ["AGEAPP_CONFIG_DIR"] = str(Path(folder) / "config")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QStandardPaths
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    QStandardPaths.setTestModeEnabled(True)
    app.setOrganizationName("ageapp")
    app.setApplicationName("ageapp")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(folder) / "settings"))

    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    from tests.ui.views_agree import STEPS, ViewsAgree

    phases = [Phase.generate] if args.no_shrink else [Phase.generate, Phase.shrink]
    started, windows, passed = time.perf_counter(), 0, True
    try:
        while STEPS["count"] < args.steps:
            batch = max(1, (args.steps - STEPS["count"]) // args.per_window)
            run_state_machine_as_test(ViewsAgree, settings=settings(
                max_examples=min(batch, 20), stateful_step_count=args.per_window, deadline=None, database=None,
                phases=phases, suppress_health_check=list(HealthCheck)))
            windows += min(batch, 20)
    except Exception:  # noqa: BLE001  the failing sequence was printed above: say so in the figure, exit 1
        passed = False
        import traceback

        traceback.print_exc()
    print(json.dumps({"steps": STEPS["count"], "windows": windows, "seconds": round(time.perf_counter() - started, 1),
                      "passed": passed, "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
