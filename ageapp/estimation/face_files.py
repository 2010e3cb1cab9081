"""The age model's posterior for each of a list of face images, through the face pipeline import uses
(ageapp.store.importing.find_faces): an already-aligned crop (UTKFace chips) is one face, aligned by the
detector's landmarks where it finds them, else by the chip's typical layout; a photo's largest detected face
otherwise. `ageapp simulate --prior model` and `benchmarks/model_prior.py` read the model's opinion this way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ageapp.faces.alignment import detect_faces, face_from_aligned_crop
from ageapp.faces.images import load_image

BATCH = 64  # crops per model call


@dataclass(frozen=True)
class FilePosteriors:
    posteriors: np.ndarray  # [N, model age_max + 1]; a uniform row where no face was found
    found: np.ndarray  # [N] bool: a face was found (and read)
    problems: int  # images that could not be read or had no face


def model_posteriors(paths: Sequence[Path], model, detector, aligned: bool, progress: bool = True) -> FilePosteriors:
    """Run `model` (an ageapp.model AgeModel) on the face of every image, a progress bar on stderr."""
    from tqdm import tqdm

    width = model.age_max + 1
    posteriors = np.full((len(paths), width), 1.0 / width)
    found = np.zeros(len(paths), dtype=bool)
    crops, rows = [], []

    def flush():
        if crops:
            predicted, _ = model.predict_crops(crops)
            posteriors[rows] = np.asarray(predicted, dtype=np.float64)
            found[rows] = True
            crops.clear()
            rows.clear()

    for index, path in enumerate(tqdm(paths, desc="model prior", unit="face", file=sys.stderr,
                                      disable=not progress or len(paths) < 2)):
        try:
            image = load_image(path)
            faces = ([face_from_aligned_crop(image, detector, model.template)] if aligned
                     else detect_faces(image, detector, model.template))
        except (OSError, ValueError):
            continue
        if faces:
            crops.append(faces[0].crop)
            rows.append(index)
        if len(crops) >= BATCH:
            flush()
    flush()
    return FilePosteriors(posteriors, found, int(len(paths) - found.sum()))
