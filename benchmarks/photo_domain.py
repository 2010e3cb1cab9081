"""The photo-domain figure: a model trained on UTKFace chips only, evaluated on FG-NET's full photos (all 1,002,
faces that have a real forehead where a chip has none), with the face-verification template ("mfn", the first
version's: a black band above every chip) and with the chip template (the change). Same seed, same epochs.

    python benchmarks/photo_domain.py [--epochs 2] [--seed 0] [--out runs/photo-domain]

Writes its section of docs/results.md and prints one JSON line. Runs already evaluated are not repeated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.experiments import REPO, SHARED, replace_section, run, shown  # noqa: E402

TEMPLATES = {"mfn": "face-verification template (before)", "chip": "chip template (after)"}
COLUMNS = ("mae", "cs5", "coverage90", "calibration_error", "nll")


def per_subject_mae(model: Path, fgnet: Path, args) -> dict[str, float]:
    """Each FG-NET subject's MAE (82 subjects; their mean counts every subject alike)."""
    import torch  # noqa: F401  (the trainer's evaluation, in-process)

    from trainer.checkpoint import model_from_checkpoint
    from trainer.evaluate import load_labelled_crops, point_estimates, predict_crops

    net, loaded = model_from_checkpoint(model)
    description = loaded["description"]
    crops, _ = load_labelled_crops(str(fgnet), "fgnet", False, description.template, detector=args.detector,
                                   log=lambda message: None)
    prediction = predict_crops(net, crops.crops, 128, description.size, flip=True)
    prediction["posterior"] = description.calibration.apply(prediction["posterior"])
    estimates = point_estimates(prediction, description.hyper_only)["mean"]
    errors: dict[str, list[float]] = {}
    for sample, estimate in zip(crops.samples, estimates):
        errors.setdefault(str(sample.subject), []).append(abs(estimate - sample.true_age))
    return {subject: float(np.mean(e)) for subject, e in sorted(errors.items())}


def paired_by_subject(before: dict[str, float], after: dict[str, float]) -> tuple[float, float, int]:
    """Mean over subjects of (after − before) per-subject MAE, its standard error, and the number of subjects:
    the spread between people (the test sample), not between trainings."""
    common = sorted(set(before) & set(after))
    differences = np.array([after[s] - before[s] for s in common])
    return float(differences.mean()), float(differences.std(ddof=1) / np.sqrt(len(common))), len(common)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utkface", default=str(SHARED / "data" / "utkface" / "images"))
    parser.add_argument("--fgnet", default=str(SHARED / "data" / "fgnet" / "images"))
    parser.add_argument("--init", default=str(SHARED / "models" / "mobilefacenet_casia.ckpt"))
    parser.add_argument("--detector", default=str(SHARED / "models" / "face_detection_yunet.onnx"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="UTKFace images drawn (seeded); 0 = all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="train without torch.compile (quick checks of this script)")
    parser.add_argument("--out", default=str(REPO / "runs" / "photo-domain"))
    parser.add_argument("--results", default=str(REPO / "docs" / "results.md"))
    args = parser.parse_args()
    for folder in (args.utkface, args.fgnet):
        if not Path(folder).is_dir():
            print(json.dumps({"error": f"{folder} is absent (development data in ../shared)"}))
            return 1
    started, rows, commands = time.time(), {}, []
    python = sys.executable
    for template in TEMPLATES:
        out = Path(args.out) / template
        result = out / "evaluation.json"
        train = [python, "-m", "trainer", "train", "--data", args.utkface, "--format", "utkface", "--init", args.init,
                 "--detector", args.detector, "--head", "concentration", "--epochs", str(args.epochs), "--seed",
                 str(args.seed), "--template", template, "--out", str(out), "--quiet", *(["--compile"] if args.compile else [])]
        if args.limit:
            train += ["--limit", str(args.limit)]
        commands.append(shown(train))
        if result.is_file():
            rows[template] = json.loads(result.read_text())
            if "fgnet_subject_maes" not in rows[template]:  # evaluated before the per-subject errors were kept
                rows[template]["fgnet_subject_maes"] = per_subject_mae(out / "best.pt", Path(args.fgnet), args)
                result.write_text(json.dumps(rows[template], indent=1))
            continue
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "best.pt").is_file():
            run(train, out / "train.log")
        evaluate = [python, "-m", "trainer", "evaluate", "--model", str(out / "best.pt"), "--detector", args.detector,
                    "--quiet"]
        photos = run(evaluate + ["--data", args.fgnet, "--format", "fgnet"], out / "evaluate.log")
        chips = run(evaluate + ["--data", args.utkface, "--format", "utkface", "--split-file", str(out / "split.json")],
                    out / "evaluate.log")
        subjects = per_subject_mae(out / "best.pt", Path(args.fgnet), args)
        rows[template] = {"fgnet": photos, "utkface": chips,
                          "fgnet_subject_mae": float(np.mean(list(subjects.values()))), "fgnet_subject_maes": subjects}
        result.write_text(json.dumps(rows[template], indent=1))
    lines = ["| crops | FG-NET photos: MAE | by subject | CS(5) | 90% coverage | calibration error | NLL | "
             "UTKFace held-out: MAE | 90% coverage |", "|---|---|---|---|---|---|---|---|---|"]
    for template, label in TEMPLATES.items():
        photos, chips = rows[template]["fgnet"], rows[template]["utkface"]
        lines.append(f"| {label} | {photos['mae']:.2f} | {rows[template]['fgnet_subject_mae']:.2f} | "
                     f"{photos['cs5']:.1f}% | {photos['coverage90']:.1f}% | {photos['calibration_error']:.1f} | "
                     f"{photos['nll']:.2f} | {chips['mae']:.2f} | {chips['coverage90']:.1f}% |")
    before, after = rows["mfn"]["fgnet"]["mae"], rows["chip"]["fgnet"]["mae"]
    change = "lower" if after < before else "higher"
    n_photos = rows["chip"]["fgnet"]["n"]
    shift, se, n_subjects = paired_by_subject(rows["mfn"]["fgnet_subject_maes"], rows["chip"]["fgnet_subject_maes"])
    command = (["python", "benchmarks/photo_domain.py"] + (["--limit", str(args.limit)] if args.limit else [])
               + ["--epochs", str(args.epochs)] + (["--seed", str(args.seed)] if args.seed else [])
               + ([] if args.compile else ["--no-compile"]))
    faces = f"a seeded {args.limit}-image subset of UTKFace" if args.limit else "all of UTKFace"
    text = f"""## Photo domain: crops learned from chips, shown full photos

`{' '.join(command)}` (from the repository root; this section is written by it). Two models trained
on UTKFace chips only ({faces}, split by the seed; MobileFaceNet
from the face-verification checkpoint, learned concentration, {args.epochs} epoch(s) at 112 pixels on 2 shared CPU
cores, no GPU lent; seed {args.seed}, calibrated on their own calibration part), differing only in the face
template their crops are aligned to; both evaluated on all {n_photos} FG-NET photos (scans of whole heads: a real
forehead, hair and background; aligned from their annotated landmarks, test-time flip), which they never saw,
and on their UTKFace held-out part. "By subject" is the mean over FG-NET's 82 subjects of each subject's MAE.

{chr(10).join(lines)}

With the chip template the error on full photos is **{abs(after - before):.2f} years {change}** ({before:.2f} →
{after:.2f}); by subject, chip − face-verification template = {shift:+.2f} ± {se:.2f} years (mean ± standard error
over the {n_subjects} subjects, paired: the spread between people, not between trainings). FG-NET is mostly children (371 of 1,002 under 10) and UTKFace's training faces mostly adults, so
both figures are far above the in-domain ones: the comparison between the two rows is the point, not the level.

Commands:

```
{chr(10).join(commands)}
```
"""
    replace_section(Path(args.results), "photo-domain", text)
    print(json.dumps({t: {"fgnet_mae": rows[t]["fgnet"]["mae"], "fgnet_subject_mae": rows[t]["fgnet_subject_mae"],
                          "fgnet_coverage90": rows[t]["fgnet"]["coverage90"], "utkface_mae": rows[t]["utkface"]["mae"]}
                      for t in TEMPLATES} | {"seconds": round(time.time() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
