"""How far the default model's gender can be trusted at each confidence: on the held-out UTKFace faces of
`resources/models/default.split.json` (validation part), the share of faces at or above each confidence
max(p, 1 - p) and the accuracy among them. ageapp.estimation.display.GENDER_SURE is set from this.

    python benchmarks/gender_confidence.py [--limit 1500]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ageapp.faces.alignment import face_from_aligned_crop  # noqa: E402
from ageapp.faces.detection import make_detector  # noqa: E402
from ageapp.faces.images import load_image  # noqa: E402
from ageapp.model import open_model  # noqa: E402
from ageapp.resources import resource_path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
LEVELS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=1500)
    parser.add_argument("--detector", default=str(SHARED / "models/face_detection_yunet.onnx"))
    args = parser.parse_args()
    split = json.loads(resource_path("models/default.split.json").read_text())
    rows = [row for row in split["val"] if row["path"].startswith("utkface/")][: args.limit]
    model = open_model(resource_path("models/default.onnx"))
    detector = make_detector(args.detector)
    truth, female = [], []
    for start in range(0, len(rows), 64):
        crops, genders = [], []
        for row in rows[start:start + 64]:
            parts = Path(row["path"]).name.split("_")
            if len(parts) < 3 or parts[1] not in ("0", "1"):
                continue
            image = load_image(SHARED / "data" / row["path"])
            crops.append(face_from_aligned_crop(image, detector, model.template).crop)
            genders.append(int(parts[1]))  # UTKFace: 0 male, 1 female
        _, p_female = model.predict_crops(crops)
        truth += genders
        female += list(np.asarray(p_female, float))
    truth, female = np.array(truth), np.array(female)
    confidence = np.maximum(female, 1 - female)
    correct = (female >= 0.5).astype(int) == truth
    table = {}
    for level in LEVELS:
        sure = confidence >= level
        unsure = ~sure
        table[str(level)] = {"share_sure": round(float(sure.mean()) * 100, 1),
                             "accuracy_sure": round(float(correct[sure].mean()) * 100, 1) if sure.any() else None,
                             "accuracy_unsure": round(float(correct[unsure].mean()) * 100, 1) if unsure.any() else None}
    print(json.dumps({"faces": int(len(truth)), "accuracy": round(float(correct.mean()) * 100, 1), "levels": table}))


if __name__ == "__main__":
    main()
