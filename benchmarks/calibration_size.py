"""How many faces a calibration needs: fitted on random subsets of a model's calibration part (20 to all of it),
tested on its validation part, a temperature against a CDF map (isotonic), many draws per size.

    python benchmarks/calibration_size.py [--model runs/bench/default-v1.onnx] [--draws 30]

Raw posteriors come from the shift benchmark's clean condition (its cache: run there first if absent, which this
script does). Prints per size the mean and the 10th-90th percentile range over draws of 90% and 95% coverage,
the mean calibration error (points from nominal over 50/80/90/95%) and the NLL; from them the two thresholds
of ageapp.core.calibration_fit (MIN_MAP_FACES: the smallest size from which the CDF map is no worse than the
temperature in mean calibration error and NLL; MIN_FACES: the smallest at which a temperature's 90% coverage
is within 5 points of nominal in 9 draws of 10), and writes its section of docs/results.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.experiments import replace_section  # noqa: E402

SIZES = (20, 30, 50, 75, 100, 150, 200, 300, 500)


def clean_raw(model: str, part: str) -> dict:
    """The shift benchmark's clean raw outputs for one part of the model's split (computed if not cached)."""
    from benchmarks import shift

    with contextlib.redirect_stdout(io.StringIO()):  # its JSON line is not this script's
        shift.main(["--model", model, "--part", part, "--corruptions", "--quiet"])
    faces = shift.held_out_faces(str(shift.SHARED / "data" / "utkface" / "images"),
                                 str(REPO / "resources" / "models" / "default.split.json"), part, None, 0)
    return dict(np.load(shift.cache_file(Path(model), faces, shift.CLEAN, 0, True)))


def trial(p_fit, y_fit, p_test, y_test, method: str) -> dict:
    from ageapp.core.calibration import Calibration, apply_temperature
    from ageapp.core.calibration_fit import coverage_report, fit_cdf_map, fit_temperature

    t = fit_temperature(p_fit, y_fit, minimum=1)
    cdf_map = fit_cdf_map(apply_temperature(p_fit, t), y_fit, minimum=1) if method == "isotonic" else None
    calibration = Calibration(method=method, temperature=t, cdf_map=None if cdf_map is None else tuple(cdf_map))
    return coverage_report(calibration.apply(p_test), y_test)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs" / "bench" / "default-v1.onnx"))
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=str(REPO / "docs" / "results.md"))
    args = parser.parse_args()
    calibration, validation = clean_raw(args.model, "calibration"), clean_raw(args.model, "val")
    grid = lambda raw: np.clip(np.rint(raw["age"]), 0, raw["posterior"].shape[1] - 1).astype(int)  # noqa: E731
    p_cal, y_cal = calibration["posterior"].astype(np.float64), grid(calibration)
    p_val, y_val = validation["posterior"].astype(np.float64), grid(validation)
    rng = np.random.default_rng(args.seed)
    rows = {}
    for size in [s for s in SIZES if s < len(y_cal)] + [len(y_cal)]:
        draws = {"temperature": [], "isotonic": []}
        for _ in range(args.draws if size < len(y_cal) else 1):
            chosen = rng.choice(len(y_cal), size, replace=False)
            for method in draws:
                draws[method].append(trial(p_cal[chosen], y_cal[chosen], p_val, y_val, method))
        rows[size] = {method: {
            "coverage90": round(float(np.mean([d["coverage90"] for d in found])), 2),
            "coverage90_p10_p90": [round(float(np.percentile([d["coverage90"] for d in found], q)), 1) for q in (10, 90)],
            "coverage95": round(float(np.mean([d["coverage95"] for d in found])), 2),
            "coverage95_p10": round(float(np.percentile([d["coverage95"] for d in found], 10)), 1),
            "calibration_error": round(float(np.mean([d["calibration_error"] for d in found])), 2),
            "nll": round(float(np.mean([d["nll"] for d in found])), 4),
            "within5_share": round(float(np.mean([abs(d["coverage90"] - 90) <= 5 for d in found])), 2),
        } for method, found in draws.items()}
        print(size, json.dumps(rows[size]), file=sys.stderr, flush=True)
    sizes = sorted(rows)
    min_map = next((s for s in sizes if all(
        rows[t]["isotonic"]["calibration_error"] <= rows[t]["temperature"]["calibration_error"]
        and rows[t]["isotonic"]["nll"] <= rows[t]["temperature"]["nll"] for t in sizes if t >= s)), None)
    min_faces = next((s for s in sizes if rows[s]["temperature"]["within5_share"] >= 0.9), None)
    lines = [f"## How many faces a calibration needs (`python benchmarks/calibration_size.py`)", "",
             f"Model `{Path(args.model).name}`: a temperature and a CDF map (isotonic, after the temperature) fitted "
             f"on {args.draws} random subsets of each size of its {len(y_cal)} calibration faces, tested on its "
             f"{len(y_val)} validation faces (UTKFace, clean). Means over draws; p10-p90 the spread.",
             "", "| faces | method | 90% coverage (p10-p90) | 95% coverage (p10) | calibration error | NLL | "
             "90% within 5 points |", "|---|---|---|---|---|---|---|"]
    for size in sizes:
        for method, m in rows[size].items():
            lines.append(f"| {size} | {method} | {m['coverage90']:.1f} ({m['coverage90_p10_p90'][0]:.1f}-"
                         f"{m['coverage90_p10_p90'][1]:.1f}) | {m['coverage95']:.1f} ({m['coverage95_p10']:.1f}) | "
                         f"{m['calibration_error']:.2f} | {m['nll']:.3f} | {100 * m['within5_share']:.0f}% |")
    lines += ["", f"Read: a CDF map is no worse than a temperature (calibration error and NLL) from **{min_map}** "
                  f"faces on; a temperature's 90% coverage is within 5 points in 9 draws of 10 from **{min_faces}** "
                  "faces. `ageapp.core.calibration_fit` uses these: below MIN_MAP_FACES a temperature replaces the "
                  "map (and the calibration says so), below MIN_FACES nothing is fitted."]
    replace_section(Path(args.results), "calibration-size", "\n".join(lines))
    print(json.dumps({"model": Path(args.model).name, "draws": args.draws, "min_map_faces": min_map,
                      "min_faces": min_faces, "sizes": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
