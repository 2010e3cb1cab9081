"""A small real disk (tmpfs) for the full-disk and read-only cases: root only, skipped elsewhere."""

from __future__ import annotations

import os
import subprocess

import pytest


def mount(*args: str) -> bool:
    return os.geteuid() == 0 and subprocess.run(["mount", *args], capture_output=True).returncode == 0


def fill(folder, leave: int = 0) -> None:
    """Fill the disk holding `folder` up to `leave` bytes free (a file named `filler`)."""
    stats = os.statvfs(folder)
    (folder / "filler").write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if not mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)):
        pytest.skip("mounting a tmpfs needs root")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)
