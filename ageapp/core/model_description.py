"""What an age model is, apart from its weights: the typed description every backend and every reader uses.

A checkpoint written by `python -m trainer` keeps it under "model_args" (nanoGPT's habit: the model's shape
apart from the training settings); checkpoints written before that kept only the whole training config, and
`describe_checkpoint` upgrades them (the template they were cropped with was the face-verification one).
An ONNX export keeps the same description as JSON in its metadata ("ageapp_model").

Everything is validated before anything is built or allocated: a description that is not ours, of a newer
version, or out of range is a ModelFileError saying what it is.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from ageapp.core.calibration import Calibration, CalibrationError

FORMAT = "ageapp-age-net"
DESCRIPTION_VERSION = 2  # 1: checkpoints with the training config only; 2: model_args + calibration
NETS = ("mobilefacenet", "vgg-quarter", "mobilenet_v3_small", "resnet18", "tiny")
HEADS = ("paper", "concentration")
LOSSES = ("joint", "kl", "hyper")
TEMPLATES = ("chip", "mfn")
LEGACY_TEMPLATE = "mfn"
AGE_MAX_RANGE = (1, 150)
SIZE_RANGE = (16, 448)
BETA_RANGE = (1e-3, 10.0)


class ModelFileError(ValueError):
    """A model file that cannot be used, with a reason a user can act on."""


@dataclass(frozen=True)
class ModelDescription:
    net: str = "mobilefacenet"
    age_max: int = 100
    head: str = "paper"
    beta: float = 0.36
    size: int = 112  # input height; the width follows 112:96
    template: str = "chip"
    loss: str = "joint"
    gender: bool = True
    calibration: Calibration = field(default_factory=Calibration)

    @property
    def input_height(self) -> int:
        return self.size

    @property
    def input_width(self) -> int:
        return int(round(self.size * 96 / 112))

    @property
    def hyper_only(self) -> bool:
        """Trained without the posterior loss: the paper's aggregation rule gives the point estimate."""
        return self.loss == "hyper"

    def model_args(self) -> dict:
        """The shape-defining part, as stored in a checkpoint's "model_args" (calibration apart)."""
        values = asdict(self)
        values.pop("calibration")
        return values

    def to_json(self) -> str:
        return json.dumps({"version": DESCRIPTION_VERSION, **self.model_args(),
                           "calibration": self.calibration.to_dict()})

    def with_calibration(self, calibration: Calibration) -> "ModelDescription":
        return ModelDescription(**self.model_args(), calibration=calibration)

    def summary(self) -> str:
        calibrated = "uncalibrated" if self.calibration.is_identity else f"calibrated ({self.calibration.method})"
        return f"{self.net} age network, ages 0-{self.age_max}, {self.head} head, {calibrated}"


def _number(value, what: str, low: float, high: float, integer: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelFileError(f"the model's {what} is {value!r}, not a number")
    if integer and value != int(value):
        raise ModelFileError(f"the model's {what} is {value!r}, not a whole number")
    if not low <= value <= high:
        raise ModelFileError(f"the model's {what} is {value!r}, outside {low}..{high}")
    return int(value) if integer else float(value)


def _choice(value, what: str, choices: tuple) -> str:
    if value not in choices:
        raise ModelFileError(f"the model's {what} is {value!r}; this app knows {', '.join(choices)} "
                             "(a model from a newer version?)")
    return value


def validate_args(values, calibration=None) -> ModelDescription:
    """A ModelDescription from a plain dict, every field checked (types, ranges, names)."""
    if not isinstance(values, dict):
        raise ModelFileError(f"the model description is a {type(values).__name__}, not a table")
    defaults = ModelDescription()
    try:
        calibration = calibration if isinstance(calibration, Calibration) else Calibration.from_dict(calibration)
    except CalibrationError as error:
        raise ModelFileError(f"the model's calibration is damaged: {error}") from None
    return ModelDescription(
        net=_choice(values.get("net", defaults.net), "network", NETS),
        age_max=_number(values.get("age_max", defaults.age_max), "age range (age_max)", *AGE_MAX_RANGE, integer=True),
        head=_choice(values.get("head", defaults.head), "head", HEADS),
        beta=_number(values.get("beta", defaults.beta), "beta", *BETA_RANGE),
        size=_number(values.get("size", defaults.size), "input size", *SIZE_RANGE, integer=True),
        template=_choice(values.get("template", LEGACY_TEMPLATE), "face template", TEMPLATES),
        loss=_choice(values.get("loss", defaults.loss), "loss", LOSSES),
        gender=bool(values.get("gender", True)),
        calibration=calibration,
    )


def describe_checkpoint(checkpoint) -> ModelDescription:
    """The description of one of our checkpoints (a dict already read with weights_only=True)."""
    if not isinstance(checkpoint, dict):
        raise ModelFileError(f"the file holds a {type(checkpoint).__name__}, not one of this app's checkpoints")
    if checkpoint.get("format") != FORMAT:
        raise ModelFileError(f"not an age-network checkpoint of this app (no '{FORMAT}' marker)")
    version = checkpoint.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"the checkpoint's version is {version!r}, not a whole number: the file is damaged")
    if version > DESCRIPTION_VERSION:
        raise ModelFileError(f"the checkpoint was written by a newer version of the app (format {version}, "
                             f"this one reads up to {DESCRIPTION_VERSION}): update the app")
    args = checkpoint.get("model_args")
    if args is None:  # version 1: the whole training config; the crops were the face-verification template's
        config = checkpoint.get("config")
        if not isinstance(config, dict):
            raise ModelFileError("the checkpoint has neither a model description nor a training config: "
                                 "it is damaged or not written by `python -m trainer`")
        args = {key: config[key] for key in ("net", "age_max", "head", "beta", "size", "loss") if key in config}
        args["template"] = LEGACY_TEMPLATE
    return validate_args(args, checkpoint.get("calibration"))


def describe_onnx_metadata(metadata: dict) -> ModelDescription:
    """The description stored in one of our ONNX exports' metadata (`ageapp_model`, JSON)."""
    text = metadata.get("ageapp_model")
    if text is None:
        raise ModelFileError("not an ONNX export of this app (no 'ageapp_model' metadata): export one with "
                             "`python -m trainer export --model CKPT --onnx FILE`")
    try:
        values = json.loads(text)
    except (ValueError, TypeError):
        raise ModelFileError("the ONNX file's model description is not valid JSON: the file is damaged") from None
    except RecursionError:
        raise ModelFileError("the ONNX file's model description is nested too deeply to be one of this app's: "
                             "the file is damaged or not an export of this app") from None
    if not isinstance(values, dict):
        raise ModelFileError("the ONNX file's model description is not a table: the file is damaged")
    version = values.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version > DESCRIPTION_VERSION:
        raise ModelFileError(f"the ONNX file's description has version {version!r}; this app reads up to "
                             f"{DESCRIPTION_VERSION}: update the app")
    return validate_args(values, values.get("calibration"))
