"""The model and the face detector the estimate page uses, and switching between them.

The model loads in a background thread (`ModelLoadWorker`: ONNX Runtime's session, or torch for a checkpoint,
takes a moment); an action that needs it (`when_model_ready`) waits for it. Each worker gets its own detector
(`make_detector()`): OpenCV's detectors are not safe to share between threads. The chosen YuNet file and
the network's thread count are preferences (ageapp.preferences: File ▸ Preferences… and the Estimate menu).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QSettings, Signal

from ageapp.estimation.display import live_inference_threads
from ageapp.faces.detection import DETECTOR_ENV, FaceDetector, HaarDetector, make_detector
from ageapp.model import default_model_path, open_model
from ageapp.model.resolve import DEFAULT_ONNX as DEFAULT_MODEL
from ageapp.preferences import PreferencesError, PreferencesStore
from ageapp.ui.estimate.workers import ModelLoadWorker
from ageapp.ui.shell.preferences import default_store

DETECTOR_KEY = "estimate/yunet_path"  # QSettings keys of builds before the preferences file (moved on start)
DETECTOR_CHOICE_KEY = "estimate/detector"  # "yunet" or "haar"
DEFAULT, PROJECT, FILE = "default", "project", "file"
CHOOSE_CHECKPOINT = "Estimate ▸ Model ▸ Checkpoint file…"


@dataclass(frozen=True)
class ModelSource:
    kind: str  # DEFAULT, PROJECT or FILE
    path: Path | None = None  # None for DEFAULT (resolved when loading)

    def resolved_path(self) -> Path:
        return default_model_path() if self.kind == DEFAULT else Path(self.path)

    def describe(self) -> str:
        if self.kind == DEFAULT:
            return "the default model"
        if self.kind == PROJECT:
            return "the project's active model"
        return f"checkpoint {Path(self.path).name}"


def load_checkpoint_model(path: Path, threads: int = 0):
    """Runs in the loader thread (ONNX Runtime, or torch for a checkpoint). threads 0 = half the cores."""
    threads = threads if threads > 0 else live_inference_threads()
    if path.suffix.lower() != ".onnx":
        try:
            import torch
        except ImportError:
            pass  # open_model says what to do instead (the ONNX export, or where torch is to be had)
        else:
            torch.set_num_threads(threads)
    return open_model(path, threads=threads)


class EstimationEngine(QObject):
    changed = Signal()  # the model or the detector changed (or started/stopped loading)
    model_failed = Signal(str)  # what went wrong and what to do
    model_ready = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None,
                 load_model: Callable[[Path], object] | None = None, store: PreferencesStore | None = None):
        super().__init__(parent)
        self._settings = settings if settings is not None else QSettings()
        self._store = store if store is not None else default_store()
        self._load_model = load_model or (lambda path: load_checkpoint_model(path, self._store.load().torch_threads))
        self.model = None
        self.model_description = ""
        self.source = ModelSource(DEFAULT)
        self.loading: ModelSource | None = None
        self.problem = ""  # the last model problem, until a model loads
        self._loader: ModelLoadWorker | None = None
        self._pending: Callable[[], None] | None = None
        self.project_model_path: Path | None = None
        self.yunet_path: Path | None = None
        self.detector_kind = "haar"
        self.detector_notice = ""
        self._init_detector()

    # Model -------------------------------------------------------------------------------------------------

    def use_model(self, model, description: str | None = None, source: ModelSource | None = None) -> None:
        """Use an already loaded model (tests, and the loader's result)."""
        self.model = model
        self.model_description = description or getattr(model, "summary", type(model).__name__)
        if source is not None:
            self.source = source
        self.problem = ""
        self.changed.emit()
        self.model_ready.emit()
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()

    def load_model(self, source: ModelSource) -> bool:
        """Start loading in the background; False (and `model_failed`) when there is nothing to load."""
        path = source.resolved_path() if source.kind == DEFAULT or source.path else None
        if path is None or not path.is_file():
            if self.model is None:
                self.source = source
            self._fail(self._missing_message(source, path))
            return False
        self._stop_loader()
        self.loading = source
        loader = ModelLoadWorker(lambda: self._load_model(path), self)
        loader.loaded.connect(lambda model, s=source, w=loader: self._on_loaded(w, model, s))
        loader.failed.connect(lambda message, s=source, w=loader: self._on_load_failed(w, message, s))
        loader.finished.connect(loader.deleteLater)  # not before: a QThread deleted while running aborts
        self._loader = loader
        loader.start()
        self.changed.emit()
        return True

    def when_model_ready(self, action: Callable[[], None]) -> None:
        """Run `action` now if a model is loaded, else once one has loaded (the latest request wins)."""
        if self.model is not None:
            action()
            return
        self._pending = action
        if self.loading is None:
            self.load_model(self.source)

    def is_loading(self) -> bool:
        return self.loading is not None

    def wait_for_loader(self, timeout_ms: int = 30000) -> bool:
        return self._loader is None or self._loader.wait(timeout_ms)

    def set_project_model(self, path: str | Path | None) -> None:
        self.project_model_path = Path(path) if path else None
        self.changed.emit()

    def _on_loaded(self, worker: ModelLoadWorker, model, source: ModelSource) -> None:
        if worker is not self._loader:  # superseded by a later choice
            return
        self._loader, self.loading = None, None
        self.use_model(model, source=source)

    def _on_load_failed(self, worker: ModelLoadWorker, message: str, source: ModelSource) -> None:
        if worker is not self._loader:
            return
        self._loader, self.loading = None, None
        still = f" Still using {self.model_description}." if self.model is not None else ""
        if self.model is None:
            self.source = source
        self._fail(f"{source.describe().capitalize()} could not be loaded: {message.rstrip('.')}.{still} "
                   f"Choose another with {CHOOSE_CHECKPOINT}")

    def _missing_message(self, source: ModelSource, path: Path | None) -> str:
        if source.kind == DEFAULT:
            return (f"The default model ({DEFAULT_MODEL}) is not installed yet. Choose a checkpoint trained with "
                    f"`python -m trainer` from {CHOOSE_CHECKPOINT}, or drop one on this page.")
        if source.kind == PROJECT and path is None:
            return ("The open project has no active model yet: train one on the Train page, or choose a checkpoint "
                    f"with {CHOOSE_CHECKPOINT}")
        return f"The model file {path} no longer exists. Choose another with {CHOOSE_CHECKPOINT}"

    def _fail(self, message: str) -> None:
        self.problem = message
        self.changed.emit()
        self.model_failed.emit(message)

    def _stop_loader(self) -> None:
        if self._loader is not None:
            self._loader.wait()  # a checkpoint read cannot be interrupted; it is short
            self._loader, self.loading = None, None

    # Detector --------------------------------------------------------------------------------------------

    def _init_detector(self) -> None:
        self._move_legacy_detector_keys()
        preferences = self._store.load()
        stored, env = preferences.detector_path, os.environ.get(DETECTOR_ENV, "")
        candidate = Path(str(stored or env)).expanduser() if (stored or env) else None
        self.yunet_path = candidate if candidate is not None and candidate.is_file() else None
        choice = preferences.detector_kind
        self.detector_kind = "yunet" if self.yunet_path is not None and choice != "haar" else "haar"
        self.detector_notice = self.make_detector().notice

    def preferences(self):
        return self._store.load()

    def reload_preferences(self) -> None:
        """After File ▸ Preferences… saved: the detector file may have changed (the threads apply on next load)."""
        self._init_detector()
        self.changed.emit()

    def _move_legacy_detector_keys(self) -> None:
        if not self._settings.contains(DETECTOR_KEY) and not self._settings.contains(DETECTOR_CHOICE_KEY):
            return
        changes = {}
        if not self._store.load().detector_path and self._settings.value(DETECTOR_KEY, ""):
            changes["detector_path"] = str(self._settings.value(DETECTOR_KEY))
        if str(self._settings.value(DETECTOR_CHOICE_KEY, "")) in ("yunet", "haar"):
            changes["detector_kind"] = str(self._settings.value(DETECTOR_CHOICE_KEY))
        self._save(**changes)
        self._settings.remove(DETECTOR_KEY)
        self._settings.remove(DETECTOR_CHOICE_KEY)

    def _save(self, **changes) -> None:
        try:
            if changes:
                self._store.update(**changes)
        except PreferencesError as error:  # an unwritable config folder: the choice holds for this session
            self.detector_notice = str(error)

    def use_yunet(self, path: str | Path) -> str:
        """Switch to YuNet from `path`; returns "" or why it could not be used (the detector is unchanged)."""
        path = Path(path).expanduser()
        detector = make_detector(path)
        if detector.name != "yunet":
            return (f"{path.name} could not be used as a YuNet face detector ({detector.notice.split('fallback: ')[-1]}"
                    "). Download face_detection_yunet_2023mar.onnx from the OpenCV model zoo and choose it again.")
        self.yunet_path, self.detector_kind = path, "yunet"
        self.detector_notice = detector.notice
        self._save(detector_path=str(path), detector_kind="yunet")
        self.changed.emit()
        return ""

    def use_haar(self) -> None:
        self.detector_kind = "haar"
        self.detector_notice = self.make_detector().notice
        self._save(detector_kind="haar")
        self.changed.emit()

    def make_detector(self) -> FaceDetector:
        """A fresh detector for one worker thread."""
        if self.detector_kind == "yunet" and self.yunet_path is not None:
            detector = make_detector(self.yunet_path)
            if detector.name == "yunet":
                return detector
        reason = "chosen in the Estimate menu" if self.yunet_path is not None else "no YuNet model chosen"
        return HaarDetector(reason)

    def detector_description(self) -> str:
        if self.detector_kind == "yunet":
            return f"YuNet ({self.yunet_path.name})"
        return "Haar cascade (fewer faces found: choose a YuNet file in Estimate ▸ Detector)"

    # Status ------------------------------------------------------------------------------------------------

    def status_text(self) -> str:
        if self.loading is not None:
            model = f"loading {self.loading.describe()}…"
        elif self.model is not None:
            model = self.model_description.replace(" 0-", " 0–")
        else:
            model = "none loaded"
        return f"model: {model}  ·  detector: {self.detector_description()}"

    def shutdown(self) -> None:
        self._pending = None
        self._stop_loader()
