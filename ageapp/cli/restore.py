"""`ageapp restore BACKUP PROJECT`: put a backup back (store/restore.py), the project as it was moved aside."""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path

from ageapp.cli.output import CommandError, finish, print_notices


def register(subparsers: argparse._SubParsersAction) -> None:
    restore = subparsers.add_parser(
        "restore", help="put a backup back as the project (the project as it was, with its journal, is moved "
                        "aside into PROJECT.set-aside-STAMP/ first)")
    restore.add_argument("backup", type=Path, help="the backup (PROJECT.backups/NAME-STAMP.ageproj, or any copy)")
    restore.add_argument("project", type=Path, help="the project file to put it back as")
    restore.set_defaults(func=run_restore)


def run_restore(args: argparse.Namespace) -> int:
    from ageapp.store.db import ProjectError, open_project
    from ageapp.store.restore import restore_backup
    from ageapp.store.stats import project_stats

    try:
        report = restore_backup(args.backup, args.project)
        with closing(open_project(args.project)) as db:  # opened once for writing: an older schema is upgraded
            print_notices(db)
            counts = project_stats(db)
    except ProjectError as error:
        raise CommandError(str(error)) from None
    lines = [f"restored {args.backup} as {args.project}: {counts['images']} images, {counts['comparisons']} "
             "comparisons"]
    if report.set_aside:
        lines.append(f"the project as it was (with its journal) is in {report.set_aside}")
    return finish("\n".join(lines), {"project": str(args.project), "backup": str(args.backup),
                                     "set_aside": str(report.set_aside) if report.set_aside else None, **counts})
