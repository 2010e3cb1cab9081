"""Shared fixtures. Qt runs offscreen; data under ../shared is optional (tests skip with a reason)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Hermetic: the developer's AGEAPP_* settings (AGEAPP_DETECTOR for imports, as the README suggests, a config
# or cache folder) never reach a test, nor a subprocess a test starts; a test that wants one sets it.
LEFT_OUT_OF_TESTS = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("AGEAPP_")}

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


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
