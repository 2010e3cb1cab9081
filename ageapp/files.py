"""Files the app reads and writes outside a project: only regular files are read, outputs are checked before
the work starts and written atomically.

- `open_regular` / `read_regular_text`: a pipe (FIFO), device or folder is refused before a byte is read,
  so no read can block forever (opening a FIFO for reading waits for a writer; reading a device never ends).
- `check_output_path`: the suffix, the folder and the target are checked before a command does its work,
  so a long run is never thrown away at the end for a typo.
- `atomic_write`: a temporary file in the same folder, flushed to disk, then renamed over the target: a full
  disk or a crash leaves the previous file (or none), never half of one.
- `display_path`: a file name that is not valid UTF-8 printed with its odd bytes escaped (`caf\\udce9.jpg`),
  as the JSON lines write it, instead of failing to encode.
- `spreadsheet_cell`: a text cell of a CSV file that a spreadsheet would run as a formula (a file or labeller
  named `=HYPERLINK(…)`) gets a leading apostrophe (OWASP's advice on CSV injection); every CSV the app writes
  passes its cells through it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a pipe (FIFO)", stat.S_IFCHR: "a device",
         stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symbolic link"}
PARTIAL_SUFFIX = ".partial"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class NotARegularFile(OSError):
    """A path that names a folder, pipe, device or socket where a file was expected."""


class OutputPathError(ValueError):
    """An output path that cannot be written, with what to do about it."""


def kind_of(mode: int) -> str:
    """'a folder', 'a pipe (FIFO)', 'a device' ... for a stat mode ('a file' for a regular one)."""
    return "a file" if stat.S_ISREG(mode) else KINDS.get(stat.S_IFMT(mode), "not a regular file")


def not_regular(path: str | Path, what: str = "file") -> NotARegularFile:
    info = os.stat(path)
    return NotARegularFile(f"{path} is {kind_of(info.st_mode)}, not a regular {what}: choose a {what}")


def open_regular(path: str | Path, mode: str = "r", what: str = "file", **kwargs) -> IO:
    """Open a regular file for reading ("r" or "rb"); anything else raises NotARegularFile before any read.
    The open itself never blocks: a FIFO is opened non-blocking, seen for what it is, and closed."""
    if mode not in ("r", "rb"):
        raise ValueError("open_regular only reads")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    if not hasattr(os, "O_NONBLOCK") and not Path(path).is_file():  # Windows: no FIFOs to block on, but devices
        raise not_regular(path, what)
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{path} is {kind_of(info.st_mode)}, not a regular {what}: choose a {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, mode, **kwargs)
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_text(path: str | Path, encoding: str = "utf-8", what: str = "file", **kwargs) -> str:
    with open_regular(path, "r", what, encoding=encoding, **kwargs) as handle:
        return handle.read()


def read_regular_bytes(path: str | Path, what: str = "file") -> bytes:
    with open_regular(path, "rb", what) as handle:
        return handle.read()


def check_output_path(path: str | Path, suffixes: tuple[str, ...], what: str = "output") -> Path:
    """The output path, once it is sure it can be written: one of `suffixes`, in an existing writable folder,
    and not a folder, device or pipe. Raises OutputPathError saying what to change."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in suffixes:
        names = " or ".join(suffixes)
        raise OutputPathError(f"the {what} file must end in {names}, not {path.suffix or 'no suffix'!r}: "
                              f"for example {path.with_suffix(suffixes[0]).name}")
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise OutputPathError(f"cannot write the {what} to {path}: {error.strerror or error}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputPathError(f"cannot write the {what} to {path}: it is {kind_of(info.st_mode)}, not a file; "
                              "choose a file name")
    folder = path.parent
    if not folder.is_dir():
        raise OutputPathError(f"cannot write the {what} to {path}: the folder {folder} does not exist; create it "
                              "or choose another folder")
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"cannot write the {what} to {path}: the folder {folder} is read-only; choose "
                              "another folder")
    return path


def atomic_write(path: str | Path, write: Callable[[IO], None], *, binary: bool = False, encoding: str = "utf-8",
                 errors: str = "backslashreplace", newline: str | None = "") -> Path:
    """Write a file through `write(handle)` all or nothing: a temporary file beside it, fsynced, renamed over
    `path`. On any failure the temporary file is removed and the error raised; `path` is as it was."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
    try:
        with _opened(partial, binary, encoding, errors, newline) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return path


@contextlib.contextmanager
def _opened(path: Path, binary: bool, encoding: str, errors: str, newline: str | None) -> Iterator[IO]:
    if binary:
        with open(path, "xb") as handle:
            yield handle
    else:
        with open(path, "x", encoding=encoding, errors=errors, newline=newline) as handle:
            yield handle


def display_path(path: str | Path) -> str:
    """The path as text that always encodes: bytes that were not UTF-8 shown as \\udcXX escapes."""
    text = str(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def spreadsheet_cell(value):
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @, a tab or a carriage return
    gets a leading apostrophe (shown, never evaluated); numbers, and text that is just a number ("-3.5"), stay
    as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value
