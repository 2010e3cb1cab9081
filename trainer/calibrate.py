"""Calibration as a step of training (method.md section 6): fit the posterior's calibration on held-out faces
the weights never trained on, and store it in the checkpoint, where every reader applies it.

`calibrate_checkpoint(path, crops, method)` is what `train` runs after its last epoch (on the calibration part
of the held-out split) and what `python -m trainer calibrate` runs on a user's own labelled faces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ageapp.core.calibration import Calibration, fit_calibration
from trainer import checkpoint as ckpt
from trainer.evaluate import predict_crops


def raw_posteriors(model, description, crops, flip: bool, device="cpu", batch_size: int = 128,
                   progress: Callable = lambda it, **kw: it) -> dict:
    """The model's uncalibrated prediction over a CropSet's crops (flip: averaged with the mirror image)."""
    return predict_crops(model, crops.crops, batch_size, description.size, device, progress, flip=flip)


def true_ages(samples) -> np.ndarray:
    return np.array([s.true_age for s in samples], dtype=np.float64)


def calibrate_checkpoint(path: str | Path, crops, method: str = "isotonic", flip: bool = True, device="cpu",
                         progress: Callable = lambda it, **kw: it, out: str | Path | None = None) -> Calibration:
    """Fit a calibration on the crops (a CropSet with known ages) and write it into the checkpoint at `path`
    (or a copy at `out`), atomically. Returns the Calibration with its before/after reports."""
    checkpoint = ckpt.load_checkpoint(path)
    model, loaded = ckpt.model_from_checkpoint(checkpoint, device)
    description = loaded["description"]
    if not crops.samples:
        raise ValueError("no face with a known age to calibrate on")
    prediction = raw_posteriors(model, description, crops, flip, device, progress=progress)
    ages = np.clip(np.rint(true_ages(crops.samples)), 0, description.age_max)
    calibration = fit_calibration(prediction["posterior"], ages, method=method, flip=flip)
    checkpoint["calibration"] = calibration.to_dict()
    checkpoint["model_args"] = description.model_args()
    checkpoint["version"] = ckpt.VERSION
    ckpt.save_checkpoint(checkpoint, out or path)
    return calibration
