"""Webcam-mode speed: play a video through the live estimation pipeline (no window), sequentially.

`python benchmarks/webcam.py --video FILE [--model CKPT] [--detector ONNX] [--max-frames N]`
prints one JSON line: frames, faces, fps (end to end, decode included), ms per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ageapp.data.faces import make_detector  # noqa: E402
from ageapp.estimation.model import load_estimator  # noqa: E402
from ageapp.estimation.pipeline import EstimationPipeline  # noqa: E402

DEFAULT_DETECTOR = REPO.parent / "shared" / "models" / "face_detection_yunet.onnx"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", required=True)
    parser.add_argument("--model")
    parser.add_argument("--detector", default=os.environ.get("AGEAPP_DETECTOR") or (str(DEFAULT_DETECTOR) if DEFAULT_DETECTOR.exists() else None))
    parser.add_argument("--max-frames", type=int, default=0)
    args = parser.parse_args()

    detector = make_detector(args.detector)
    estimator = load_estimator(args.model)
    pipeline = EstimationPipeline(detector, estimator)
    capture = cv2.VideoCapture(args.video)
    if not capture.isOpened():
        print(f"cannot open {args.video}", file=sys.stderr)
        return 1
    ok, frame = capture.read()  # warm-up frame: first-call costs are not the steady state
    pipeline.estimate(frame)
    pipeline = EstimationPipeline(detector, estimator)
    decode_ms = 0.0
    started = time.perf_counter()
    while True:
        tick = time.perf_counter()
        ok, frame = capture.read()
        decode_ms += (time.perf_counter() - tick) * 1000
        if not ok:
            break
        pipeline.estimate(frame)
        if args.max_frames and pipeline.frames >= args.max_frames:
            break
    elapsed = time.perf_counter() - started
    frames = max(pipeline.frames, 1)
    stages = {f"ms_{name}": round(total / frames, 2) for name, total in pipeline.timer.total_ms.items()}
    print(json.dumps({
        "frames": pipeline.frames,
        "faces": pipeline.faces,
        "fps": round(pipeline.frames / elapsed, 1),
        "ms_decode": round(decode_ms / frames, 2),
        **stages,
        "detector": detector.name,
        "model": estimator.description,
        "resolution": [int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))],
        "torch_threads": __import__("torch").get_num_threads(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
