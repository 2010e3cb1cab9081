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

The lock file is named after the path; the project is its file (identity.py). So the writer also takes an OS
lock on the database file itself, before the lock file: every name of the file (hard links, bind mounts,
symbolic links) meets it, and since the kernel drops it when its holder dies, a lock file of this host whose
OS lock is free is stale whatever its pid says (the pid may have been reused). Within one process the same
file under a second name is refused: SQLite would keep a second journal for it.

A lock path that is not a regular file (a folder, a symbolic link, a pipe), or a lock file that is not one of
ours (its pid out of range, garbage, deeply nested JSON) never raises: the first is refused with what to
remove, the second counts as unreadable (respected for a few seconds, then taken over).
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import socket
import stat
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ageapp.files import kind_of
from ageapp.store import identity
from ageapp.store.errors import ProjectError, ProjectLocked, ProjectReadOnly, ProjectStorageError

LOCK_SUFFIX = ".lock"
MAX_LOCK_BYTES = 4096  # ours are about 100 bytes; anything longer is not one of ours
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
    project: Path
    file_lock: identity.FileLock | None = None


_held: dict[Path, _Held] = {}  # by lock file path
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
                if held.file_lock is not None:
                    held.file_lock.release()

    @property
    def has_file_lock(self) -> bool:
        held = _held.get(self.path)
        return held is not None and held.file_lock is not None

    @property
    def shared(self) -> bool:
        """Whether another connection of this process holds the project too."""
        held = _held.get(self.path)
        return held is not None and held.count > 1

    def lock_created_file(self, project: Path) -> None:
        """After `create` made the file: take the OS lock on it too (nobody else can know it yet)."""
        with _guard:
            held = _held.get(self.path)
            if held is not None and held.file_lock is None:
                try:
                    held.file_lock = identity.lock_file(project)
                except (OSError, identity.FileLockHeld):
                    pass  # the lock file still keeps one writer per name


def acquire(project: Path) -> ProjectLock:
    """Take the project's lock (or share this process's); ProjectLocked if another instance holds it."""
    resolved = project.resolve()
    path = lock_path(resolved)
    with _guard:
        held = _held.get(path)
        if held is not None:
            held.count += 1
            return ProjectLock(path)
        _refuse_second_name(project, resolved)
        file_lock = _lock_file(project, path)
        try:
            content = _create(path, project, file_lock is not None)
        except BaseException:
            if file_lock is not None:
                file_lock.release()
            raise
        _held[path] = _Held(content, 1, resolved, file_lock)
    return ProjectLock(path)


def held_here(project: Path) -> bool:
    """Whether this process has the project open for writing."""
    with _guard:
        return lock_path(project.resolve()) in _held


def _refuse_second_name(project: Path, resolved: Path) -> None:
    try:
        wanted = identity.FileIdentity.of(resolved)
    except OSError:
        return
    for held in _held.values():
        if held.file_lock is not None and held.file_lock.identity == wanted and held.project != resolved:
            raise ProjectLocked(f"{project} is the same file as {held.project} (a hard link or another path to it), "
                                "which this ageapp already has open: work in it under that name")


def _lock_file(project: Path, path: Path) -> identity.FileLock | None:
    """The OS lock on the project file itself (None: not available here, or no file yet)."""
    if not project.exists():
        return None
    try:
        return identity.lock_file(project)
    except identity.FileLockHeld as held:
        raise ProjectLocked(_held_elsewhere_message(project, path, held.pid)) from None
    except OSError as error:
        raise ProjectReadOnly(f"cannot lock {project} for writing ({error.strerror or error}). Open it read-only, "
                              "or copy it to a folder you can write to") from None


def _held_elsewhere_message(project: Path, path: Path, pid: int | None) -> str:
    seen = _read(path) if _lock_path_problem(path) is None else None
    holder = _holder(seen or b"")
    if holder is not None and (pid is None or holder.pid == pid):
        return _locked_message(project, path, seen)
    who = f" (process {pid} on this computer)" if pid else ""
    return (f"{project} is open for writing in another ageapp{who}, perhaps under another name (a hard link, or "
            "another path to the same file). Close it there first, or open it read-only to look at it meanwhile")


def _create(path: Path, project: Path, file_locked: bool) -> bytes:
    for _ in range(3):  # a stale lock is taken over, then creation is tried again
        content = Holder.of_this_process().encode()
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            problem = _lock_path_problem(path)
            if problem is not None:
                raise ProjectError(problem) from None
            seen = _read(path)
            if seen is None:  # released meanwhile
                continue
            if _is_stale(path, seen, file_locked):
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
        except OSError as error:
            os.close(descriptor)
            path.unlink(missing_ok=True)
            if error.errno == errno.ENOSPC:
                raise ProjectStorageError(f"the disk holding {project} is full: ageapp could not even write its "
                                          f"lock file ({path.name}). Free some space on that disk, then open the "
                                          "project again") from None
            raise ProjectReadOnly(f"cannot lock {project} for writing: {error.strerror or error} writing {path}. "
                                  "Open it read-only, or copy it to a folder you can write to") from None
        os.close(descriptor)
        return content
    raise ProjectLocked(f"{project} is being opened by another ageapp at this very moment; try again")


def _lock_path_problem(path: Path) -> str | None:
    """Why the thing at the lock's path cannot be a lock file (a folder, link, pipe ...), or None."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return (f"{path} is {kind_of(mode)}, not a lock file ageapp wrote, and it stands where the project's lock "
            "goes: move or delete it, then open the project again")


def _read(path: Path) -> bytes | None:
    """The lock's content; None once it is gone. An unreadable lock reads as empty, like a half-written one.
    Never follows a link nor blocks on a pipe; reads at most MAX_LOCK_BYTES (+1, to see it is too long)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return b""
        return os.read(descriptor, MAX_LOCK_BYTES + 1)
    except OSError:
        return b""
    finally:
        os.close(descriptor)


def _holder(content: bytes) -> Holder | None:
    if len(content) > MAX_LOCK_BYTES:
        return None
    try:
        data = json.loads(content)
        holder = Holder(str(data["host"]), int(data["pid"]), str(data["started"]))
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError):
        return None
    return holder if 0 < holder.pid < identity.MAX_PID else None


def _is_stale(path: Path, content: bytes, file_locked: bool = False) -> bool:
    """Whether the lock file at `path` was left by an instance that is gone. `file_locked`: this process holds
    the OS lock on the project file, so no live instance of this host holds the project."""
    holder = _holder(content)
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > UNREADABLE_GRACE_S
        except FileNotFoundError:
            return True
    if holder.host != socket.gethostname():
        return False
    if file_locked or holder.pid == os.getpid():  # (not in _held, so a dead process that had our pid left it)
        return True
    return not pid_alive(holder.pid)


def _take_over(path: Path, stale: bytes) -> None:
    """Remove a stale lock, unless another instance replaced it in the meantime (then put that one back)."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except OSError:  # another instance took it over first (or it cannot be moved: then creating fails again)
        return
    if _read(aside) != stale:
        try:
            os.link(aside, path)  # never overwrites a lock created since
        except OSError:
            pass
    aside.unlink()


def _remove_if_ours(path: Path, content: bytes) -> None:
    try:
        if _read(path) == content:
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
    if not 0 < pid < identity.MAX_PID:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
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
