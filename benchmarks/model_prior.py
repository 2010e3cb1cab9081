"""The model as the prior (issue 18): comparisons per face to reach a 90% interval of 8 years, and coverage,
for the paper protocol, active with the uniform prior, and active with the model's posterior as the prior at a
few powers; UTKFace queries, FG-NET references, the simulated annotator of `ageapp simulate`.

The model runs once on the queries (as `ageapp simulate --prior model` runs it), then every row simulates with
the same seed, queries and references. Writes the section "model-prior" of docs/results.md and prints JSON.

    python benchmarks/model_prior.py --limit-queries 2000 [--detector ../shared/models/face_detection_yunet.onnx]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ageapp.cli.simulate import _protocol, build_pool, read_labelled_folder  # noqa: E402
from ageapp.cli.simulate_prior import query_priors, run_model  # noqa: E402
from ageapp.core.prior import on_range  # noqa: E402
from ageapp.core.simulate import coverage90, simulate_protocol  # noqa: E402
from benchmarks.experiments import replace_section  # noqa: E402

POWERS = (0.25, 0.5, 0.75, 1.0)
# Why the default power (ageapp.core.prior.PRIOR_POWER_DEFAULT) is what it is: measured, not re-run by this script.
NOTE = """**Default power 0.75.** It is the largest power tried that keeps the 90% coverage at or above 88% with both
default models measured: with the calibrated default model (the table above) power 1 would do too, but with the
earlier, uncalibrated one (commit 0268ea7: its own intervals covered 80% of these faces) power 1 covered only
86.5% (3.97 comparisons) while 0.75 covered 89.2% at 4.41 comparisons (0.61 of active uniform's 7.22). A project's
active model may be less well calibrated than the shipped one; tempering by 0.75 costs about 0.3 comparisons per
face against full trust. Every face gets at least one comparison, however sure the model is."""


def _held_out(split: Path, paths: list[Path]) -> np.ndarray:
    """Which queries the model never trained on (by content hash, from its split file); none without one."""
    if not split.is_file():
        return np.zeros(len(paths), dtype=bool)
    listed = json.loads(split.read_text())
    keys = {entry["key"] for part in ("val", "calibration") for entry in listed.get(part) or []}
    return np.array([hashlib.sha1(path.read_bytes()).hexdigest() in keys for path in paths])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", default="../shared/data/fgnet/images")
    parser.add_argument("--queries", default="../shared/data/utkface/images")
    parser.add_argument("--limit-queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--detector", default=None, help="YuNet .onnx (default: $AGEAPP_DETECTOR, else Haar)")
    parser.add_argument("--powers", default=",".join(f"{p:g}" for p in POWERS))
    parser.add_argument("--results", default=str(ROOT / "docs" / "results.md"))
    parser.add_argument("--split", default=str(ROOT / "resources" / "models" / "default.split.json"),
                        help="the model's held-out list: coverage is also given on the queries it never trained on")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    references = read_labelled_folder(Path(args.references), "references")
    queries = read_labelled_folder(Path(args.queries), "queries")
    keep = np.sort(np.random.default_rng(args.seed).choice(len(queries.ages), args.limit_queries, replace=False))
    ages, genders = queries.ages[keep], queries.genders[keep]
    paths = [queries.paths[i] for i in keep]
    held_out = _held_out(Path(args.split), paths)
    sim = argparse.Namespace(age_max=100, prior="model", prior_power=None, model=args.model, detector=args.detector,
                             policy="active", comparisons=None, max_comparisons=None, target_width=8)
    pool = build_pool(references, sim.age_max)
    posteriors, no_face, model_name = run_model(sim, paths, queries.source_format == "utkface")
    model_seconds = time.perf_counter() - started
    rows = []

    def run(label, policy, power=None):
        sim.policy, sim.prior_power = policy, power
        sim.prior = "uniform" if power is None else "model"
        prior = query_priors(sim, paths, queries.source_format, ages, model_posteriors=posteriors)
        result = simulate_protocol(ages, genders, pool, _protocol(sim), age_max=sim.age_max, seed=args.seed,
                                   log_priors=prior.log_priors)
        row = {"label": label, "policy": policy, "power": power, **result.summary(), **prior.summary}
        if result.likelihood_posteriors is not None:
            row["likelihood_coverage90"] = coverage90(result.likelihood_posteriors, ages)
        if held_out.any():
            row["held_out"] = int(held_out.sum())
            row["held_out_coverage90"] = coverage90(result.posteriors[held_out], ages[held_out])
            row["held_out_mean_comparisons"] = float(result.comparisons[held_out].mean())
            if power is not None:
                row["held_out_prior_coverage90"] = coverage90(on_range(posteriors, 100)[held_out], ages[held_out])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    run("paper protocol (6 references, uniform prior)", "paper")
    run("active, uniform prior", "active")
    for power in (float(p) for p in args.powers.split(",")):
        run(f"active, model prior ^{power:g}", "active", power)
    uniform = rows[1]["mean_comparisons"]
    table = ["| protocol | comparisons per face | ratio to active uniform | 90% coverage | median 90% width | "
             "at most 8 years | MAE (mode) | held out: comparisons, coverage |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        held = (f"{row['held_out_mean_comparisons']:.2f}, {100 * row['held_out_coverage90']:.1f}%"
                if "held_out" in row else "—")
        table.append(f"| {row['label']} | {row['mean_comparisons']:.2f} | {row['mean_comparisons'] / uniform:.2f} | "
                     f"{100 * row['coverage90']:.1f}% | {row['median_ci_width']:g} | "
                     f"{100 * row['frac_ci_below_8']:.1f}% "
                     f"| {row['mae_mode']:.2f} | {held} |")
    prior_row = next((r for r in rows if "prior_coverage90" in r), None)
    from ageapp.faces.detection import make_detector

    detector = make_detector(args.detector).name
    text = f"""## The model as the prior (issue 18)

`python benchmarks/model_prior.py --limit-queries {args.limit_queries} --seed {args.seed}` \
(references `{args.references}`, queries `{args.queries}`, detector: {detector}; model {model_name}).
{len(keep)} UTKFace queries (drawn with seed {args.seed}), {len(pool.ages)} FG-NET references, the simulated
annotator answering with β = 0.36 and the engine assuming it; active: stop at a 90% interval of 8 years or 12
comparisons, and at least one comparison per face. The model prior is the model's posterior for the face to
the power shown, renormalised ({no_face} queries without a face start uniform).
"""
    if prior_row is not None:
        text += (f"The model's own 90% intervals cover {100 * prior_row['prior_coverage90']:.1f}% of these faces "
                 f"(median width {prior_row['prior_median_ci_width']:g} years). Most of these UTKFace faces were "
                 "in the default model's training split, so its opinion here is better than on new faces: the last "
                 f"column keeps to the {prior_row.get('held_out', 0)} it never trained on (its held-out list), where "
                 f"its own intervals cover {100 * prior_row.get('held_out_prior_coverage90', float('nan')):.1f}%.\n")
    total = time.perf_counter() - started
    text += "\n" + "\n".join(table) + f"\n\nModel run {model_seconds:.0f} s; all rows {total:.0f} s.\n"
    alone = [row["likelihood_coverage90"] for row in rows if "likelihood_coverage90" in row]
    if alone:
        text += (f"\nThe same answers without the prior (the likelihood-only posteriors, what training reads by "
                 f"default) cover {100 * min(alone):.1f}–{100 * max(alone):.1f}% in the model-prior rows.\n")
    text += "\n" + NOTE + "\n"
    print(json.dumps({"rows": rows, "model_seconds": model_seconds}))
    if not args.no_write:
        replace_section(Path(args.results), "model-prior", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
