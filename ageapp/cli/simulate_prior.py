"""`ageapp simulate --prior model [--model CKPT] [--prior-power P]`: the age model's posterior for each query
face as its prior (ageapp.core.prior), the model run on the query images first (ageapp.estimation.face_files,
the face pipeline import uses; a progress bar on stderr). `prior_coverage90` is the model's own coverage on
these faces (its untempered 90% intervals, on the simulation's range)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ageapp.cli.output import CommandError
from ageapp.core.posterior import credible_intervals
from ageapp.core.prior import (
    MODEL,
    PRIOR_POWER_DEFAULT,
    PRIORS,
    UNIFORM,
    check_power,
    model_log_prior,
    on_range,
)
from ageapp.core.simulate import coverage90


def add_prior_arguments(parser) -> None:
    parser.add_argument("--prior", choices=PRIORS, default=UNIFORM,
                        help="each query's prior: uniform (the paper's, default) or the age model's posterior for "
                             "its face (the model runs on the query images first)")
    parser.add_argument("--model", help="with --prior model: an ONNX export or checkpoint (default: the shipped "
                                        "model, resources/models/default.onnx)")
    parser.add_argument("--prior-power", type=float, default=None, metavar="P",
                        help=f"with --prior model: the model's posterior to this power in [0, 1], renormalised "
                             f"(1 trusts it fully, 0 is the uniform prior; default {PRIOR_POWER_DEFAULT:g})")
    parser.add_argument("--detector", help="with --prior model: YuNet .onnx face detector for the query images "
                                           "(default: $AGEAPP_DETECTOR, else Haar; aligned chips fall back to "
                                           "their typical layout)")


def check_prior_arguments(args) -> None:
    if args.prior != MODEL and (args.model or args.prior_power is not None or args.detector):
        raise CommandError("--model, --prior-power and --detector go with --prior model")
    if args.prior_power is not None:
        try:
            check_power(args.prior_power)
        except ValueError as error:
            raise CommandError(f"--prior-power: {error}") from None


@dataclass
class QueryPriors:
    log_priors: np.ndarray | None = None  # [Q, age_max + 1], None: uniform
    summary: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def query_priors(args, paths: list[Path], source_format: str, true_ages: np.ndarray,
                 model_posteriors=None) -> QueryPriors:
    """The queries' log priors and what the JSON and the text say about them (nothing for the uniform prior).
    model_posteriors: [Q, model age_max + 1] already computed (benchmarks reuse one model run); None: run it."""
    if args.prior != MODEL:
        return QueryPriors(summary={"prior": UNIFORM})
    power = PRIOR_POWER_DEFAULT if args.prior_power is None else float(args.prior_power)
    model_name, problems = "given", 0
    if model_posteriors is None:
        model_posteriors, problems, model_name = run_model(args, paths, source_format == "utkface")
    raw = on_range(model_posteriors, args.age_max)
    prior_coverage = coverage90(raw, true_ages)
    low, high = credible_intervals(raw)
    summary = {"prior": MODEL, "prior_power": power, "prior_model": model_name,
               "prior_coverage90": prior_coverage, "prior_median_ci_width": float(np.median(high - low)),
               "prior_no_face": problems}
    lines = [f"prior: {model_name} to the power {power:g}; its own 90% intervals cover {100 * prior_coverage:.1f}% "
             f"(median width {summary['prior_median_ci_width']:g} years); {problems} queries without a face "
             "start uniform"]
    return QueryPriors(model_log_prior(model_posteriors, power, args.age_max), summary, lines)


def run_model(args, paths: list[Path], aligned: bool) -> tuple[np.ndarray, int, str]:
    """(posteriors [Q, model age_max + 1], queries without a face, the model's file name)."""
    from ageapp.estimation.face_files import model_posteriors
    from ageapp.faces.detection import DetectorError, make_detector
    from ageapp.model import ModelFileError, load_model

    try:
        model, choice, _ = load_model(args.model)
    except ModelFileError as error:
        raise CommandError(str(error)) from None
    try:
        detector = make_detector(args.detector, strict=True)
    except DetectorError as error:
        raise CommandError(str(error)) from None
    print(f"prior: {model.summary}; {detector.notice}", file=sys.stderr)
    try:
        found = model_posteriors(paths, model, detector, aligned)
    except ModelFileError as error:  # outputs that turned non-finite: the model is damaged
        raise CommandError(str(error)) from None
    return found.posteriors, found.problems, choice.path.name
