"""Key press → next pair on the screen, measured from outside the app: Xvfb, an XTest key press, the screen polled.

    .venv/bin/python benchmarks/annotate_x11.py [--queries 50000] [--references 10000] [--labelled 25000]
        [--presses 150] [--gap 0.25] [--load both|idle|training]

It starts its own X server (Xvfb, on a free display), opens the real window (every page, as `ageapp` builds it)
on the benchmark project of benchmarks/annotate.py (made once with tests/factories.make_project and cached), then
for each press: reads the pixels of the pair's caption and of both faces, sends ← / → (one in ten ↓) through the
XTest extension, and polls those pixels (XGetImage, about every 0.2 ms) until they change: that moment is the
next pair on the screen. The caption ("N answers this session") changes with every answer and is painted in
the same repaint as the faces, so a pair whose crops look like the last one's still counts.

Measured twice: on the machine as it is ("idle"), and while a training run of the real network shares it (the
load of benchmarks/webcam.py: MobileFaceNet steps on 2 threads, in a process this script starts and stops).
Beside each, the app's own figure on the same presses: inside the app, from the key event's arrival to the
paint of the pair (an event filter; what the outside figure adds is the X server's and the compositor's share).

Gold pairs come as the project's setting says (1 in 10 by default): about one press in ten is a gold answer, and
every tenth gold answer refits the labeller's β (in a worker thread). The window asks who is labelling (the
project's earlier answers are someone else's) and "bench" confirms.

Prints one JSON line: outside p50 / p95 / max in ms per load and how many presses took over 100 ms, the app's own
p50 / p95, presses, gold answers and β refits, the machine and its load.
Needs Xvfb (apt: xvfb), libX11 and libXtst (they come with Xvfb); no Python package beyond the app's.
"""

from __future__ import annotations

import argparse
import ctypes
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

SCREEN = (1280, 900)
ANSWER_KEYS = ("Left", "Right", "Down")
POLL_S = 0.0002

# The app, started under the benchmark's X server: the window as `ageapp` builds it, the project opened, and a
# probe that records, inside the app, each key event's arrival and the next paint of the pair's left face.
APP = r"""
import json, os, sys, time
sys.path.insert(0, {repo!r})
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {settings!r})
app = QApplication([])
from ageapp.ui.shell.app import build_window, configure_application
from ageapp.ui.shell.settings import AppSettings
configure_application(app)
AppSettings().set_annotator("bench")
# the project's earlier answers are someone else's: the window asks who is labelling, and "bench" confirms
from PySide6.QtWidgets import QDialog
from ageapp.ui.label.dialogs import AnnotatorDialog
AnnotatorDialog.exec = lambda dialog: QDialog.DialogCode.Accepted
window = build_window()
window.resize({width}, {height})
window.move(0, 0)
window.show()
page = window.page("label")
KEYS = {{Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Down}}
pressed, latencies = [None], []

class Probe(QObject):
    def eventFilter(self, watched, event):
        kind = event.type()
        # an answer key reaches the panel's shortcut as a ShortcutOverride (then no KeyPress follows)
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and event.key() in KEYS and not event.isAutoRepeat() and pressed[0] is None:
            pressed[0] = time.perf_counter()
        elif kind == QEvent.Type.Paint and watched is page.panel.left_view and pressed[0] is not None:
            latencies.append((time.perf_counter() - pressed[0]) * 1000)
            pressed[0] = None
        return False

probe = Probe()
app.installEventFilter(probe)
refits = []
page.refits.applied.connect(refits.append)  # β refitted in a worker, every tenth gold answer

def ready():
    if page.task is None:
        QTimer.singleShot(50, ready)
        return
    window.activateWindow()  # no window manager: the app takes the X input focus itself
    window.raise_()
    if not window.isActiveWindow() or not page.panel.hasFocus():
        page.panel.setFocus()
        QTimer.singleShot(50, ready)
        return
    panel = page.panel
    rects = []
    for widget in (panel.caption, panel.left_view, panel.right_view):
        origin = widget.mapToGlobal(widget.rect().topLeft())
        rects.append([origin.x(), origin.y(), widget.width(), widget.height()])
    with open({ready!r}, "w") as handle:
        json.dump({{"caption": rects[0], "left": rects[1], "right": rects[2]}}, handle)

def finish():
    gold = page.summary.summary().labeller(page.session.annotator_id).gold_answers if page.session else 0
    with open({figures!r}, "w") as handle:
        json.dump({{"latencies": latencies, "refits": len(refits), "gold_answers": gold,
                   "refit_apply_ms": [round(ms, 1) for ms in page.refits.apply_ms]}}, handle)
    window.close()
    app.quit()

def listen():
    if os.path.exists({stop!r}):
        finish()
    else:
        QTimer.singleShot(100, listen)

window.open_project_path({project!r})
QTimer.singleShot(0, ready)
QTimer.singleShot(100, listen)
sys.exit(app.exec())
"""


class XImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int)]


class Screen:
    """The X server through libX11 and libXtst (ctypes): key presses as XTest events, pixels with XGetImage."""

    ALL_PLANES, Z_PIXMAP = 0xFFFFFFFF, 2

    def __init__(self, display: str):
        self.x11, self.xtst = ctypes.CDLL("libX11.so.6"), ctypes.CDLL("libXtst.so.6")
        x = self.x11
        x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        x.XDefaultRootWindow.restype, x.XDefaultRootWindow.argtypes = ctypes.c_ulong, [ctypes.c_void_p]
        x.XStringToKeysym.restype, x.XStringToKeysym.argtypes = ctypes.c_ulong, [ctypes.c_char_p]
        x.XKeysymToKeycode.restype, x.XKeysymToKeycode.argtypes = ctypes.c_ubyte, [ctypes.c_void_p, ctypes.c_ulong]
        x.XGetImage.restype = ctypes.POINTER(XImage)
        x.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                                ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
        x.XDestroyImage.argtypes = [ctypes.POINTER(XImage)]
        x.XFlush.argtypes = x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self.display = x.XOpenDisplay(display.encode())
        if not self.display:
            raise SystemExit(f"cannot open the X display {display}")
        self.root = x.XDefaultRootWindow(self.display)
        self.keycodes = {name: x.XKeysymToKeycode(self.display, x.XStringToKeysym(name.encode()))
                         for name in ANSWER_KEYS}

    def press(self, name: str) -> float:
        """Press and release a key; returns the moment the request left for the server."""
        code = self.keycodes[name]
        self.xtst.XTestFakeKeyEvent(self.display, code, 1, 0)
        self.xtst.XTestFakeKeyEvent(self.display, code, 0, 0)
        self.x11.XFlush(self.display)
        return time.perf_counter()

    def pixels(self, rect) -> bytes:
        x, y, width, height = rect
        image = self.x11.XGetImage(self.display, self.root, x, y, width, height, self.ALL_PLANES, self.Z_PIXMAP)
        if not image:
            raise SystemExit(f"XGetImage failed on {rect}")
        data = ctypes.string_at(image.contents.data, image.contents.bytes_per_line * height)
        self.x11.XDestroyImage(image)
        return data

    def close(self) -> None:
        self.x11.XCloseDisplay(self.display)


def free_display() -> int:
    for number in range(91, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise SystemExit("no free X display number between :91 and :199")


def start_xvfb() -> tuple[subprocess.Popen, str]:
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed: apt-get install xvfb")
    number = free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"Xvfb did not start on :{number}")
        time.sleep(0.05)
    return server, f":{number}"


def patches(layout: dict) -> list[list[int]]:
    """What is polled: the caption, and a 64x64 patch at the centre of each face."""
    spots = [layout["caption"]]
    for x, y, width, height in (layout["left"], layout["right"]):
        spots.append([x + width // 2 - 32, y + height // 2 - 32, 64, 64])
    return spots


def measure(screen: Screen, spots, presses: int, gap: float, seed: int, timeout: float = 3.0) -> list[float]:
    rng = np.random.default_rng(seed)
    latencies = []
    for _ in range(presses):
        before = [screen.pixels(spot) for spot in spots]
        key = "Down" if rng.random() < 0.1 else ("Left" if rng.random() < 0.5 else "Right")
        sent = screen.press(key)
        while True:
            now = time.perf_counter()
            if any(screen.pixels(spot) != old for spot, old in zip(spots, before)):
                latencies.append((now - sent) * 1000)
                break
            if now - sent > timeout:
                raise SystemExit(f"the pair did not change within {timeout} s of a key press ({key})")
            time.sleep(POLL_S)  # leave the CPUs to the app and the X server between two looks
        time.sleep(gap)
    return latencies


def run_app(display: str, project: Path, work: Path) -> tuple[subprocess.Popen, dict, Path, Path]:
    ready, figures, stop = work / "ready.json", work / "figures.json", work / "stop"
    for path in (ready, figures, stop):
        path.unlink(missing_ok=True)
    code = APP.format(repo=str(REPO), settings=str(work / "settings"), width=SCREEN[0], height=SCREEN[1],
                      ready=str(ready), figures=str(figures), stop=str(stop), project=str(project))
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "AGEAPP_CONFIG_DIR": str(work / "config")}
    app = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                           stderr=open(work / "app.log", "w"))
    deadline = time.monotonic() + 120
    while not ready.exists():
        if app.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the app did not show a pair: see {work / 'app.log'}")
        time.sleep(0.1)
    time.sleep(0.3)  # the file is written whole before the app goes on; let it settle after the first pair
    return app, json.loads(ready.read_text()), figures, stop


def stop_app(app: subprocess.Popen, figures: Path, stop: Path) -> dict:
    stop.touch()
    try:
        app.wait(timeout=60)
    except subprocess.TimeoutExpired:
        app.kill()
        raise SystemExit("the app did not close") from None
    return json.loads(figures.read_text()) if figures.exists() else {"latencies": [], "refits": 0, "gold_answers": 0}


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {"p50": round(float(np.percentile(values, 50)), 2), "p95": round(float(np.percentile(values, 95)), 2),
            "max": round(float(np.max(values)), 2)}


def start_training_load() -> subprocess.Popen:
    from benchmarks.webcam import TRAINING_LOAD

    process = subprocess.Popen([sys.executable, "-c", TRAINING_LOAD.format(repo=str(REPO))], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    process.stdout.readline()  # "ready": the load runs from here on
    time.sleep(1.0)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--references", type=int, default=10_000)
    parser.add_argument("--labelled", type=int, default=25_000, help="queries finished before the run")
    parser.add_argument("--presses", type=int, default=150, help="key presses per load")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between a pair's change and the next press")
    parser.add_argument("--load", choices=("both", "idle", "training"), default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between the first pair and the first press")
    args = parser.parse_args()

    from benchmarks.annotate import cached_project

    source = cached_project(args.references, args.queries, min(args.labelled, args.queries))
    work = Path(tempfile.mkdtemp(prefix="ageapp-x11-"))
    server, display = start_xvfb()
    result = {"queries": args.queries, "references": args.references, "gap_s": args.gap, "display": "Xvfb",
              "cpus": os.cpu_count(), "load_average_1min_before": round(os.getloadavg()[0], 2)}
    screen = None
    try:
        screen = Screen(display)
        for load in (("idle", "training") if args.load == "both" else (args.load,)):
            project = work / f"{load}.ageproj"
            shutil.copyfile(source, project)
            trainer = start_training_load() if load == "training" else None
            try:
                app, layout, figures, stop = run_app(display, project, work)
                time.sleep(args.settle)  # the first statistics and queue counts of a big project run now
                try:
                    outside = measure(screen, patches(layout), args.presses, args.gap, args.seed)
                except SystemExit as error:
                    app.kill()
                    log = (work / "app.log").read_text()[-3000:]
                    raise SystemExit(f"{error}\nthe app's log:\n{log}") from None
                inside = stop_app(app, figures, stop)
            finally:
                if trainer is not None:
                    trainer.kill()
                    trainer.wait()
            result[load] = {"outside_ms": percentiles(outside), "app_ms": percentiles(inside["latencies"]),
                            "presses": len(outside), "over_100ms": sum(value > 100 for value in outside),
                            "gold_answers": inside["gold_answers"], "beta_refits": inside["refits"],
                            "refit_apply_ms": inside.get("refit_apply_ms", []),
                            "load_average_1min_after": round(os.getloadavg()[0], 2)}
    finally:
        if screen is not None:
            screen.close()
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
