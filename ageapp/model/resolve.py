"""Which age model and which face detector to use, decided in one place for a project, a window and a command:
the one named (a file the user chose, `--model` / `--detector`), else the project's (its active model: a
training run activated in the project; its detector: the YuNet file stored when it was created), else the
defaults (the model shipped in resources/models/; the user's preferred YuNet file, then $AGEAPP_DETECTOR, then
OpenCV's Haar cascade). The Estimate page, the live view, labelling's model prior and rough estimate, and
`ageapp estimate` all ask here (`choose_model`, `choose_detector`).

The default comes twice: `default.onnx` (what inference runs: ONNX Runtime, no torch) and `default.pt` (the
torch checkpoint training starts from and the torch backend reads). A project's active model is a run's
checkpoint; its ONNX export beside it (same name, .onnx) is used when present and torch is not asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import os

from ageapp.core.model_description import ModelFileError
from ageapp.faces.detection import DETECTOR_ENV, FaceDetector, HaarDetector, make_detector
from ageapp.model.backends import AgeModel, OnnxAgeModel, TorchAgeModel
from ageapp.resources import resource_path

DEFAULT_ONNX = "models/default.onnx"
DEFAULT_CHECKPOINT = "models/default.pt"
BACKENDS = ("auto", "onnxruntime", "torch")
NAMED, PROJECT, DEFAULT = "named", "project", "default"
PREFERENCES, ENVIRONMENT = "preferences", "environment"  # the defaults' own sources, for the detector
HAAR = "haar"  # a detector named by kind: OpenCV's Haar cascade, whatever the project stored
ONNX_SUFFIXES = (".onnx",)


def default_model_path(backend: str = "auto") -> Path:
    """The shipped default model for a backend (ONNX unless torch is asked for)."""
    return resource_path(DEFAULT_CHECKPOINT if backend == "torch" else DEFAULT_ONNX)


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    source: str  # named | project | default
    name: str = ""  # the project's name for its active model

    def label(self) -> str:
        if self.source == DEFAULT:
            return f"the default model ({self.path.name})"
        if self.source == PROJECT:
            return f"the project's active model {self.name or self.path.name}"
        return f"{self.path}"


def _prefer_onnx(path: Path, backend: str) -> Path:
    if backend == "torch" or path.suffix.lower() in ONNX_SUFFIXES:
        return path
    exported = path.with_suffix(".onnx")
    return exported if exported.is_file() else path


def choose_model(explicit: str | Path | None = None, project_db=None, backend: str = "auto") -> ModelChoice:
    """The model to use: named, else the project's active model, else the shipped default."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if explicit:
        return ModelChoice(_prefer_onnx(Path(explicit).expanduser(), backend) if backend == "onnxruntime"
                           else Path(explicit).expanduser(), NAMED)
    if project_db is not None:
        from ageapp.store.runs import active_model

        row = active_model(project_db)
        if row is not None and row.get("checkpoint_path"):
            return ModelChoice(_prefer_onnx(Path(row["checkpoint_path"]), backend), PROJECT, row.get("name") or "")
    return ModelChoice(default_model_path(backend), DEFAULT)


def open_model(path: str | Path, backend: str = "auto", flip: bool = True, threads: int | None = None) -> AgeModel:
    """Load one model file with the backend its kind and `backend` call for (ModelFileError if unusable)."""
    path = Path(path)
    if path.suffix.lower() in ONNX_SUFFIXES:
        if backend == "torch":
            raise ModelFileError(f"{path.name} is an ONNX export: the torch backend reads checkpoints (.pt)")
        return OnnxAgeModel(path, flip=flip, threads=threads)
    if backend == "onnxruntime":
        raise ModelFileError(f"{path.name} is a torch checkpoint with no ONNX export beside it: export one with "
                             f"`python -m trainer export --model {path} --onnx {path.with_suffix('.onnx')}`")
    return TorchAgeModel(path, flip=flip)


def load_model(explicit: str | Path | None = None, project_db=None, backend: str = "auto", flip: bool = True,
               threads: int | None = None, fall_back: bool = False) -> tuple[AgeModel, ModelChoice, str]:
    """(model, choice, notice). With fall_back, a project's active model that cannot be loaded gives way to
    the default model and `notice` says why; otherwise the error is raised."""
    choice = choose_model(explicit, project_db, backend)
    try:
        return open_model(choice.path, backend, flip, threads), choice, ""
    except ModelFileError as error:
        if not (fall_back and choice.source == PROJECT):
            raise ModelFileError(f"{choice.label()} cannot be used: {error}") from None
        default = ModelChoice(default_model_path(backend), DEFAULT)
        notice = f"{choice.label()} cannot be used ({error}); using {default.label()} instead"
        return open_model(default.path, backend, flip, threads), default, notice


# The face detector -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectorChoice:
    """The detector to use: a YuNet file (path), or OpenCV's Haar cascade (path None); where the choice came
    from; and `passed_over`: a candidate skipped on the way (a project's YuNet file that is gone), or ''."""

    path: Path | None
    source: str  # named | project | preferences | environment | default
    passed_over: str = ""

    @property
    def kind(self) -> str:
        return HAAR if self.path is None else "yunet"

    def label(self) -> str:
        """"YuNet (face_detection_yunet.onnx, the project's)" / "Haar cascade (the default)"."""
        whose = {NAMED: "chosen", PROJECT: "the project's", PREFERENCES: "your preference",
                 ENVIRONMENT: f"${DETECTOR_ENV}", DEFAULT: "no YuNet file known"}[self.source]
        if self.path is None:
            return f"Haar cascade ({whose})"
        return f"YuNet ({self.path.name}, {whose})"


def project_detector_path(project_db) -> Path | None:
    """The YuNet file the project stored (the new-project wizard's, or `ageapp import --detector`), or None."""
    from ageapp.store.settings import get_setting

    stored = get_setting(project_db, "detector_path")
    return Path(str(stored)).expanduser() if stored else None


def choose_detector(explicit: str | Path | None = None, project_db=None, preferred: str | Path | None = None,
                    environment: bool = True) -> DetectorChoice:
    """The detector to use: named (a YuNet file, or HAAR), else the project's stored YuNet file, else
    `preferred` (the window's File ▸ Preferences…: a file, or HAAR), else $AGEAPP_DETECTOR, else Haar.

    A named file is used as named (opening it says if it cannot be used); a project's or preferred file that no
    longer exists is passed over, and `passed_over` says so."""
    if explicit:
        return DetectorChoice(None if str(explicit) == HAAR else Path(explicit).expanduser(), NAMED)
    skipped = []
    candidates = [(project_detector_path(project_db) if project_db is not None else None, PROJECT),
                  (preferred or None, PREFERENCES),
                  (os.environ.get(DETECTOR_ENV) or None if environment else None, ENVIRONMENT)]
    for candidate, source in candidates:
        if candidate is None:
            continue
        if str(candidate) == HAAR:
            return DetectorChoice(None, source, "; ".join(skipped))
        path = Path(candidate).expanduser()
        if path.is_file():
            return DetectorChoice(path, source, "; ".join(skipped))
        skipped.append(f"{'the project' if source == PROJECT else source}'s YuNet file {path} is missing")
    return DetectorChoice(None, DEFAULT, "; ".join(skipped))


def open_detector(choice: DetectorChoice) -> FaceDetector:
    """A fresh detector for one thread (OpenCV's detectors are not safe to share); a YuNet file that cannot be
    used gives the Haar cascade, whose `notice` says why."""
    if choice.path is not None:
        return make_detector(choice.path)
    reason = {NAMED: "chosen by name", PREFERENCES: "chosen in the preferences", PROJECT: "the project's choice",
              ENVIRONMENT: f"set by ${DETECTOR_ENV}", DEFAULT: "no YuNet model given"}[choice.source]
    return HaarDetector(f"{reason}; {choice.passed_over}" if choice.passed_over else reason)
