"""The model as the prior (issue 18): comparisons per face to reach a 90% interval of 8 years, and coverage,
for the paper protocol, active with the uniform prior, and active with the model's posterior as the prior at a
few powers; UTKFace queries, FG-NET references, the simulated annotator of `ageapp simulate`.

The model runs once on the queries (as `ageapp simulate --prior model` runs it), then every row simulates with
the same seed, queries and references. Writes the section "model-prior" of docs/results.md and prints JSON.

    python benchmarks/model_prior.py --limit-queries 2000 [--detector ../shared/models/face_detection_yunet.onnx]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.experiments import replace_section  # noqa: E402

from ageapp.cli.simulate import _protocol, build_pool, read_labelled_folder  # noqa: E402
from ageapp.cli.simulate_prior import query_priors, run_model  # noqa: E402
from ageapp.core.simulate import simulate_protocol  # noqa: E402

POWERS = (0.25, 0.5, 0.75, 1.0)


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
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    references = read_labelled_folder(Path(args.references), "references")
    queries = read_labelled_folder(Path(args.queries), "queries")
    keep = np.sort(np.random.default_rng(args.seed).choice(len(queries.ages), args.limit_queries, replace=False))
    ages, genders = queries.ages[keep], queries.genders[keep]
    paths = [queries.paths[i] for i in keep]
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
            from ageapp.core.simulate import coverage90

            row["likelihood_coverage90"] = coverage90(result.likelihood_posteriors, ages)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    run("paper protocol (6 references, uniform prior)", "paper")
    run("active, uniform prior", "active")
    for power in (float(p) for p in args.powers.split(",")):
        run(f"active, model prior ^{power:g}", "active", power)
    uniform = rows[1]["mean_comparisons"]
    table = ["| protocol | comparisons per face | ratio to active uniform | 90% coverage | median 90% width | "
             "at most 8 years | MAE (mode) |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        table.append(f"| {row['label']} | {row['mean_comparisons']:.2f} | {row['mean_comparisons'] / uniform:.2f} | "
                     f"{100 * row['coverage90']:.1f}% | {row['median_ci_width']:g} | {100 * row['frac_ci_below_8']:.1f}% "
                     f"| {row['mae_mode']:.2f} |")
    prior_row = next((r for r in rows if "prior_coverage90" in r), None)
    detector = args.detector or "$AGEAPP_DETECTOR, else Haar"
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
                 "in the default model's training split, so its opinion here is better than on new faces.\n")
    text += "\n" + "\n".join(table) + f"\n\nModel run {model_seconds:.0f} s; all rows {time.perf_counter() - started:.0f} s.\n"
    print(json.dumps({"rows": rows, "model_seconds": model_seconds}))
    if not args.no_write:
        replace_section(Path(args.results), "model-prior", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
