"""The model and the face detector the estimate page uses, and switching between them.

Which ones is ageapp.model's decision (`choose_model`, `choose_detector`): what the user named in the Estimate
menu this session, else the open project's (its active model, its detector), else the defaults (the shipped
model; the preferred YuNet file, $AGEAPP_DETECTOR, the Haar cascade). The engine only remembers what was named
and asks again whenever the project, its active model or the preferences change (`refresh`); a change is
announced by `estimation_changing` (the shown results are old from then) and `estimation_changed` (the new
model or detector is ready: re-run them).

The model loads in a background thread (`ModelLoadWorker`: ONNX Runtime's session, or torch for a checkpoint,
takes a moment); an action that needs it (`when_model_ready`) waits for it. Each worker gets its own detector
(`make_detector()`): OpenCV's detectors are not safe to share between threads. The chosen YuNet file and
the network's thread count are preferences (ageapp.preferences: File ▸ Preferences… and the Estimate menu).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QSettings, Signal

from ageapp.estimation.display import live_inference_threads
from ageapp.estimation.pipeline import model_name
from ageapp.faces.detection import FaceDetector, make_detector
from ageapp.model import DetectorChoice, choose_detector, choose_model, default_model_path, open_detector, open_model
from ageapp.model.resolve import DEFAULT_ONNX as DEFAULT_MODEL
from ageapp.model.resolve import HAAR
from ageapp.model.resolve import PROJECT as PROJECT_SOURCE
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
    name: str = ""  # the project's name for its active model ("run 3 · mobilefacenet")

    def resolved_path(self) -> Path:
        return default_model_path() if self.kind == DEFAULT else Path(self.path)

    def describe(self) -> str:
        if self.kind == DEFAULT:
            return "the default model"
        if self.kind == PROJECT:
            return f"the project's active model{f' ({self.name})' if self.name else ''}"
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
    estimation_changing = Signal()  # another model or detector is on its way: results shown are old from now
    estimation_changed = Signal()  # ... and is ready: results made before are to be made again

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
        self._db = None
        self.named_model: ModelSource | None = None  # chosen in the Estimate menu this session (None: follow)
        self.named_detector: str | None = None  # a YuNet file or HAAR chosen this session (None: follow)
        self._failed: ModelSource | None = None  # the last model that could not be loaded (not retried by refresh)
        self.project_model_path: Path | None = None
        self.project_model_name = ""
        self.detector_choice = DetectorChoice(None, "default")
        self.detector_notice = ""
        self.detector_name = ""  # the detector the choice opens as ("haar" where a YuNet file could not be used)
        self._move_legacy_detector_keys()
        self._choose_detector()

    # The project and the choice --------------------------------------------------------------------------------

    def set_project(self, db) -> None:
        """The window's project opened (db) or closed (None): follow its model and detector unless named."""
        self._db = db
        self.refresh()

    def wanted_model(self) -> ModelSource:
        """The model ageapp.model's resolver picks now: the named one, else the project's, else the default."""
        self._read_project_model()
        if self.named_model is not None:
            return self.named_model
        if self.project_model_path is not None:
            return ModelSource(PROJECT, self.project_model_path, self.project_model_name)
        return ModelSource(DEFAULT)

    def _read_project_model(self) -> None:
        path, name = None, ""
        if self._db is not None:
            try:
                choice = choose_model(None, self._db)
            except Exception:  # noqa: BLE001 - a closed or damaged project: no project model to offer
                choice = None
            if choice is not None and choice.source == PROJECT_SOURCE:
                path, name = choice.path, choice.name
        self.project_model_path, self.project_model_name = path, name

    def refresh(self) -> bool:
        """Ask the resolver again (the project, its active model or the preferences changed); load another model
        or open another detector when its answer changed. True when something changes."""
        detector_changed = self._choose_detector()
        wanted = self.wanted_model()
        model_changed = wanted != (self.loading or self.source) and wanted != self._failed
        if model_changed and (self.model is not None or self.loading is not None or self.problem):
            if self.model is not None:
                self.estimation_changing.emit()
            self.load_model(wanted)
        elif model_changed:
            self.source = wanted  # nothing loaded yet: it loads on first use
        if detector_changed and not model_changed:
            self.estimation_changing.emit()
            self.estimation_changed.emit()
        self.changed.emit()
        return model_changed or detector_changed

    def follow_project(self) -> None:
        """Forget the model named this session: the project's active model (else the default) again. A run
        made active in Train ▸ Runs… comes here: "labelling and estimation use it" holds."""
        self.named_model = None
        self.refresh()

    def choose_named_model(self, source: ModelSource) -> bool:
        """The default model or a checkpoint file, named by the user for this session (it outranks the
        project's active model until the project's active model changes or the user follows the project)."""
        self.named_model = None if source.kind == PROJECT else source
        if source != (self.loading or self.source) or self.model is None:
            if self.model is not None:
                self.estimation_changing.emit()
            return self.load_model(source)
        self.changed.emit()
        return True

    # Model -------------------------------------------------------------------------------------------------

    def use_model(self, model, description: str | None = None, source: ModelSource | None = None) -> None:
        """Use an already loaded model (tests, and the loader's result)."""
        replaced = self.model is not None
        self.model = model
        self.model_description = description or getattr(model, "summary", type(model).__name__)
        if source is not None:
            self.source = source
        self.problem = ""
        self._failed = None
        self.changed.emit()
        self.model_ready.emit()
        if replaced:
            self.estimation_changed.emit()
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()

    def load_model(self, source: ModelSource) -> bool:
        """Start loading in the background; False (and `model_failed`) when there is nothing to load."""
        path = source.resolved_path() if source.kind == DEFAULT or source.path else None
        if path is None or not path.is_file():
            if self.model is None:
                self.source = source
            self._failed = source
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
        """Run `action` now if a model is loaded (and no other is on its way), else once one has loaded (the
        latest request wins)."""
        if self.model is not None and self.loading is None:
            action()
            return
        self._pending = action
        if self.loading is None:
            self.load_model(self.source)

    def is_loading(self) -> bool:
        return self.loading is not None

    def wait_for_loader(self, timeout_ms: int = 30000) -> bool:
        return self._loader is None or self._loader.wait(timeout_ms)

    def signature(self) -> tuple[str, str]:
        """(model, detector) as photo results name them (ageapp.estimation.pipeline.model_name), for the model
        loaded now and the detector chosen now, as it opens (a YuNet file that cannot be used opens as the Haar
        cascade, and the results say so): results with another signature are old."""
        return model_name(self.model), self.detector_name

    def _on_loaded(self, worker: ModelLoadWorker, model, source: ModelSource) -> None:
        if worker is not self._loader:  # superseded by a later choice
            return
        self._loader, self.loading = None, None
        self.use_model(model, source=source)

    def _on_load_failed(self, worker: ModelLoadWorker, message: str, source: ModelSource) -> None:
        if worker is not self._loader:
            return
        self._loader, self.loading = None, None
        self._failed = source
        still = f" Still using {self.model_description}." if self.model is not None else ""
        if self.model is None:
            self.source = source
        self._pending = None if self.model is None else self._pending
        self._fail(f"{source.describe().capitalize()} could not be loaded: {message.rstrip('.')}.{still} "
                   f"Choose another with {CHOOSE_CHECKPOINT}")
        if self.model is not None:  # the old model stands: what waited for the new one goes on with it
            pending, self._pending = self._pending, None
            if pending is not None:
                pending()

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

    def _choose_detector(self) -> bool:
        """Ask the resolver which detector to use now; True when that changed."""
        choice = choose_detector(self.named_detector, self._db, self._store.load().preferred_detector())
        if choice == self.detector_choice and self.detector_notice:
            return False
        changed = choice.path != self.detector_choice.path or choice.kind != self.detector_choice.kind
        self.detector_choice = choice
        detector = self.make_detector()
        self.detector_notice, self.detector_name = detector.notice, detector.name
        return changed

    @property
    def detector_kind(self) -> str:
        return self.detector_choice.kind

    @property
    def yunet_path(self) -> Path | None:
        return self.detector_choice.path

    def preferences(self):
        return self._store.load()

    def reload_preferences(self) -> None:
        """After File ▸ Preferences… saved: the detector file may have changed (the threads apply on next load)."""
        self.refresh()

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
        """Name YuNet from `path` for this session (and as the preference); returns "" or why it could not be
        used (the detector is unchanged)."""
        path = Path(path).expanduser()
        detector = make_detector(path)
        if detector.name != "yunet":
            return (f"{path.name} could not be used as a YuNet face detector ({detector.notice.split('fallback: ')[-1]}"
                    "). Download face_detection_yunet_2023mar.onnx from the OpenCV model zoo and choose it again.")
        self.named_detector = str(path)
        self._save(detector_path=str(path), detector_kind="yunet")
        self.refresh()
        return ""

    def use_haar(self) -> None:
        """Name the Haar cascade for this session (and as the preference)."""
        self.named_detector = HAAR
        self._save(detector_kind=HAAR)
        self.refresh()

    def follow_detector(self) -> None:
        """Forget the detector named this session: the project's, else the preferred one, again."""
        self.named_detector = None
        self.refresh()

    def make_detector(self) -> FaceDetector:
        """A fresh detector for one worker thread."""
        return open_detector(self.detector_choice)

    def detector_description(self) -> str:
        choice = self.detector_choice
        if choice.kind == "yunet":
            return choice.label()
        return f"{choice.label()}: fewer faces found; choose a YuNet file in Estimate ▸ Detector"

    # Status ------------------------------------------------------------------------------------------------

    def status_text(self) -> str:
        if self.loading is not None:
            model = f"loading {self.loading.describe()}…"
        elif self.model is not None:
            model = self.model_description.replace(" 0-", " 0–")
            if self.source.kind == PROJECT:
                model += f" · the project's active model{f' ({self.source.name})' if self.source.name else ''}"
        else:
            model = "none loaded"
        return f"model: {model}  ·  detector: {self.detector_description()}"

    def shutdown(self) -> None:
        self._pending = None
        self._stop_loader()
