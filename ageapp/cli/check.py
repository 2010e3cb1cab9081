"""`ageapp check PROJECT [--repair]` and `ageapp relink PROJECT OLD_FOLDER NEW_FOLDER`."""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path

from ageapp.cli.output import CommandError, finish, print_notices


def register(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser(
        "check", help="look for damage, missing files and out-of-date posteriors in a project (exit 1 if any)")
    check.add_argument("project", type=Path)
    check.add_argument("--repair", action="store_true",
                       help="fix what can be fixed without losing answers, after a backup copy next to the project")
    check.set_defaults(func=run_check)
    relink = subparsers.add_parser("relink", help="point a project at image folders that were moved")
    relink.add_argument("project", type=Path)
    relink.add_argument("old", help="where the images were (a folder the project names, or a folder above it)")
    relink.add_argument("new", type=Path, help="where they are now")
    relink.set_defaults(func=run_relink)


def _open(path: Path, read_only: bool):
    from ageapp.store.db import ProjectError, open_project

    try:
        db = open_project(path, read_only=read_only)
    except ProjectError as error:
        raise CommandError(str(error)) from None
    print_notices(db)
    return db


def _problem_lines(report) -> list[str]:
    return [f"  [{problem.kind}] {problem.message}" for problem in report.problems]


def run_check(args: argparse.Namespace) -> int:
    from ageapp.store.check import check_project
    from ageapp.store.repair import repair_project

    with closing(_open(args.project, read_only=not args.repair)) as db:
        if args.repair:
            repaired = repair_project(db)
            report = repaired.remaining
        else:
            report = check_project(db)
    checked = ", ".join(f"{count} {name}" for name, count in report.checked.items())
    lines = [f"{args.project}: {checked or 'damaged, so not checked further'}"]
    payload = {"project": str(args.project), **report.as_dict()}
    if args.repair:
        if repaired.backup:
            lines.append(f"backup before repairing: {repaired.backup}")
        else:
            lines.append("nothing to repair" if report.ok else "nothing here that --repair can fix (no backup made)")
        lines += [f"  repaired: {action}" for action in repaired.actions]
        payload.update(backup=repaired.backup, repairs=repaired.actions)
    if report.ok:
        lines.append("no problems found")
    else:
        lines.append(f"{len(report.problems)} problem(s){' left' if args.repair else ''}:")
        lines += _problem_lines(report)
    return finish("\n".join(lines), payload, ok=report.ok)


def run_relink(args: argparse.Namespace) -> int:
    from ageapp.store.relink import relink

    with closing(_open(args.project, read_only=False)) as db:
        try:
            done = relink(db, args.old, args.new)
        except ValueError as error:
            raise CommandError(str(error)) from None
    lines = [f"relinked {item.old} -> {item.new}: {item.found} of {item.images} images found there" for item in done]
    missing = sum(item.images - item.found for item in done)
    if missing:
        lines.append(f"{missing} images are still missing: `ageapp check {args.project}` lists them")
    return finish("\n".join(lines), {"project": str(args.project), "relinked": [vars(item) for item in done],
                                     "still_missing": missing})
