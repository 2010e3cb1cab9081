"""Live-view speed: a video file played without a frame-rate limit (a fast camera stands in) through the same
capture and pipeline as the window's camera panel, first alone, then with a concurrent load the script starts
itself (a training loop of the real network, as a training run would be), so both figures come from one run.

    python benchmarks/webcam.py --video CLIP [--model MODEL] [--detector YUNET.onnx] [--seconds 10]
        [--load training|none] [--window]

The last line is one JSON object: fps (idle), fps_loaded, load_ratio (fps_loaded / fps), the milliseconds
per frame of each stage (decode in the capture thread; detect, align, network, fusion in the pipeline),
detections per frame, the model and backend. With --window it also opens the real window offscreen and reports
`window_fps`, the figure the camera panel itself shows (`ageapp --camera CLIP --camera-fps 0`).
`python benchmarks/face_video.py CLIP --faces 1` writes a one-face 640x480 clip from UTKFace faces.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ageapp.faces.detection import DETECTOR_ENV, make_detector  # noqa: E402
from ageapp.estimation.capture import LatestFrameCapture  # noqa: E402
from ageapp.estimation.display import RateMeter, live_inference_threads  # noqa: E402
from ageapp.estimation.pipeline import LIVE_FLIP, LivePipeline  # noqa: E402
from ageapp.model import load_model  # noqa: E402

DEFAULT_DETECTOR = REPO.parent / "shared" / "models" / "face_detection_yunet.onnx"
# The concurrent load: what a training run does to the machine (MobileFaceNet steps on 2 threads).
TRAINING_LOAD = """
import torch, sys
sys.path.insert(0, {repo!r})
from trainer.heads import AgeNet
from trainer.losses import AgeLoss
torch.set_num_threads(2)
model = AgeNet("mobilefacenet", 100, "concentration", pretrained=False)
optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
loss_fn = AgeLoss("joint", 1.0, 5.0)
images = torch.rand(32, 3, 112, 96) * 255
targets = torch.softmax(torch.randn(32, 101), -1)
genders = torch.randint(0, 2, (32,))
print("ready", flush=True)
while True:
    loss, _ = loss_fn(model(images), targets, genders)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
"""


def run_pipeline(video: str, detector, model, seconds: float) -> dict:
    """The camera panel's loop without drawing: the capture thread keeps the newest frame, the pipeline takes
    it; fps counts frames estimated, as the panel's RateMeter does."""
    capture = LatestFrameCapture(video, loop=True, fps=0).start()
    pipeline = LivePipeline(detector, model)
    meter = RateMeter(window=seconds + 1)
    first = capture.latest(timeout=5)
    if first is None:
        capture.stop()
        raise SystemExit(f"cannot read {video}: {capture.status}")
    pipeline.estimate(first.image)  # warm-up: first-call costs are not the steady state
    pipeline = LivePipeline(detector, model)
    read_before = capture.frames_read
    started = time.monotonic()
    faces = 0
    while time.monotonic() - started < seconds:
        frame = capture.latest(timeout=1)
        if frame is None:
            continue
        faces += len(pipeline.estimate(frame.image))
        meter.tick(time.monotonic())
    elapsed = time.monotonic() - started
    read = capture.frames_read - read_before
    capture.stop()
    frames = max(1, pipeline.frames)
    return {
        "fps": round(pipeline.frames / elapsed, 1), "frames": pipeline.frames, "faces_per_frame": round(faces / frames, 2),
        "decoded_fps": round(read / elapsed, 1), "detections_per_frame": round(pipeline.detections / frames, 3),
        "network_runs_per_frame": round(pipeline.network_runs / frames, 3),
        **{f"ms_{name}": round(total / frames, 2) for name, total in pipeline.timer.total_ms.items()},
    }


def start_load(kind: str) -> subprocess.Popen | None:
    if kind == "none":
        return None
    process = subprocess.Popen([sys.executable, "-c", TRAINING_LOAD.format(repo=str(REPO))], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    process.stdout.readline()  # "ready": the load runs from here on
    time.sleep(1.0)
    return process


def window_fps(video: str, model_path: str | None, seconds: float, detector_path: str | None = None) -> float:
    """The camera panel's own FPS figure, from the real window (offscreen), the clip played unpaced, with the
    same detector as the pipeline figures (through $AGEAPP_DETECTOR, as a user would set it; fresh settings)."""
    code = f"""
import sys, time, os
sys.path.insert(0, {str(REPO)!r})
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.estimate.page import install_estimate_page
window = MainWindow()
page = install_estimate_page(window, camera={video!r}, camera_fps=0)
window.show()
seen = []
started = []
def sample():  # the panel's own figure, read ten times a second by the app's own event loop
    result = page.camera.last_result
    if result is None:
        if time.monotonic() > give_up:
            app.quit()
        return
    if not started:
        started.append(time.monotonic())
    elapsed = time.monotonic() - started[0]
    if elapsed > 2:
        seen.append(result.fps)
    if elapsed > {seconds} + 2:
        app.quit()
give_up = time.monotonic() + 30
timer = QTimer()
timer.timeout.connect(sample)
timer.start(100)
app.exec()
page.camera.stop()
print(sum(seen) / max(1, len(seen)))
"""
    with tempfile.TemporaryDirectory(prefix="ageapp-webcam-") as home:
        env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": home}
        env.pop(DETECTOR_ENV, None)
        if detector_path:
            env[DETECTOR_ENV] = str(Path(detector_path).resolve())
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=seconds + 120,
                                env=env)
    try:
        return round(float(result.stdout.strip().splitlines()[-1]), 1)
    except (ValueError, IndexError):
        raise SystemExit(f"the window run failed: {result.stderr[-2000:]}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--model", default=None, help="default: the shipped model (ONNX)")
    parser.add_argument("--detector", default=os.environ.get("AGEAPP_DETECTOR")
                        or (str(DEFAULT_DETECTOR) if DEFAULT_DETECTOR.exists() else None))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--load", default="training", choices=("training", "none"))
    parser.add_argument("--window", action="store_true", help="also measure the window's own FPS figure")
    args = parser.parse_args()
    if not Path(args.video).is_file():
        print(json.dumps({"error": f"{args.video} not found: write one with benchmarks/face_video.py"}))
        return 1
    model, _, _ = load_model(args.model, threads=live_inference_threads())
    detector = make_detector(args.detector)
    idle = run_pipeline(args.video, detector, model, args.seconds)
    report = {"fps": idle["fps"], **{k: v for k, v in idle.items() if k != "fps"}}
    if args.window:
        report["window_fps"] = window_fps(args.video, args.model, args.seconds, args.detector)
    load = start_load(args.load)
    if load is not None:
        try:
            loaded = run_pipeline(args.video, detector, model, args.seconds)
            if args.window:
                report["window_fps_loaded"] = window_fps(args.video, args.model, args.seconds, args.detector)
        finally:
            load.kill()
            load.wait()
        report.update({"fps_loaded": loaded["fps"], "load_ratio": round(loaded["fps"] / max(idle["fps"], 1e-9), 3),
                       "ms_network_loaded": loaded.get("ms_network"), "ms_detect_loaded": loaded.get("ms_detect")})
    report.update({"load": args.load, "detector": detector.name, "model": model.summary, "flip": LIVE_FLIP,
                   "cores": os.cpu_count()})
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
