"""Calibration as a step of training (method.md sections 6 and 7): fit the posterior's calibration on held-out
faces the weights never trained on, and store it in the checkpoint, where every reader applies it.

`calibrate_checkpoint(path, crops, method)` is what `train` runs after its last epoch (on the calibration part
of the held-out split) and what `python -m trainer calibrate` runs on a user's own labelled faces. For the
"mondrian" method (the default) each calibration face is also shown as `copies` degraded copies, made by the
training's own degradation (trainer.degrade, seeded): the quality bands then learn what noisy, blurred, dark,
flat or hazy faces need, from faces the weights never saw, without ever touching the shift benchmark's corruptions.
The copies of a face weigh as much together as the face itself (DEGRADED_WEIGHT): a calibration fitted as if
half the pictures were poor, and a good-looking picture's band kept mostly for clean faces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ageapp.core.calibration import Calibration
from ageapp.core.calibration_fit import MIN_MAP_FACES, fit_calibration
from ageapp.faces.quality import scores
from trainer import checkpoint as ckpt
from trainer.degrade import Degrade
from trainer.evaluate import predict_crops

DEGRADED_COPIES = 3
DEGRADED_WEIGHT = 1.0  # a face's degraded copies weigh this much together, against 1 for the face itself


def true_ages(samples) -> np.ndarray:
    return np.array([s.true_age for s in samples], dtype=np.float64)


def degraded_copies(crops: torch.Tensor, copies: int, seed: int = 0) -> torch.Tensor:
    """`copies` degraded versions of every uint8 crop (N x H x W x 3), each by trainer.degrade at probability 1:
    (copies * N) x H x W x 3, copy by copy."""
    degrade = Degrade(probability=1.0)
    generator = torch.Generator().manual_seed(seed)
    images = crops.permute(0, 3, 1, 2).float()
    out = [degrade(images, generator).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
           for _ in range(copies)]
    return torch.cat(out) if out else crops[:0]


def calibration_inputs(model, description, crops, method: str, flip: bool, device="cpu", copies: int = DEGRADED_COPIES,
                       seed: int = 0, progress: Callable = lambda it, **kw: it) -> dict:
    """Raw posteriors, true ages and quality scores of the calibration faces (and, for "mondrian" with enough
    faces for its maps, of their degraded copies after them: a temperature fitted in its place keeps to the faces)."""
    images = crops.crops
    ages = np.clip(np.rint(true_ages(crops.samples)), 0, description.age_max)
    weights = np.ones(len(ages))
    clean = np.ones(len(ages), bool)
    if method == "mondrian" and copies > 0 and len(crops.samples) >= MIN_MAP_FACES:
        images = torch.cat([images, degraded_copies(images, copies, seed)])
        ages = np.tile(ages, copies + 1)
        weights = np.concatenate([weights, np.full(copies * len(weights), DEGRADED_WEIGHT / copies)])
        clean = np.concatenate([clean, np.zeros(copies * len(clean), bool)])
    prediction = predict_crops(model, images, 128, description.size, device, progress, flip=flip)
    return {"posterior": prediction["posterior"], "ages": ages, "quality": scores(images.numpy()),
            "weights": weights, "clean": clean}


def calibrate_checkpoint(path: str | Path, crops, method: str = "mondrian", flip: bool = True, device="cpu",
                         progress: Callable = lambda it, **kw: it, out: str | Path | None = None,
                         copies: int = DEGRADED_COPIES, seed: int = 0, save_inputs: str | Path | None = None
                         ) -> Calibration:
    """Fit a calibration on the crops (a CropSet with known ages) and write it into the checkpoint at `path`
    (or a copy at `out`), atomically. Returns the Calibration with its before/after reports (and, where there
    were too few faces for the method asked, the simpler one fitted, saying why in `fallback`). save_inputs:
    also write the raw posteriors, ages and quality scores fitted on to this .npz (to study other calibrations)."""
    checkpoint = ckpt.load_checkpoint(path)
    model, loaded = ckpt.model_from_checkpoint(checkpoint, device)
    description = loaded["description"]
    if not crops.samples:
        raise ValueError("no face with a known age to calibrate on")
    inputs = calibration_inputs(model, description, crops, method, flip, device, copies, seed, progress)
    if save_inputs:
        np.savez_compressed(save_inputs, faces=len(crops.samples), **inputs)
    calibration = fit_calibration(inputs["posterior"], inputs["ages"], method=method, flip=flip,
                                  quality=inputs["quality"], faces=len(crops.samples), weights=inputs["weights"],
                                  clean=inputs["clean"])
    checkpoint["calibration"] = calibration.to_dict()
    checkpoint["model_args"] = description.model_args()
    checkpoint["version"] = ckpt.VERSION
    ckpt.save_checkpoint(checkpoint, out or path)
    return calibration
