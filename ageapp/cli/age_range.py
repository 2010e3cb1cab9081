"""`ageapp range PROJECT [--age-max N]`: the project's age range and the references' span; widen it."""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path

from ageapp.annotation.age_range import AgeRangeError, age_range, widen_age_range
from ageapp.cli.output import CommandError, finish
from ageapp.store.db import ProjectError, open_project


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "range", help="show a project's age range (and the references' ages); --age-max N widens it")
    parser.add_argument("project", type=Path, help="the project file")
    parser.add_argument("--age-max", type=int, metavar="N",
                        help="widen the range to ages 0..N (every posterior is recomputed; nothing is lost)")
    parser.set_defaults(func=run_range)


def run_range(args: argparse.Namespace) -> int:
    try:
        db = open_project(args.project, read_only=args.age_max is None)
    except ProjectError as error:
        raise CommandError(str(error)) from None
    with closing(db):
        before = age_range(db)
        recomputed = 0
        if args.age_max is not None:
            try:
                recomputed = widen_age_range(db, args.age_max)
            except AgeRangeError as error:
                raise CommandError(str(error)) from None
        after = age_range(db)
    if args.age_max is None or after.age_max == before.age_max:
        head = f"{args.project}: {after.describe()}"
    else:
        head = (f"{args.project}: age range widened from 0–{before.age_max} to 0–{after.age_max}, "
                f"{recomputed} posteriors recomputed; {after.describe()}")
    return finish(head, {"project": str(args.project), "age_max": after.age_max, "age_max_before": before.age_max,
                         "recomputed": recomputed,
                         "references": None if after.references is None else list(after.references)})
