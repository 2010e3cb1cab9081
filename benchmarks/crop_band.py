"""How much of a face crop lies outside a UTKFace chip, per face template: the measurement behind the "chip"
template (ageapp/faces/alignment.py). A chip aligned to a template whose forehead lies above the chip gets a band
the chip does not have (filled by replicating its top row): the model would learn a band that webcam and photo
faces never show.

    python benchmarks/crop_band.py [--data ../shared/data/utkface/images] [--chips 1500] [--seed 0]

YuNet finds the 5 landmarks on each chip (padded for detection, as import does); for each template the crop's
pixels are mapped back into the chip. The last line is one JSON object: per template, the mean share of crop
pixels outside the chip, the share of chips with more than 2% outside, and the 95th percentile; and for the
candidate "chip" layouts (the median landmarks covering a share `fill` of the chip's height) the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ageapp.faces.alignment import TEMPLATES, similarity_transform  # noqa: E402
from ageapp.faces.detection import make_detector, pad_for_detection  # noqa: E402
from ageapp.faces.images import ImageError, load_image  # noqa: E402

SHARED = REPO.parent / "shared"


def chip_landmarks(files, detector) -> np.ndarray:
    """(N, 5, 2) landmarks as fractions of each chip's width and height (chips YuNet finds a face in)."""
    found = []
    for path in files:
        try:
            image = load_image(path)
        except ImageError:
            continue
        padded, pad = pad_for_detection(image)
        rows = detector.detect(padded)
        if rows:
            _, landmarks, _ = max(rows, key=lambda row: row[2])
            found.append((np.asarray(landmarks) - pad) / np.array([image.shape[1], image.shape[0]]))
    return np.array(found)


def outside_share(landmarks: np.ndarray, template: np.ndarray, side: int = 200) -> np.ndarray:
    """Per chip, the share of the 112x96 crop's pixels that map outside a side x side chip."""
    rows, cols = np.mgrid[0:112, 0:96]
    pixels = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5, np.ones(rows.size)], axis=1)
    shares = []
    for points in landmarks * side:
        matrix = np.vstack([similarity_transform(points, template), [0, 0, 1]])
        back = pixels @ np.linalg.inv(matrix).T
        outside = (back[:, 0] < 0) | (back[:, 0] >= side) | (back[:, 1] < 0) | (back[:, 1] >= side)
        shares.append(outside.mean())
    return np.array(shares)


def chip_template(median: np.ndarray, fill: float) -> np.ndarray:
    """The median chip layout, made left-right symmetric, with the crop covering `fill` of the chip's height
    (centred on the chip vertically, on the face horizontally)."""
    points = median.copy()
    centre = points[:, 0].mean()
    for left, right in ((0, 1), (3, 4)):
        half, y = (points[right, 0] - points[left, 0]) / 2, (points[left, 1] + points[right, 1]) / 2
        points[left], points[right] = (centre - half, y), (centre + half, y)
    points[2, 0] = centre
    width = fill * 96 / 112
    return ((points - [centre - width / 2, 0.5 - fill / 2]) / fill * 112).astype(np.float32)


def summary(shares: np.ndarray) -> dict:
    return {"mean_outside": round(float(shares.mean()), 4), "chips_over_2pct": round(float((shares > 0.02).mean()), 4),
            "p95_outside": round(float(np.percentile(shares, 95)), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "data" / "utkface" / "images"))
    parser.add_argument("--detector", default=str(SHARED / "models" / "face_detection_yunet.onnx"))
    parser.add_argument("--chips", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = sorted(Path(args.data).glob("*.jpg"))
    if not files or not Path(args.detector).is_file():
        print(json.dumps({"error": "needs UTKFace chips (--data) and the YuNet model (--detector)"}))
        return 1
    detector = make_detector(args.detector)
    chosen = np.random.default_rng(args.seed).choice(len(files), min(args.chips, len(files)), replace=False)
    landmarks = chip_landmarks([files[i] for i in chosen], detector)
    median = np.median(landmarks, axis=0)
    report = {"chips": len(landmarks), "median_landmarks": median.round(3).tolist(),
              "templates": {name: summary(outside_share(landmarks, points)) for name, points in TEMPLATES.items()},
              "candidates": {str(fill): {**summary(outside_share(landmarks, chip_template(median, fill))),
                                         "template": chip_template(median, fill).round(1).tolist()}
                             for fill in (0.8, 0.85, 0.88, 0.9, 0.95, 1.0)}}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
