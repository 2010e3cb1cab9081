"""A project is its file, not its path: the file's identity (device, inode) and an OS lock on the file itself.

Hard links, symbolic links, bind mounts and `..` paths give one file several names; the lock file and
SQLite's -wal and -shm are named after the path, so two writers under two names would each think they are
alone and corrupt the file. The OS lock here is taken on the database file, whatever its name, so every
name meets the same lock. It is an open-file-description lock (Linux `F_OFD_SETLK`) on one byte far past
anything SQLite locks (its lock bytes sit at 1 GiB), so it never disturbs SQLite's own locks, is not lost
when SQLite closes one of its descriptors (as a POSIX lock would be), and is released by the kernel when the
holder dies: a crashed ageapp leaves no live lock behind, even if its process id is reused.

The holder also takes a shared lock on byte TAG_BASE + its pid: a refused opener reads the pid back from
that (F_OFD_GETLK) to name the holder even when it opened the file under another name.

Where the platform has no OFD locks (macOS, Windows) `lock_file` returns None and the lock file alone
(lock.py) keeps one writer per path.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

WRITER_BYTE = 1 << 62
TAG_BASE = WRITER_BYTE + 1
MAX_PID = 1 << 31
# struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (+ padding)
_FLOCK = "@hhqqi4x"
SUPPORTED = hasattr(fcntl, "F_OFD_SETLK") and struct.calcsize(_FLOCK) == 32
HELD_ERRORS = (errno.EAGAIN, errno.EACCES)  # others (ENOLCK on a share without locking ...): no OS lock here


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int

    @classmethod
    def of(cls, path: str | Path) -> "FileIdentity":
        info = os.stat(path)
        return cls(info.st_dev, info.st_ino)

    @classmethod
    def of_descriptor(cls, descriptor: int) -> "FileIdentity":
        info = os.fstat(descriptor)
        return cls(info.st_dev, info.st_ino)


class FileLockHeld(Exception):
    """Another open of the file (another process, or this one under another name) holds the writer lock."""

    def __init__(self, pid: int | None):
        super().__init__(f"held by process {pid}" if pid else "held")
        self.pid = pid


def _flock(kind: int, start: int, length: int = 1) -> bytes:
    return struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0)


class FileLock:
    """The writer lock on one database file; `release()` closes its descriptor (the kernel drops the lock)."""

    def __init__(self, descriptor: int, identity: FileIdentity):
        self._descriptor: int | None = descriptor
        self.identity = identity

    def release(self) -> None:
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            os.close(descriptor)


def lock_file(path: Path) -> FileLock | None:
    """Take the writer lock on the file at `path` (a regular file that exists); FileLockHeld if it is taken.
    None where the platform has no OFD locks."""
    if not SUPPORTED:
        return None
    descriptor = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise IsADirectoryError(f"{path} is not a regular file")
        try:
            fcntl.fcntl(descriptor, fcntl.F_OFD_SETLK, _flock(fcntl.F_WRLCK, WRITER_BYTE))
        except OSError as error:
            if error.errno not in HELD_ERRORS:
                os.close(descriptor)
                return None
            raise FileLockHeld(_holder_pid(descriptor)) from None
        pid = os.getpid()
        if pid < MAX_PID:
            fcntl.fcntl(descriptor, fcntl.F_OFD_SETLK, _flock(fcntl.F_RDLCK, TAG_BASE + pid))
        return FileLock(descriptor, FileIdentity.of_descriptor(descriptor))
    except BaseException:
        os.close(descriptor)
        raise


def is_locked(path: Path) -> bool | None:
    """Whether some process holds the writer lock on this file (None: cannot tell on this platform)."""
    if not SUPPORTED:
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        probe = fcntl.fcntl(descriptor, fcntl.F_OFD_GETLK, _flock(fcntl.F_WRLCK, WRITER_BYTE))
        return struct.unpack(_FLOCK, probe)[0] != fcntl.F_UNLCK
    except OSError:
        return None
    finally:
        os.close(descriptor)


def _holder_pid(descriptor: int) -> int | None:
    """The pid the writer lock's holder tagged the file with, if it can be read."""
    try:
        found = fcntl.fcntl(descriptor, fcntl.F_OFD_GETLK, _flock(fcntl.F_WRLCK, TAG_BASE, MAX_PID))
    except OSError:
        return None
    kind, _, start, _, _ = struct.unpack(_FLOCK, found)
    pid = start - TAG_BASE
    return pid if kind != fcntl.F_UNLCK and 0 < pid < MAX_PID else None
