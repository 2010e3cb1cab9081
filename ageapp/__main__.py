"""`ageapp` / `python -m ageapp`: no arguments opens the window; subcommands run headless."""

from __future__ import annotations

import argparse
import sys

from ageapp import __version__
from ageapp.cli.output import CommandError, fail, tolerate_any_file_name
from ageapp.store.errors import ProjectError

# Each module exposes register(subparsers); a subcommand sets `func(args) -> int` as its default.
COMMAND_MODULES: list[str] = ["simulate", "estimate", "project", "annotation", "age_range", "check", "restore"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ageapp",
        description="Label facial age by pairwise comparison, train an age network, estimate age. "
        "With no subcommand, opens the desktop window.",
    )
    parser.add_argument("--version", action="version", version=f"ageapp {__version__}")
    parser.add_argument("--camera", metavar="INDEX_OR_VIDEO", help="open the window in webcam mode on camera INDEX "
                        "(0 is the first) or on a video file standing in for a camera")
    parser.add_argument("--camera-fps", type=float, default=None, metavar="N",
                        help="with --camera VIDEO: play the file at N frames/s (0: as fast as it decodes, standing "
                             "in for a faster camera; default: the file's own rate)")
    parser.add_argument("--selftest", action="store_true", help="check this installation (Qt offscreen, a "
                        "temporary project, the posterior, the face detector, the default model) and exit: 0 if "
                        "every step passed")
    parser.add_argument("--selftest-model", metavar="CHECKPOINT", help="with --selftest: check this model "
                        "instead of the default one (resources/models/default.onnx)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"ageapp.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.selftest:
        from ageapp.selftest import run_selftest  # no Qt at import; it starts Qt offscreen itself

        return run_selftest(args.selftest_model)
    if args.selftest_model:
        parser.error("--selftest-model goes with --selftest")
    if args.command is None:
        from ageapp.ui.shell.app import run_app

        return run_app(args)
    tolerate_any_file_name()
    try:
        return args.func(args)
    except (CommandError, ProjectError) as error:  # ProjectError: e.g. the disk filled up during the command
        return fail(str(error))
    except KeyboardInterrupt:
        return fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
