"""The age model's one home: its description (ageapp.core.model_description, re-exported here), the two
inference backends (ONNX Runtime and torch) behind one interface, and the one resolver of which model and which face detector to use."""

from ageapp.core.model_description import ModelDescription, ModelFileError
from ageapp.model.backends import AgeModel, OnnxAgeModel, TorchAgeModel
from ageapp.model.resolve import (
    DetectorChoice,
    ModelChoice,
    choose_detector,
    choose_model,
    default_model_path,
    load_model,
    open_detector,
    open_model,
)

__all__ = ["AgeModel", "DetectorChoice", "ModelChoice", "ModelDescription", "ModelFileError", "OnnxAgeModel",
           "TorchAgeModel", "choose_detector", "choose_model", "default_model_path", "load_model", "open_detector",
           "open_model"]
