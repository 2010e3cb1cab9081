"""Choosing the calibration by measurement, without looking at the shift benchmark: cross-fitted on the model's
calibration part, each face shown clean and degraded by each of the training's own degradations alone
(trainer.degrade, one copy per operation at a random strength), and each degradation in turn LEFT OUT of the
fit, so that the figure for it says how a calibration copes with a kind of picture it was not fitted on.

    python benchmarks/calibration_choice.py --model runs/NAME/last.pt [--folds 2]

Methods: "isotonic, clean" (one temperature and CDF map fitted on clean faces: the calibration before this
work), "isotonic, degraded" (the same fitted on clean and degraded copies), "quality bands" (Mondrian by picture
quality only) and "mondrian" (by quality, then by predicted age: the default). Reported per test condition:
90% coverage and the mean calibration error over 50/80/90/95%; on clean faces also the worst age band's 90%
coverage. Writes its section of docs/results.md; one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

from benchmarks.experiments import replace_section, shown  # noqa: E402

BANDS = ((0, 12), (13, 19), (20, 39), (40, 59), (60, 79), (80, 200))


def predictions(args) -> dict:
    """Raw posteriors, ages, quality, face index and condition ('clean' or an operation) of every copy."""
    import torch

    from ageapp.faces.quality import scores
    from trainer.checkpoint import model_from_checkpoint
    from trainer.degrade import OPERATIONS, Degrade, apply_plan
    from trainer.evaluate import load_labelled_crops, predict_crops

    model, loaded = model_from_checkpoint(args.model)
    description = loaded["description"]
    crops, _ = load_labelled_crops(args.data, "utkface", True, description.template, args.split_file,
                                   "calibration", None, args.detector, log=lambda message: None)
    also, _ = load_labelled_crops(args.also, "fgnet", False, description.template, args.split_file, "calibration",
                                  None, args.detector, log=lambda message: None) if args.also else (None, None)
    images = crops.crops if also is None else torch.cat([crops.crops, also.crops])
    samples = crops.samples + ([] if also is None else also.samples)
    if args.limit:
        images, samples = images[:args.limit], samples[:args.limit]
    ages = np.array([s.true_age for s in samples], np.float64)
    degrade, generator = Degrade(probability=1.0), torch.Generator().manual_seed(args.seed)
    blocks = [("clean", images)]
    for operation in OPERATIONS:
        floats = images.permute(0, 3, 1, 2).float()
        out = torch.stack([apply_plan(floats[i], {operation: degrade.strength(operation, generator)}, generator)
                           for i in range(len(floats))])
        blocks.append((operation, out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)))
    rows = {"posterior": [], "quality": [], "age": [], "face": [], "condition": []}
    for condition, block in blocks:
        print(f"predicting {condition} ({len(block)} faces)", file=sys.stderr, flush=True)
        rows["posterior"].append(predict_crops(model, block, 128, description.size, flip=True)["posterior"])
        rows["quality"].append(scores(block.numpy()))
        rows["age"].append(ages)
        rows["face"].append(np.arange(len(ages)))
        rows["condition"] += [condition] * len(ages)
    out = {k: np.concatenate(v) if k != "condition" else np.array(v) for k, v in rows.items()}
    out["age"] = np.clip(np.rint(out["age"]), 0, out["posterior"].shape[1] - 1).astype(int)
    return out


def fit(method: str, p, y, q, faces: int):
    from ageapp.core.calibration_fit import AGE_LOWS, fit_calibration

    if method == "quality bands":
        return fit_calibration(p, y, "mondrian", quality=q, faces=faces, age_lows=(0.0,))
    if method == "mondrian":
        return fit_calibration(p, y, "mondrian", quality=q, faces=faces, age_lows=AGE_LOWS)
    return fit_calibration(p, y, "isotonic", faces=faces)


METHODS = ("isotonic, clean", "isotonic, degraded", "quality bands", "mondrian")


def cross_fitted(data: dict, folds: int, seed: int) -> dict:
    """{method: {condition: calibrated posteriors of the held-out fold's faces}}, leaving the condition out."""
    from ageapp.core.calibration_fit import coverage_report

    n_faces = int(data["face"].max()) + 1
    fold_of = np.random.default_rng(seed).permutation(n_faces) % folds
    conditions = list(dict.fromkeys(data["condition"]))
    results = {m: {c: [] for c in conditions} for m in METHODS}
    for fold in range(folds):
        train_faces = fold_of[data["face"]] != fold
        for condition in conditions:
            test = ~train_faces & (data["condition"] == condition)
            for method in METHODS:
                if method == "isotonic, clean":
                    chosen = train_faces & (data["condition"] == "clean")
                else:  # every degradation but the one tested (clean faces always kept)
                    chosen = train_faces & ((data["condition"] != condition) | (condition == "clean"))
                calibration = fit(method, data["posterior"][chosen], data["age"][chosen], data["quality"][chosen],
                                  int(np.sum(fold_of != fold)))
                results[method][condition].append(
                    (calibration.apply(data["posterior"][test], quality=data["quality"][test]), data["age"][test]))
    report = {}
    for method, by_condition in results.items():
        report[method] = {}
        for condition, parts in by_condition.items():
            p = np.concatenate([part[0] for part in parts])
            y = np.concatenate([part[1] for part in parts])
            entry = coverage_report(p, y)
            if condition == "clean":
                bands = {}
                for low, high in BANDS:
                    inside = (y >= low) & (y <= high)
                    if inside.sum() >= 10:
                        bands[f"{low}-{high}"] = coverage_report(p[inside], y[inside])["coverage90"]
                entry["bands90"] = bands
            report[method][condition] = entry
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint (.pt) of ours")
    parser.add_argument("--data", default=str(SHARED / "data" / "utkface" / "images"))
    parser.add_argument("--also", default=str(SHARED / "data" / "fgnet" / "images"))
    parser.add_argument("--split-file", default=str(REPO / "resources" / "models" / "default.split.json"))
    parser.add_argument("--detector", default=str(SHARED / "models" / "face_detection_yunet.onnx"))
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="the first N faces only (quick checks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=str(REPO / "docs" / "results.md"))
    args = parser.parse_args()
    data = predictions(args)
    report = cross_fitted(data, args.folds, args.seed)
    conditions = list(report[METHODS[0]])
    lines = ["## Choosing the calibration (`python benchmarks/calibration_choice.py`)", "",
             f"`{shown([args.model])}`, its {int(data['face'].max()) + 1} calibration faces, each clean and degraded "
             "by each training degradation alone (random strength); "
             f"{args.folds}-fold cross-fitted by face, and each degradation left out of the fit that is tested on "
             "it. 90% coverage / mean calibration error (points) per test condition; the last column is the "
             "worst age band's 90% coverage on clean faces.", "",
             "| method | " + " | ".join(c.replace("_", " ") for c in conditions) + " | worst age band |",
             "|---|" + "---|" * (len(conditions) + 1)]
    for method in METHODS:
        cells = [f"{report[method][c]['coverage90']:.1f} / {report[method][c]['calibration_error']:.1f}"
                 for c in conditions]
        worst = min(report[method]["clean"]["bands90"].items(), key=lambda kv: kv[1])
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {worst[1]:.1f} ({worst[0]}) |")
    replace_section(Path(args.results), "calibration-choice", "\n".join(lines))
    print(json.dumps({"model": shown([args.model]), "faces": int(data["face"].max()) + 1, "report": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
