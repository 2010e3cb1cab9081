"""The headless commands' output convention: a human summary, then one JSON object as the last line."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading


class CommandError(Exception):
    """A failure the user can act on: printed as a message and a JSON error line, exit status 1."""


def tolerate_any_file_name() -> None:
    """File names that are not valid UTF-8 are printed with their odd bytes escaped, never crash the output
    (a strict UTF-8 stdout would raise UnicodeEncodeError on them)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


@contextlib.contextmanager
def terminate_as_interrupt():
    """Within it, SIGTERM (a `kill`, a logout) stops the command like Ctrl-C: its clean-up runs and it ends with
    "interrupted" instead of dying mid-write. Only in the main thread of a platform that has SIGTERM."""
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def json_safe(value):
    """The value with NaN and infinities (which JSON has no words for) as null, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def json_line(payload) -> str:
    """One line of valid JSON (never NaN or Infinity; paths and other objects as text)."""
    return json.dumps(json_safe(payload), default=str, allow_nan=False)


def print_notices(db) -> None:
    """What the store wants the user to know about an open (a journal set aside ...), on stderr."""
    for notice in getattr(db, "notices", []):
        print(f"notice: {notice}", file=sys.stderr)


def finish(summary: str, payload: dict, *, ok: bool = True) -> int:
    """Print the summary and the JSON last line; return the exit status."""
    if summary:
        print(summary)
    print(json_line(payload))
    sys.stdout.flush()
    return 0 if ok else 1


def fail(message: str, **extra) -> int:
    print(f"error: {message}", file=sys.stderr)
    return finish("", {"error": message, **extra}, ok=False)
