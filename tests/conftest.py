"""Shared fixtures. Qt runs offscreen; data under ../shared is optional (tests skip with a reason)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Property tests draw the same examples on every run and machine (a seed fixed per test), so that a fresh clone's
# `make test` passes or fails the same way each time; HYPOTHESIS_PROFILE=random draws new ones on each run.
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("random", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
# Hermetic: the developer's AGEAPP_* settings (AGEAPP_DETECTOR for imports, as the README suggests, a config
# or cache folder) never reach a test, nor a subprocess a test starts; a test that wants one sets it.
LEFT_OUT_OF_TESTS = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("AGEAPP_")}

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"

# The portability run (`make test-portable`) sets these so that the numerical tests run on other CPU kernels and
# one thread: a tolerance that holds only on one CPU fails there first. A setting the libraries ignore would
# make that run a copy of the normal one, so each one set is checked to have taken effect (else exit 4). The
# check runs only where the run says it is one (AGEAPP_PORTABILITY_RUN=1, set by the Makefile), not whenever a
# developer's shell happens to set OMP_NUM_THREADS.
PORTABILITY_RUN = "AGEAPP_PORTABILITY_RUN"
PORTABILITY_SETTINGS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS", "NPY_DISABLE_CPU_FEATURES")


def _alnum(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _kernels_in_use(requested: dict[str, str]) -> tuple[str, list[str]]:
    """(what torch and numpy compute with here, the settings in `requested` that did not take effect)."""
    import subprocess
    import sys

    import numpy as np
    import torch
    from numpy._core._multiarray_umath import __cpu_features__

    # oneDNN (torch's convolutions) says which ISA it chose only in its verbose log, printed by the C library.
    probe = "import torch; torch.nn.Conv2d(16, 32, 3)(torch.rand(4, 16, 64, 64))"  # big enough for oneDNN
    log = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "ONEDNN_VERBOSE": "1"},
                         capture_output=True, text=True, timeout=300).stdout
    onednn = next((line.split("isa:", 1)[1] for line in log.splitlines() if ",isa:" in line), "unknown")
    aten, threads = torch.backends.cpu.get_cpu_capability(), torch.get_num_threads()
    numpy_off = requested.get("NPY_DISABLE_CPU_FEATURES", "").split()
    failed = []
    if "ATEN_CPU_CAPABILITY" in requested and _alnum(aten) != _alnum(requested["ATEN_CPU_CAPABILITY"]):
        failed.append(f"ATEN_CPU_CAPABILITY={requested['ATEN_CPU_CAPABILITY']} (torch uses {aten})")
    if "ONEDNN_MAX_CPU_ISA" in requested and _alnum(requested["ONEDNN_MAX_CPU_ISA"]) not in _alnum(onednn):
        failed.append(f"ONEDNN_MAX_CPU_ISA={requested['ONEDNN_MAX_CPU_ISA']} (oneDNN uses {onednn})")
    if "OMP_NUM_THREADS" in requested and str(threads) != requested["OMP_NUM_THREADS"].strip():
        failed.append(f"OMP_NUM_THREADS={requested['OMP_NUM_THREADS']} (torch uses {threads} threads)")
    failed += [f"NPY_DISABLE_CPU_FEATURES: numpy {np.__version__} has no feature {name} or still uses it"
               for name in numpy_off if name not in __cpu_features__ or __cpu_features__[name]]
    used = (f"torch {torch.__version__}: ATen kernels {aten}, oneDNN {onednn}, {threads} thread(s); numpy "
            f"{np.__version__} without {' '.join(numpy_off) or 'nothing'}")
    return used, failed


def pytest_configure(config):
    requested = {name: os.environ[name] for name in PORTABILITY_SETTINGS if name in os.environ}
    if LEFT_OUT_OF_TESTS.get(PORTABILITY_RUN) == "1":
        used, failed = _kernels_in_use(requested)
        if failed:
            raise pytest.UsageError("portability settings that did not take effect: " + "; ".join(failed))
        config.kernels_in_use = used


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if getattr(config, "kernels_in_use", None):
        terminalreporter.write_line(f"portability run on {config.kernels_in_use}")


def _shared_path(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests need the development data in ../shared (not shipped)")
    return path


@pytest.fixture
def fgnet_images() -> Path:
    return _shared_path("data/fgnet/images")


@pytest.fixture
def fgnet_points() -> Path:
    return _shared_path("data/fgnet/points")


@pytest.fixture
def utkface_images() -> Path:
    return _shared_path("data/utkface/images")


@pytest.fixture
def yunet_model() -> Path:
    return _shared_path("models/face_detection_yunet.onnx")


@pytest.fixture
def mobilefacenet_checkpoint() -> Path:
    return _shared_path("models/mobilefacenet_casia.ckpt")


@pytest.fixture(scope="session")
def bad_corpus() -> Path:
    """The generated corpus of bad inputs (tests/data/bad/), written once per run."""
    from tests.data.make_bad_corpus import write_corpus

    return write_corpus()


def write_untrained_checkpoint(path: Path, net: str = "mobilefacenet", age_max: int = 100, size: int = 112,
                               seed: int = 0) -> Path:
    """A real checkpoint written by the trainer's own code, random weights: exercises loading and shapes."""
    import torch

    from trainer.checkpoint import make_checkpoint, save_checkpoint
    from trainer.heads import AgeNet

    torch.manual_seed(seed)
    model = AgeNet(net=net, age_max=age_max, pretrained=False)
    config = {"net": net, "age_max": age_max, "head": "paper", "size": size, "template": "chip"}
    save_checkpoint(make_checkpoint(model, None, None, config, 0, 0, [], seed, None), path)
    return path


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """The shipped architecture (MobileFaceNet, ages 0-100) with random weights."""
    return write_untrained_checkpoint(tmp_path_factory.mktemp("models") / "untrained.pt")
