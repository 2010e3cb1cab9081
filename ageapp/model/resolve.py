"""Which age model to use, decided in one place: the model named (a file the user chose), else the project's
active model (a training run activated in the project), else the default model shipped in resources/models/.

The default comes twice: `default.onnx` (what inference runs: ONNX Runtime, no torch) and `default.pt` (the
torch checkpoint training starts from and the torch backend reads). A project's active model is a run's
checkpoint; its ONNX export beside it (same name, .onnx) is used when present and torch is not asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ageapp.core.model_description import ModelFileError
from ageapp.model.backends import AgeModel, OnnxAgeModel, TorchAgeModel
from ageapp.resources import resource_path

DEFAULT_ONNX = "models/default.onnx"
DEFAULT_CHECKPOINT = "models/default.pt"
BACKENDS = ("auto", "onnxruntime", "torch")
NAMED, PROJECT, DEFAULT = "named", "project", "default"
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
