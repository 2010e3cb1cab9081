"""One file-name parser: import (ageapp.datasets), `simulate` and training read the same age from every name,
the odd ones of the UTKFace release included."""

from __future__ import annotations

import cv2
import numpy as np

from ageapp.cli.simulate import read_labelled_folder
from ageapp.datasets.scan import scan
from trainer.samples import FolderSource

ODD_NAMES = {
    "26_1_0_20170116174525125.jpg.chip.jpg": 26,
    "125_0_0_20170116174525125.jpg.chip.jpg": None,  # above 120: not an age, for all three alike
    "120_0_0_20170116174525125.jpg.chip.jpg": 120,
    "39_1_20170116174525125.jpg.chip.jpg": 39,  # no race field: age only
    "55_0_0_20170116232725357jpg.chip.jpg": 55,  # a missing dot
    "61_1_20170109150557335.jpg.chip.jpg": 61,
    "24_0_1_20170116220224657 .jpg.chip.jpg": 24,  # a space before .jpg
    "1_0_4_20161221193012345.jpg": 1,
    "3_1_5_20170104.jpg.chip.jpg": 3,  # race 5 does not exist: age only
    "x_1_0_20170116174525125.jpg.chip.jpg": None,
}


def test_import_simulate_and_training_read_the_same_ages(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    for index, name in enumerate(ODD_NAMES):
        cv2.imwrite(str(tmp_path / name), np.roll(pixels, index))  # distinct files (training de-duplicates)
    imported = {record.path.name: record.age for record in scan(tmp_path, "utkface").records}
    assert imported == ODD_NAMES

    simulated = read_labelled_folder(tmp_path, "queries")
    readable = {name: age for name, age in ODD_NAMES.items() if age is not None}
    assert sorted(simulated.ages.tolist()) == sorted(readable.values())

    samples, problems = FolderSource(tmp_path, "utkface").samples()
    assert {s.path.split("/")[-1]: s.age for s in samples} == readable
    assert sum("no age label, skipped" in problem for problem in problems) == len(ODD_NAMES) - len(readable)
