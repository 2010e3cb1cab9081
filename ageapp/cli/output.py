"""The headless commands' output convention: a human summary, then one JSON object as the last line."""

from __future__ import annotations

import json
import sys


class CommandError(Exception):
    """A failure the user can act on: printed as a message and a JSON error line, exit status 1."""


def finish(summary: str, payload: dict, *, ok: bool = True) -> int:
    """Print the summary and the JSON last line; return the exit status."""
    if summary:
        print(summary)
    print(json.dumps(payload, default=str))
    sys.stdout.flush()
    return 0 if ok else 1


def fail(message: str, **extra) -> int:
    print(f"error: {message}", file=sys.stderr)
    return finish("", {"error": message, **extra}, ok=False)
