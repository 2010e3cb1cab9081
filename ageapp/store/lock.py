"""One writer at a time: `PROJECT.ageproj.lock`, a small JSON file {host, pid, started} created with O_EXCL.

Why a lock file and not a SQLite lock: SQLite's locks last one transaction, and holding one for a whole
session (locking_mode=EXCLUSIVE) would also shut out read-only viewers and backups, fail with a bare
"database is locked" that cannot say who holds it, and is unreliable on network shares. The file can say
which host and process hold the project, read-only opens ignore it, and O_EXCL creation is atomic on local
disks and NFS alike.

Within one process the lock is shared (counted): the app may open a second connection to its own project
(a worker thread, a test). A lock left by a crashed instance on this host (its process is gone) is
stale and taken over; one from another host is only reported, since its process cannot be checked there.
Locks still held when the interpreter exits normally are removed (atexit); a crash leaves a stale one.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ageapp.store.errors import ProjectLocked, ProjectReadOnly

LOCK_SUFFIX = ".lock"
# An unreadable lock (a crash between creating and writing it) younger than this may still be being written.
UNREADABLE_GRACE_S = 10.0


def lock_path(project: Path) -> Path:
    return project.with_name(project.name + LOCK_SUFFIX)


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str

    @classmethod
    def of_this_process(cls) -> "Holder":
        return cls(socket.gethostname(), os.getpid(), datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def encode(self) -> bytes:
        return json.dumps({"host": self.host, "pid": self.pid, "started": self.started}).encode()


@dataclass
class _Held:
    content: bytes
    count: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


class ProjectLock:
    """This process's claim on a project; `release()` once (further calls do nothing)."""

    def __init__(self, path: Path):
        self.path = path
        self._released = False

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            held = _held.get(self.path)
            if held is None:
                return
            held.count -= 1
            if held.count == 0:
                del _held[self.path]
                _remove_if_ours(self.path, held.content)


def acquire(project: Path) -> ProjectLock:
    """Take the project's lock (or share this process's); ProjectLocked if another instance holds it."""
    path = lock_path(project.resolve())
    with _guard:
        held = _held.get(path)
        if held is not None:
            held.count += 1
        else:
            _held[path] = _Held(_create(path, project), 1)
    return ProjectLock(path)


def _create(path: Path, project: Path) -> bytes:
    for _ in range(3):  # a stale lock is taken over, then creation is tried again
        content = Holder.of_this_process().encode()
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            seen = _read(path)
            if seen is None:  # released meanwhile
                continue
            if _is_stale(path, seen):
                _take_over(path, seen)
                continue
            raise ProjectLocked(_locked_message(project, path, seen)) from None
        except OSError as error:
            raise ProjectReadOnly(
                f"cannot lock {project} for writing: {error.strerror or error} creating {path.name} in "
                f"{path.parent}. Open it read-only, or copy it to a folder you can write to"
            ) from None
        try:
            os.write(descriptor, content)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return content
    raise ProjectLocked(f"{project} is being opened by another ageapp at this very moment; try again")


def _read(path: Path) -> bytes | None:
    """The lock's content; None once it is gone. An unreadable lock reads as empty, like a half-written one."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return b""


def _holder(content: bytes) -> Holder | None:
    try:
        data = json.loads(content)
        return Holder(str(data["host"]), int(data["pid"]), str(data["started"]))
    except (ValueError, KeyError, TypeError):
        return None


def _is_stale(path: Path, content: bytes) -> bool:
    holder = _holder(content)
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > UNREADABLE_GRACE_S
        except FileNotFoundError:
            return True
    if holder.host != socket.gethostname():
        return False
    if holder.pid == os.getpid():  # not in _held, so a dead process that had our pid left it
        return True
    return not pid_alive(holder.pid)


def _take_over(path: Path, stale: bytes) -> None:
    """Remove a stale lock, unless another instance replaced it in the meantime (then put that one back)."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except OSError:  # another instance took it over first (or it cannot be moved: then creating fails again)
        return
    if aside.read_bytes() != stale:
        try:
            os.link(aside, path)  # never overwrites a lock created since
        except OSError:
            pass
    aside.unlink()


def _remove_if_ours(path: Path, content: bytes) -> None:
    try:
        if path.read_bytes() == content:
            path.unlink()
    except OSError:
        pass


def _locked_message(project: Path, path: Path, content: bytes | None) -> str:
    holder = _holder(content or b"")
    who = (f"on {holder.host}, process {holder.pid}, since {holder.started}" if holder
           else "by a program that left an unreadable lock file")
    return (f"{project} is open in another ageapp ({who}). Close it there first, or open it read-only to look "
            f"at it meanwhile. If that program is no longer running (its computer crashed), delete {path}")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    process_query_limited_information, still_active, access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return kernel32.GetLastError() == access_denied
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


@atexit.register
def _release_all_at_exit() -> None:
    with _guard:
        for path, held in list(_held.items()):
            holder = _holder(held.content)
            if holder is not None and holder.pid == os.getpid():  # not a forked child's inherited copy
                _remove_if_ours(path, held.content)
        _held.clear()
