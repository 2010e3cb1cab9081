"""Crash safety for real: labelling and training processes killed with SIGKILL, then checked and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ageapp.store.lock import lock_path
from benchmarks.kill_streaks import run_streaks
from benchmarks.kill_test import run_kill_test
from tests.trainer.conftest import write_utkface_folder
from trainer.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

KILLS = 20


def test_answers_survive_twenty_kills(tmp_path):
    """Every answer the worker reported as committed is there after each kill, the file passes SQLite's
    integrity check, posteriors equal their recomputation, and each dead worker's lock was cleared."""
    report = run_kill_test(tmp_path / "kill.ageproj", kills=KILLS, seed=1)
    assert report.kills == KILLS
    assert report.committed >= KILLS  # kills landed while answers were streaming in
    assert report.undos > 0
    assert (report.lost, report.lost_undos) == (0, 0)
    assert (report.integrity_failures, report.posterior_mismatches) == (0, 0)
    assert (report.open_failures, report.worker_errors) == (0, 0)
    assert report.journals_set_aside == 0  # after every crash its own journal was vouched for and merged
    # A worker killed after taking its lock leaves it behind (a few die before, while importing): reopening
    # the project cleared it every time, and the last check released its own.
    assert report.stale_locks_cleared > KILLS // 2
    assert not lock_path(tmp_path / "kill.ageproj").exists()


def test_the_benchmarks_crashes_in_a_row_lose_nothing():
    """kill_test.py --streaks: for each workload, two streaks of two crashes in a row, checked after each."""
    reports = run_streaks(["labelling", "import", "merge"], [2], streaks=2, seed=3)
    assert [(report.workload, report.crashes, report.streaks, report.kills) for report in reports] == [
        ("labelling", 2, 2, 4), ("import", 2, 2, 4), ("merge", 2, 2, 4)]
    for report in reports:
        assert report.committed > 0  # the kills landed after commits
        assert (report.lost, report.journals_set_aside) == (0, 0), report
        assert (report.integrity_failures, report.posterior_mismatches, report.open_failures,
                report.worker_errors) == (0, 0, 0, 0)


def _train_command(data: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "trainer", "train", "--data", str(data), "--format", "utkface", "--aligned",
            "--out", str(out), "--net", "tiny", "--age-max", "60", "--epochs", "3", "--batch", "4", "--size", "56",
            "--limit", "240", "--cache-dir", str(cache), "--seed", "1", "--threads", "1", *extra]


def _kill_mid_epoch(command: list[str], epoch: int, total: int) -> str:
    """Run training until its progress bar shows `epoch` under way (not finished), then SIGKILL it."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = b""
    marker = f"epoch {epoch}/{total}:".encode()
    try:
        while process.poll() is None:
            seen += os.read(process.stderr.fileno(), 4096)
            bar = seen.rsplit(b"\r", 1)[-1]
            if marker in bar and b"%|" in bar and b" 0/" not in bar and b"100%" not in bar:
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL, f"training ended before it could be killed:\n{seen[-2000:]!r}"
    return bar.decode(errors="replace")


def test_a_training_run_killed_mid_epoch_resumes_from_its_last_checkpoint(tmp_path):
    data = write_utkface_folder(tmp_path / "utk", n=240, size=48)
    out, cache = tmp_path / "run", tmp_path / "cache"
    bar = _kill_mid_epoch(_train_command(data, out, cache), epoch=2, total=3)

    checkpoint = load_checkpoint(out / "last.pt")  # the one written at the end of epoch 1 loads whole
    assert checkpoint["epoch"] == 1 and len(checkpoint["history"]) == 1, bar
    resumed = subprocess.run(_train_command(data, out, cache, "--resume", "--quiet"), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr and "at epoch 1" in resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["epochs_done"] == 3
    final = load_checkpoint(out / "last.pt")
    assert final["epoch"] == 3 and [entry["epoch"] for entry in final["history"]] == [1, 2, 3]
