"""`ageapp simulate`: compare the paper and active reference-choice protocols with a simulated annotator.

Ages (and gender where the name has it) come from the file names, FG-NET or UTKFace, the format detected
per folder (ageapp.core.names, the parser import uses); files with the same content count once. Every query
is kept: the range is the project's default (0-100), and an age above it is simulated as it is and counted
(`n_above_range`). The annotator may compare older faces less well (`--annotator-beta AGE:BETA,...`), and the
engine may fit β from gold pairs as labelling goes (`--fit-beta`) instead of assuming `--beta`. With
`--prior model` every query starts from the age model's posterior for its face (tempered by `--prior-power`;
ageapp.core.prior) instead of the uniform prior: the model runs on the query images first (cli.simulate_prior).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ageapp.cli.output import CommandError, finish
from ageapp.core.annotators import GOLD_RATE
from ageapp.core.beta_model import parse_beta_curve
from ageapp.core.names import ParsedName, detect_format, parse_name
from ageapp.core.posterior import AGE_MAX_DEFAULT, BETA_DEFAULT, OUTLIER_WIDTH
from ageapp.core.selection import ACTIVE, GENDER_UNKNOWN, PAPER, POLICIES, Protocol, ReferencePool
from ageapp.core.simulate import ESTIMATE_SD_DEFAULT, NARROW_WIDTH, simulate_protocol
from ageapp.cli.simulate_prior import add_prior_arguments, check_prior_arguments, query_priors

PAPER_COMPARISONS = 6
ACTIVE_TARGET_WIDTH = 8
ACTIVE_MAX_COMPARISONS = 12


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="compare reference-choice protocols with a simulated annotator",
        description="Simulate annotating the query faces by comparison with the reference faces, ages read "
        "from the file names (FG-NET or UTKFace), and summarise the posteriors.",
    )
    parser.add_argument("--references", type=Path, required=True, help="folder of reference faces")
    parser.add_argument("--queries", type=Path, required=True, help="folder of query faces")
    parser.add_argument("--policy", choices=POLICIES, required=True)
    parser.add_argument(
        "--comparisons",
        type=int,
        help=f"paper: comparisons per query (half younger, half older; default {PAPER_COMPARISONS}); "
        "active: the maximum, unless --max-comparisons is given",
    )
    parser.add_argument("--target-width", type=int, default=ACTIVE_TARGET_WIDTH, help="active: stop at this 90%% interval width")
    parser.add_argument("--max-comparisons", type=int, help=f"active: at most this many (default {ACTIVE_MAX_COMPARISONS})")
    parser.add_argument("--beta", type=float, default=BETA_DEFAULT,
                        help="the annotator's slope β, as the engine assumes it (and as the annotator has it, "
                             "unless --annotator-beta)")
    parser.add_argument("--annotator-beta", type=parse_beta_curve, metavar="AGE:BETA,...",
                        help="the simulated annotator's β by the reference's age, piecewise linear "
                             "(e.g. 0:0.6,40:0.3,70:0.15)")
    parser.add_argument("--fit-beta", action="store_true",
                        help="the engine fits β (by age where that predicts better) from simulated gold pairs "
                             "answered as labelling goes, instead of assuming --beta")
    parser.add_argument("--gold-rate", type=float, default=GOLD_RATE, help="with --fit-beta: gold pairs per comparison")
    parser.add_argument("--estimate-sd", type=float, default=ESTIMATE_SD_DEFAULT, help="paper: rough-estimate noise (years)")
    parser.add_argument("--age-max", type=int, default=AGE_MAX_DEFAULT,
                        help=f"the range's oldest age (default {AGE_MAX_DEFAULT}, as a new project's); older queries "
                             "are kept and counted")
    parser.add_argument("--limit-queries", type=int, help="simulate this many queries, drawn at random with the seed")
    parser.add_argument("--seed", type=int, default=0)
    add_prior_arguments(parser)
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class LabelledFolder:
    source_format: str
    ages: np.ndarray
    genders: np.ndarray  # GENDER_UNKNOWN where the name has none
    unreadable: int  # files whose names carry no label
    paths: tuple[Path, ...] = ()
    duplicates: int = 0  # files whose content another one already has


def read_labelled_folder(folder: Path, role: str) -> LabelledFolder:
    """Labels of every file in the folder (sorted by name, so the seed alone fixes what is drawn)."""
    if not folder.is_dir():
        raise CommandError(f"{role} folder {folder} does not exist or is not a folder")
    names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
    source_format = detect_format(names)
    if source_format is None:
        raise CommandError(f"{role} folder {folder}: no FG-NET (001A22.JPG) or UTKFace (26_1_0_...jpg.chip.jpg) names")
    parsed = [(n, p) for n, p in ((n, parse_name(n, source_format)) for n in names) if isinstance(p, ParsedName)]
    seen, kept = set(), []
    for name, label in parsed:  # byte-identical files are one face (the UTKFace release repeats some)
        digest = hashlib.sha1((folder / name).read_bytes()).digest()
        if digest not in seen:
            seen.add(digest)
            kept.append((name, label))
    return LabelledFolder(
        source_format=source_format,
        ages=np.array([p.age for _, p in kept], dtype=np.int64),
        genders=np.array([GENDER_UNKNOWN if p.gender is None else p.gender for _, p in kept], dtype=np.int64),
        unreadable=len(names) - len(parsed),
        paths=tuple(folder / n for n, _ in kept),
        duplicates=len(parsed) - len(kept),
    )


def build_pool(references: LabelledFolder, age_max: int) -> ReferencePool:
    """The references within the range, as the simulation's pool."""
    in_range = references.ages <= age_max
    return ReferencePool(np.arange(int(in_range.sum())), references.ages[in_range].astype(np.float64),
                         references.genders[in_range])


def _protocol(args) -> Protocol:
    if args.policy == PAPER:
        return Protocol(PAPER, comparisons=args.comparisons or PAPER_COMPARISONS)
    maximum = args.max_comparisons or args.comparisons or ACTIVE_MAX_COMPARISONS
    return Protocol(ACTIVE, target_width=args.target_width, max_comparisons=maximum)


def _check(args) -> None:
    for name in ("comparisons", "max_comparisons", "limit_queries"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
    if args.target_width < 0 or args.estimate_sd < 0 or args.age_max < 1 or not args.beta > 0:
        raise CommandError("--target-width and --estimate-sd must be >= 0, --age-max >= 1 and --beta > 0")
    if not 0 <= args.gold_rate <= 1:
        raise CommandError("--gold-rate is a share of the comparisons, between 0 and 1")
    check_prior_arguments(args)


def run(args: argparse.Namespace) -> int:
    _check(args)
    started = time.perf_counter()
    references = read_labelled_folder(args.references, "references")
    queries = read_labelled_folder(args.queries, "queries")
    keep = np.arange(len(queries.ages))
    if args.limit_queries is not None and args.limit_queries < len(keep):
        keep = np.sort(np.random.default_rng(args.seed).choice(keep, args.limit_queries, replace=False))
    if len(references.ages) == 0 or len(keep) == 0:
        raise CommandError("nothing to simulate: no labelled references, or no labelled query")
    pool = build_pool(references, args.age_max)
    protocol = _protocol(args)
    prior = query_priors(args, [queries.paths[i] for i in keep], queries.source_format, queries.ages[keep])
    result = simulate_protocol(
        queries.ages[keep], queries.genders[keep], pool, protocol, beta=args.beta, annotator=args.annotator_beta,
        fit_beta=args.fit_beta, gold_rate=args.gold_rate, estimate_sd=args.estimate_sd, age_max=args.age_max,
        seed=args.seed, log_priors=prior.log_priors,
    )
    summary = {**result.summary(), **prior.summary}
    elapsed = time.perf_counter() - started
    if protocol.policy == PAPER:
        estimate = "the prior's mean" if prior.log_priors is not None else f"the true age, sd {args.estimate_sd:g}"
        rule = f"{protocol.comparisons} comparisons (half younger, half older than a rough estimate: {estimate})"
    else:
        rule = (f"most informative reference until the 90% interval <= {protocol.target_width} years (below "
                f"{protocol.relative_below}, the same share of the age) or {protocol.max_comparisons} comparisons")
    who = (f"annotator β by age {args.annotator_beta.describe()}" if args.annotator_beta is not None
           else f"annotator β {args.beta:g}")
    engine = (f"engine fits β from {result.gold_answers} gold answers: {result.model.describe()}" if args.fit_beta
              else f"engine assumes β {args.beta:g}")
    lines = [
        f"policy {protocol.policy}: {rule}; {who}; {engine}; seed {args.seed}",
        f"references: {len(pool.ages)} ({references.source_format}, {references.unreadable} unreadable names, "
        f"{references.duplicates} duplicates), ages {pool.ages.min():g}-{pool.ages.max():g}",
        f"queries: {summary['n_queries']} ({queries.source_format}, {queries.unreadable} unreadable names, "
        f"{queries.duplicates} duplicates); range 0-{args.age_max}, {summary['n_above_range']} above it",
        f"comparisons per query: {summary['mean_comparisons']:.2f} on average",
        f"90% interval width: median {summary['median_ci_width']:g} years; "
        f"{100 * summary['frac_ci_below_8']:.1f}% at most {NARROW_WIDTH}; "
        f"{100 * summary['frac_flagged']:.1f}% flagged (wider than {OUTLIER_WIDTH}); "
        f"{100 * summary['frac_beyond']:.1f}% beyond the references",
        f"MAE of the posterior mode {summary['mae_mode']:.2f} years (mean {summary['mae_mean']:.2f}); "
        f"90% interval coverage {100 * summary['coverage90']:.1f}%",
        *prior.lines,
        f"elapsed {elapsed:.1f} s",
    ]
    payload = {"policy": protocol.policy, "seed": args.seed, **summary, "age_max": args.age_max,
               "fit_beta": bool(args.fit_beta), "gold_answers": result.gold_answers,
               "elapsed_s": round(elapsed, 3)}
    if args.fit_beta:
        payload["fitted_beta"] = result.model.describe()
    return finish("\n".join(lines), payload)
