"""A trained age network as the estimation pipeline sees it: BGR face crops in, posteriors out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ageapp.resources import default_model_path
from trainer.checkpoint import CheckpointError, model_from_checkpoint
from trainer.evaluate import predict_crops


class ModelUnavailable(Exception):
    """No usable model: says which file and what to do."""


class AgeEstimator:
    """Wraps a checkpoint written by `python -m trainer` (loaded with weights_only=True)."""

    def __init__(self, checkpoint_path: str | Path, device: str = "cpu"):
        self.path = Path(checkpoint_path)
        try:
            self.model, checkpoint = model_from_checkpoint(self.path, device)
        except CheckpointError as error:
            raise ModelUnavailable(str(error)) from None
        self.config = checkpoint["config"]
        self.age_max = int(self.config.get("age_max", 100))
        self.input_size = int(self.config.get("size", 112))
        self.device = device

    @property
    def description(self) -> str:
        return f"{self.config.get('net', '?')} age network ({self.path.name}, ages 0-{self.age_max})"

    def predict_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Posteriors (N, A+1) and P(female) (N,) for aligned 112x96 BGR crops."""
        batch = torch.from_numpy(np.stack(crops))
        with torch.inference_mode():
            prediction = predict_crops(self.model, batch, size=self.input_size, device=self.device)
        return prediction["posterior"], prediction["p_female"]


def load_estimator(model_path: str | Path | None = None, device: str = "cpu") -> AgeEstimator:
    """The named checkpoint, else the default model shipped in resources/models/."""
    path = Path(model_path) if model_path else default_model_path()
    if not path.is_file():
        hint = ("train one with `python -m trainer train` and pass --model" if model_path is None
                else "check the path")
        raise ModelUnavailable(f"model file {path} not found: {hint}")
    return AgeEstimator(path, device)
