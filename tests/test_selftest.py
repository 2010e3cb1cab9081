"""`ageapp --selftest`: run from the source tree exactly as the bundle runs it, with a temporary checkpoint so
the model step always checks the real loading and estimating code."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ageapp import selftest
from tests.conftest import write_untrained_checkpoint

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["resources", "posterior", "project", "window", "detector", "model", "training"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A real checkpoint (the small 'tiny' network, random weights) written by the trainer's own code."""
    return write_untrained_checkpoint(tmp_path_factory.mktemp("models") / "tiny.pt", net="tiny", age_max=90)


def run_selftest(*arguments: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}  # it sets offscreen itself
    env["HOME"] = os.environ.get("HOME", str(ROOT))
    return subprocess.run([sys.executable, "-m", "ageapp", "--selftest", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def step_lines(stdout: str) -> dict[str, str]:
    """{step: 'OK' | 'FAIL'} from the self-test's report lines."""
    status = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("OK", "FAIL") and parts[1] in STEPS:
            status[parts[1]] = parts[0]
    return status


@pytest.mark.slow
def test_selftest_passes_from_the_source_tree_with_a_model(tiny_checkpoint):
    result = run_selftest("--selftest-model", str(tiny_checkpoint))
    assert result.returncode == 0, result.stdout + result.stderr
    assert step_lines(result.stdout) == {step: "OK" for step in STEPS}
    assert "(source tree," in result.stdout.splitlines()[0]
    assert "tiny age network, ages 0-90" in result.stdout and "(tiny.pt, torch)" in result.stdout
    assert "max error" in result.stdout and "1 comparison written, reopened and read back" in result.stdout
    assert "training modules imported; tiny.pt through torch" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("self-test passed: 7 steps in ")


@pytest.mark.slow
def test_a_missing_model_fails_the_selftest_and_says_so(tmp_path):
    result = run_selftest("--selftest-model", str(tmp_path / "absent.pt"))
    assert result.returncode == 1
    status = step_lines(result.stdout)
    assert status["model"] == "FAIL" and status["posterior"] == "OK" and status["window"] == "OK"
    assert f"model file {tmp_path / 'absent.pt'} not found" in result.stdout
    assert status["training"] == "FAIL"  # the named checkpoint is the one the torch step checks too
    assert "self-test FAILED (model, training)" in result.stdout


def test_selftest_model_without_selftest_is_refused():
    result = subprocess.run([sys.executable, "-m", "ageapp", "--selftest-model", "x.pt"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--selftest-model goes with --selftest" in result.stderr


def test_absent_default_model_names_the_file_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr("ageapp.model.resolve.default_model_path",
                        lambda backend="auto": tmp_path / "models" / "default.onnx")
    result = selftest.run_step("model", lambda: selftest.step_model(None))
    assert not result.ok
    assert str(tmp_path / "models" / "default.onnx") in result.detail
    assert "Export the trained checkpoint to resources/models/default.onnx" in result.detail
    assert "make package" in result.detail


def test_the_hand_checkable_posterior():
    p = selftest.expected_posterior_one_older()
    assert len(p) == 71 and math.isclose(sum(p), 1.0, rel_tol=1e-12)
    # Neighbouring ages differ by the ratio of their likelihoods: σ(0.36·1) / σ(0) at the reference age.
    assert p[31] / p[30] == pytest.approx((1 / (1 + math.exp(-0.36))) / 0.5, rel=1e-12)
    assert p[31] / p[30] == pytest.approx(1.1781, abs=1e-4)
    # Far above the reference the likelihood saturates at 1: equal mass; far below it vanishes.
    assert p[70] / p[69] == pytest.approx(1.0, abs=1e-6)
    assert p[0] / p[70] == pytest.approx(1 / (1 + math.exp(0.36 * 30)), rel=1e-6)
    assert selftest.run_step("posterior", selftest.step_posterior).ok


def test_a_step_that_raises_is_a_fail_not_a_crash():
    def broken() -> str:
        raise RuntimeError("camera unplugged")

    result = selftest.run_step("broken", broken)
    assert not result.ok and result.detail == "RuntimeError: camera unplugged" and result.seconds >= 0
