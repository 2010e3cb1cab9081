"""Write a test video of real faces pasted on a background, standing in for a camera.

`python benchmarks/face_video.py OUT.avi --faces 1 --frames 300 [--source DIR]` (default source: UTKFace
crops in ../shared). Faces drift slowly, as people in front of a webcam do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "utkface" / "images"


def face_layout(count: int, width: int, height: int, face_size: int) -> list[tuple[int, int]]:
    """Top-left corners of `count` faces spread across the frame."""
    columns = min(count, max(1, width // (face_size + 10)))
    rows = -(-count // columns)
    xs = np.linspace(10, width - face_size - 10, columns).astype(int)
    ys = np.linspace(10, height - face_size - 10, max(rows, 1)).astype(int)
    return [(int(xs[i % columns]), int(ys[i // columns])) for i in range(count)]


def write_face_video(out: Path, faces: list[np.ndarray], frames: int = 150, size=(640, 480), fps: float = 30.0,
                     face_size: int | None = None, seed: int = 0, codec: str = "MJPG") -> Path:
    """Faces (BGR images) pasted at fixed places with a slow drift; returns the path."""
    width, height = size
    face_size = face_size or (200 if len(faces) == 1 else min(200, width // min(len(faces), 3) - 20))
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(60, 200, (height, width, 3), dtype=np.uint8), (0, 0), 15)
    resized = [cv2.resize(face, (face_size, face_size)) for face in faces]
    corners = face_layout(len(faces), width, height, face_size)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {out} with codec {codec}")
    for t in range(frames):
        frame = background.copy()
        for face, (x, y) in zip(resized, corners):
            dx = int(round(6 * np.sin(t / 20.0)))
            dy = int(round(4 * np.cos(t / 25.0)))
            x0 = int(np.clip(x + dx, 0, width - face_size))
            y0 = int(np.clip(y + dy, 0, height - face_size))
            frame[y0:y0 + face_size, x0:x0 + face_size] = face
        writer.write(frame)
    writer.release()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--faces", type=int, default=1)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    if not args.source.is_dir():
        print(f"no face images at {args.source}: pass --source DIR", file=sys.stderr)
        return 1
    names = sorted(args.source.iterdir())[:: max(1, len(list(args.source.iterdir())) // 50)][: args.faces]
    faces = [cv2.imread(str(name)) for name in names]
    write_face_video(args.out, faces, args.frames)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
