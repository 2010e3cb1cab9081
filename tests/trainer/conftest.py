"""Tiny generated data for the trainer tests: UTKFace-style chips with random content (unique bytes)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_utkface_folder(root: Path, n: int = 24, seed: int = 0, size: int = 64) -> Path:
    """n chips named age_gender_race_datetime.jpg.chip.jpg; brighter images are older (learnable)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        age = int(rng.integers(1, 60))
        gender = int(rng.integers(0, 2))
        image = rng.integers(0, 60, size=(size, size, 3)).astype(np.int32) + age * 3
        cv2.imwrite(str(root / f"{age}_{gender}_0_20170101{i:09d}.jpg.chip.jpg"), np.clip(image, 0, 255).astype(np.uint8))
    return root


@pytest.fixture
def tiny_utkface(tmp_path) -> Path:
    return write_utkface_folder(tmp_path / "utk")
