"""One interface, two backends: an age model takes aligned face crops and gives calibrated posteriors.

- `OnnxAgeModel`: ONNX Runtime on one of our ONNX exports (the default for inference; no torch anywhere on
  its path).
- `TorchAgeModel`: one of our torch checkpoints through the trainer (training machines, or where asked for).

Both share `AgeModel.predict_crops`: crops (uint8, 112 x 96 x 3 BGR, aligned to the model's face template)
are resized to the model's input when it differs, batched with their mirror images when flip is on (the
two posteriors averaged), then calibrated with the model's own calibration (ageapp.core.calibration). So the
two backends differ only in `_run`, and their outputs agree to float precision.

A model file that is not ours, of a newer version, damaged, or whose outputs are not posteriors over its
ages is refused with a ModelFileError saying what it is, before it is used: loading runs a test face through
it (`probe`, guarded: a model that fails to run is refused too), and every run's outputs are checked
(`check_outputs`: shape (N, age_max + 1), finite, non-negative, rows summing to 1; P(female) in 0..1).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np

from ageapp.core.model_description import ModelDescription, ModelFileError, describe_onnx_metadata

MAX_MODEL_BYTES = 512 * 1024 * 1024  # a file larger than this is not one of our age models
SUM_TOLERANCE = 1e-3  # a float32 softmax over a few hundred ages sums to 1 within about 1e-6


class AgeModel:
    """Base: subclasses set `path`, `description`, `backend` and implement `_run`."""

    backend = "none"

    def __init__(self, path: Path, description: ModelDescription, flip: bool = True):
        self.path = Path(path)
        self.description = description
        self.flip = flip

    @property
    def age_max(self) -> int:
        return self.description.age_max

    @property
    def template(self) -> str:
        return self.description.template

    @property
    def summary(self) -> str:
        return f"{self.description.summary()} ({self.path.name}, {self.backend})"

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw (posterior (N, A+1), P(female) (N,)) for float32 N x 3 x H x W BGR 0..255."""
        raise NotImplementedError

    def batch_of(self, crops) -> np.ndarray:
        """float32 N x 3 x H x W at the model's input size from uint8 crops (N x 112 x 96 x 3 or a list)."""
        crops = np.asarray(crops) if not isinstance(crops, np.ndarray) else crops
        if crops.ndim == 3:
            crops = crops[None]
        height, width = self.description.input_height, self.description.input_width
        if crops.shape[1:3] != (height, width):
            crops = np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_AREA) for c in crops])
        return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)

    def predict_raw(self, crops, flip: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Uncalibrated (posteriors, P(female)), flip-averaged when flip is on (None: the model's setting)."""
        flip = self.flip if flip is None else flip
        batch = self.batch_of(crops)
        n = len(batch)
        if n == 0:
            return np.zeros((0, self.age_max + 1)), np.zeros(0)
        if flip:
            batch = np.concatenate([batch, batch[..., ::-1]])
        posterior, female = self._run(np.ascontiguousarray(batch))
        posterior, female = check_outputs(self.path.name, posterior, female, len(batch), self.age_max)
        if flip:
            posterior, female = (posterior[:n] + posterior[n:]) / 2.0, (female[:n] + female[n:]) / 2.0
        return posterior, female

    def calibrate(self, posterior: np.ndarray, quality=None) -> np.ndarray:
        """The model's calibration of raw posteriors; `quality` (N,) the faces' picture-quality scores
        (ageapp.faces.quality), used where the calibration depends on them."""
        return self.description.calibration.apply(posterior, quality=quality)

    def predict_crops(self, crops, flip: bool | None = None, quality=None) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated posteriors (N, A+1) over ages 0..age_max and P(female) (N,). `quality`: the crops'
        quality scores when the caller has them (measured here when the calibration needs them)."""
        from ageapp.faces.quality import calibrate_crops

        posterior, female = self.predict_raw(crops, flip)
        return calibrate_crops(self.description.calibration, posterior, crops, quality), female

    def probe(self) -> None:
        """Run one grey crop through the model: damaged weights, outputs that are not posteriors over the
        model's ages, and a model that fails to run at all are refused here (ModelFileError)."""
        crop = np.full((self.description.input_height, self.description.input_width, 3), 128, np.uint8)
        try:
            posterior, _ = self.predict_crops([crop], flip=False)
        except ModelFileError:
            raise
        except Exception as error:  # the runtime's own errors (ONNX Runtime, torch): the model cannot run
            message = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise ModelFileError(f"{self.path.name} fails when run on a test face ({type(error).__name__}: "
                                 f"{message}): the file is damaged or not an age model of this app; choose "
                                 "another model") from None
        check_outputs(f"{self.path.name} (calibrated)", posterior, np.zeros(1), 1, self.age_max)


def check_outputs(name: str, posterior, female, rows: int, age_max: int) -> tuple[np.ndarray, np.ndarray]:
    """The outputs of a run on `rows` crops as float64 arrays, if they are posteriors over ages 0..age_max
    (shape (rows, age_max + 1), finite, non-negative, each row summing to 1) and probabilities of female
    (shape (rows,), in 0..1); else ModelFileError saying which rule they break."""
    try:
        posterior, female = np.asarray(posterior, np.float64), np.asarray(female, np.float64)
    except (TypeError, ValueError):
        raise ModelFileError(f"{name} gave outputs that are not arrays of numbers: not an age model of this "
                             "app; choose another model") from None
    expected = (rows, age_max + 1)
    if posterior.shape != expected:
        raise ModelFileError(f"{name} gave age posteriors of shape {posterior.shape} where its description "
                             f"(ages 0-{age_max}) calls for {expected}: the file is damaged or its description does "
                             "not match its network; choose another model")
    if female.shape != (rows,):
        raise ModelFileError(f"{name} gave gender outputs of shape {female.shape} where one probability per face "
                             f"{(rows,)} was due: not an age model of this app; choose another model")
    if not (np.all(np.isfinite(posterior)) and np.all(np.isfinite(female))):
        raise ModelFileError(f"{name} gave non-finite outputs (NaN or infinite): the model is damaged; choose "
                             "another model")
    if np.any(posterior < 0) or np.any(female < 0) or np.any(female > 1):
        raise ModelFileError(f"{name} gave negative probabilities (or a P(female) outside 0..1): its outputs "
                             "are not probabilities; choose another model")
    sums = posterior.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > SUM_TOLERANCE):
        worst = float(sums[np.argmax(np.abs(sums - 1.0))])
        raise ModelFileError(f"{name} gave age posteriors that sum to {worst:.6g}, not 1: its outputs are not "
                             "probabilities over ages; choose another model")
    return posterior, female


def check_model_file(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    """A regular, readable file of sensible size with one of the suffixes; else ModelFileError. Never opens a
    FIFO or device (a read would block)."""
    path = Path(path).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} not found: check the path") from None
    except OSError as error:
        raise ModelFileError(f"model file {path} cannot be read ({error.strerror or error})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path} is not a regular file (a folder, pipe or device): choose a model file")
    if path.suffix.lower() not in suffixes:
        raise ModelFileError(f"{path.name} is not a model file this app reads ({', '.join(suffixes)})")
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path} is {info.st_size / 2**20:.0f} MB: not one of this app's age models")
    if not os.access(path, os.R_OK):
        raise ModelFileError(f"model file {path} is not readable: check its permissions")
    return path


class OnnxAgeModel(AgeModel):
    """An ONNX export of ours run by ONNX Runtime (CPU)."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, flip: bool = True, threads: int | None = None):
        path = check_model_file(path, (".onnx",))
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelFileError("ONNX Runtime is not installed: pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for damaged files
            raise ModelFileError(f"{path.name} is not a readable ONNX model (damaged or another kind of file: "
                                 f"{str(error).splitlines()[0][:200]})") from None
        description = describe_onnx_metadata(session.get_modelmeta().custom_metadata_map)
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if inputs != ["crops"] or outputs[:1] != ["posterior"] or "gender" not in outputs:
            raise ModelFileError(f"{path.name} has inputs {inputs} and outputs {outputs}, not an age model "
                                 "exported by `python -m trainer export`")
        super().__init__(path, description, flip)
        self._session = session
        self._outputs = ["posterior", "gender"]
        self.probe()

    def _run(self, batch):
        posterior, gender = self._session.run(self._outputs, {"crops": batch})
        return posterior, gender[:, 1]


class TorchAgeModel(AgeModel):
    """One of our checkpoints through torch (imported only when this backend is used)."""

    backend = "torch"

    def __init__(self, path: str | Path, flip: bool = True, device: str = "cpu"):
        path = check_model_file(path, (".pt", ".pth", ".ckpt"))
        try:
            import torch  # noqa: F401

            from trainer.checkpoint import model_from_checkpoint
        except ImportError:
            from ageapp.training_extra import how_to_get_training

            raise ModelFileError(f"{path.name} is a torch checkpoint and torch is not installed: use the model's "
                                 f"ONNX export; for the checkpoint itself, {how_to_get_training()}") from None
        model, checkpoint = model_from_checkpoint(path, device)
        super().__init__(path, checkpoint["description"], flip)
        self._model, self._device = model, device
        self.probe()

    def _run(self, batch):
        import torch

        with torch.inference_mode():
            out = self._model(torch.from_numpy(batch).to(self._device))
            posterior = out["log_posterior"].float().exp().double().cpu().numpy()
            female = torch.softmax(out["gender_logits"].float(), -1)[:, 1].double().cpu().numpy()
        return posterior, female
