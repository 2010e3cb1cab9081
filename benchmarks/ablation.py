"""The paper's ablation, reproduced: the joint model, without L_KL, without L_hyper, and the learned-concentration
variant, trained under one budget on the same split with the project's own command line.

`python benchmarks/ablation.py [--data DIR] [--limit N] [--epochs E] [--size S] [--out runs/ablation]`
writes docs/results.md (the table, the commands, the paper's table beside it) and prints one JSON line.
A variant whose run folder already holds a finished checkpoint is not trained again (delete it to rerun).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

VARIANTS = {
    "full (L_KL + L_hyper)": ["--loss", "joint"],
    "without L_KL": ["--loss", "hyper"],
    "without L_hyper": ["--loss", "kl"],
    "full + learned concentration": ["--loss", "joint", "--head", "concentration"],
}
COLUMNS = ("mae", "ca3", "ca5", "coverage90", "mean_ci_width", "nll")
PAPER_TABLE = """| model (paper, Table 3) | Adience exact | MegaAge CA(3) |
|---|---|---|
| full model | 56.01 | 64.51 |
| without L_KL | 54.52 | 63.09 |
| without L_hyper | 49.46 | 59.44 |"""


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("the command printed no JSON line")


def run(command: list[str]) -> dict:
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return last_json_line(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(SHARED / "data" / "utkface" / "images"))
    parser.add_argument("--init", default=str(SHARED / "models" / "mobilefacenet_casia.ckpt"))
    parser.add_argument("--detector", default=str(SHARED / "models" / "face_detection_yunet.onnx"))
    parser.add_argument("--limit", type=int, default=3000, help="images drawn (seeded) from the data; 0 = all")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=64, help="input height (the budget: smaller is faster)")
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--results", default="docs/results.md")
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        print(f"no data at {args.data}: pass --data (a UTKFace-named folder)", file=sys.stderr)
        return 1

    python = sys.executable
    rows, commands, started = {}, [], time.time()
    for name, extra in VARIANTS.items():
        out = Path(args.out) / slug(name)
        train = [python, "-m", "trainer", "train", "--data", args.data, "--format", "utkface", "--init", args.init,
                 "--detector", args.detector, "--limit", str(args.limit), "--epochs", str(args.epochs),
                 "--size", str(args.size), "--seed", "0", "--out", str(out), "--quiet", *extra]
        commands.append(" ".join(train[1:]))
        if not (out / "best.pt").is_file():
            run(train)
        evaluate = [python, "-m", "trainer", "evaluate", "--model", str(out / "best.pt"), "--data", args.data,
                    "--format", "utkface", "--detector", args.detector, "--split-file", str(out / "split.json"),
                    "--quiet"]
        rows[name] = run(evaluate)
    write_results(Path(args.results), rows, commands, args)
    print(json.dumps({"variants": {name: {k: row.get(k) for k in COLUMNS} for name, row in rows.items()},
                      "n_test": next(iter(rows.values())).get("n"), "seconds": round(time.time() - started, 1)}))
    return 0


def write_results(path: Path, rows: dict, commands: list[str], args) -> None:
    table = ["| variant | MAE | CA(3) | CA(5) | 90% coverage | mean 90% width | NLL |", "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        table.append(f"| {name} | " + " | ".join(f"{row.get(k, float('nan')):.2f}" for k in COLUMNS) + " |")
    full, no_kl, no_hyper = (rows[n]["mae"] for n in list(VARIANTS)[:3])
    ordering = "holds" if full <= no_kl <= no_hyper else "does not hold"
    n_test = next(iter(rows.values())).get("n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""# Results: the paper's ablation on this project's data

Produced by `python benchmarks/ablation.py --limit {args.limit} --epochs {args.epochs} --size {args.size}`
(MobileFaceNet initialised from the CASIA face-verification checkpoint; UTKFace, de-duplicated, a seeded
{args.limit}-image subset split 80/20, the same split for every variant; {n_test} held-out faces; CPU, 2 cores).
The budget is small (a few epochs at a {args.size}-pixel input): compare the variants with each other, not with
the shipped default model.

{chr(10).join(table)}

MAE in years (posterior mean; the hyper-only model uses the paper's aggregation rule age = sum_k 1[f_k > 0.5]);
CA(n) = % with error < n years; coverage = % of true ages inside the 90% interval; NLL of the true age.

The paper's ordering (full better than without L_KL, better than without L_hyper) **{ordering}** here by MAE
({full:.2f} / {no_kl:.2f} / {no_hyper:.2f}).

The paper's own table, for comparison (other data, other backbone, other budget):

{PAPER_TABLE}

Commands:

```
{chr(10).join(commands)}
```
""")


if __name__ == "__main__":
    sys.exit(main())
