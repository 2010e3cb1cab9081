"""`ageapp export PROJECT --out FILE`, `ageapp merge PROJECT OTHER` and `ageapp split PROJECT --parts N --out DIR`."""

from __future__ import annotations

from contextlib import closing

from ageapp.cli.output import CommandError, finish, print_notices, terminate_as_interrupt


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="write every query's posterior and summary to .csv or .json")
    export.add_argument("project")
    export.add_argument("--out", required=True, help="FILE.csv or FILE.json")
    export.set_defaults(func=run_export)
    merge = subparsers.add_parser("merge", help="copy another project's comparisons in (by UUID; idempotent)")
    merge.add_argument("project")
    merge.add_argument("other")
    merge.set_defaults(func=run_merge)
    split = subparsers.add_parser(
        "split", help="write N project files for a team: all references, a share of the queries each, and an "
                      "overlap share in two parts (their labellers' agreement is measured on it)")
    split.add_argument("project")
    split.add_argument("--parts", type=int, required=True, help="how many labellers (parts), at least 2")
    split.add_argument("--overlap", type=float, default=0.05,
                       help="share of the queries given to two labellers (default 0.05; 0 to 0.5)")
    split.add_argument("--out", required=True, help="the folder the parts are written to (made if missing)")
    split.set_defaults(func=run_split)


def _open(path, read_only=False):
    from ageapp.store.db import ProjectError, open_project

    try:
        db = open_project(path, read_only=read_only)
    except ProjectError as error:
        raise CommandError(str(error)) from None
    print_notices(db)
    return db


def run_export(args) -> int:
    from ageapp.annotation.exchange import EXPORT_SUFFIXES, export_project
    from ageapp.files import OutputPathError, check_output_path

    try:
        check_output_path(args.out, EXPORT_SUFFIXES, "export")  # before any work
    except OutputPathError as error:
        raise CommandError(str(error)) from None
    with closing(_open(args.project, read_only=True)) as db:  # only reads: works on a read-only project too
        try:
            count = export_project(db, args.out)
        except ValueError as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"could not write {args.out}: {error.strerror or error}; nothing was written") from None
    return finish(f"exported {count} queries to {args.out}", {"queries": count, "out": str(args.out)})


def run_merge(args) -> int:
    from pathlib import Path

    from ageapp.annotation.exchange import MergeError, merge_projects

    with closing(_open(args.project)) as db, closing(_open(args.other, read_only=True)) as other:
        try:
            report = merge_projects(db, other)
        except MergeError as error:
            raise CommandError(str(error)) from None
    summary = report.summary(Path(args.other).name, str(args.project))
    return finish(summary, {"added": report.added, "already_present": report.already_present,
                            "merged_already": report.merged_already,
                            "unmatched": len(report.unmatched), "without_age": len(report.without_age),
                            "undos_added": report.undos_added, "queries_recomputed": report.queries_recomputed,
                            "conflicts": report.conflicts})


def run_split(args) -> int:
    from pathlib import Path

    from ageapp.annotation.team import SplitError, TeamSplit, split_project

    try:
        TeamSplit("check", args.parts, args.overlap, "check")  # the numbers, before the project is opened
    except SplitError as error:
        raise CommandError(f"{error}: try --parts 3 --overlap 0.05") from None
    with closing(_open(args.project)) as db, terminate_as_interrupt():
        try:
            report = split_project(db, Path(args.project), Path(args.out), args.parts, args.overlap)
        except SplitError as error:
            raise CommandError(str(error)) from None
    return finish(report.summary(), report.as_dict())
