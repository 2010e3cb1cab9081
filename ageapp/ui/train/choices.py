"""The training form's choices: defaults, what each backbone can start from, remembering the last choices
(the preferences file's `training`; builds before it kept them in QSettings, group "training", moved on first
load), and turning them into the fields of a `trainer.config.TrainConfig`.

No widgets here; the form (form.py) shows these choices and the worker (worker.py) runs them.
Nothing here imports torch: the app starts without it, and the worker thread pays for that import.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from PySide6.QtCore import QSettings

from ageapp.preferences import PreferencesError
from ageapp.resources import _SOURCE_ROOT, resource_path
from ageapp.ui.shell.preferences import default_store

NETS = {  # value -> label (trainer.nets.NET_NAMES)
    "mobilefacenet": "MobileFaceNet (fast, face-pretrained)",
    "vgg-quarter": "VGG-16 quarter (the paper's)",
    "mobilenet_v3_small": "MobileNetV3 small",
    "resnet18": "ResNet-18",
    "tiny": "Tiny (smoke tests only)",
}
FACE, IMAGENET, NONE, FILE = "face", "imagenet", "none", "file"
INIT_LABELS = {FACE: "Face verification (MobileFaceNet, CASIA)", IMAGENET: "ImageNet weights",
               NONE: "None (random)", FILE: "A checkpoint file…"}
NET_INITS = {
    "mobilefacenet": (FACE, NONE, FILE),
    "vgg-quarter": (NONE, FILE),
    "mobilenet_v3_small": (IMAGENET, NONE, FILE),
    "resnet18": (IMAGENET, NONE, FILE),
    "tiny": (NONE, FILE),
}
LOSSES = {"joint": "Joint (KL + cost-sensitive)", "kl": "KL only", "hyper": "Cost-sensitive only"}
HEADS = {"paper": "Paper (fixed width, β)", "concentration": "Concentration (learned width)"}
FACE_CHECKPOINT_NAME = "mobilefacenet_casia.ckpt"
FINE_TUNE_LR = 1e-4  # the shipped model's fine-tuning stages (resources/models/default.md)
_GROUP = "training"  # the QSettings group of builds before the preferences file
log = logging.getLogger("ageapp.train")


def face_checkpoint_candidates(remembered: str = "") -> list[Path]:
    """Where the MobileFaceNet face-verification checkpoint may be: the remembered path, a bundled copy,
    and ../shared/models/ beside the source tree (development)."""
    candidates = [Path(remembered).expanduser()] if remembered else []
    candidates += [resource_path(f"models/{FACE_CHECKPOINT_NAME}"),
                   _SOURCE_ROOT.parent / "shared" / "models" / FACE_CHECKPOINT_NAME]
    return candidates


def find_face_checkpoint(remembered: str = "") -> Path | None:
    return next((path for path in face_checkpoint_candidates(remembered) if path.is_file()), None)


def checkpoint_architecture(path: str | Path) -> dict | None:
    """The backbone, head and input height a checkpoint of ours was made with ({"net", "head", "size"}), so
    that a run started from it takes the whole model rather than its backbone alone; None for other files
    (the face-verification checkpoint, a plain state dict) and files that cannot be read (the run says why)."""
    try:
        from ageapp.core.model_description import FORMAT
        from trainer.checkpoint import description_of, safe_load

        data = safe_load(path)
        if data.get("format") != FORMAT:
            return None
        description = description_of(data)
    except Exception as error:  # noqa: BLE001 - no torch, a damaged file ...: the run itself says why
        log.info("the form does not follow %s: %s", path, error)
        return None
    return {"net": description.net, "head": description.head, "size": int(description.size)}


def follow_checkpoint(choices: "TrainChoices", architecture: dict, sizes: tuple[int, int]) -> bool:
    """Set the choices to a checkpoint's backbone, head and input size (`checkpoint_architecture`; a size
    outside `sizes` is left as set), so that the run starts from its whole model, and a learning rate still at
    the from-scratch default to FINE_TUNE_LR. False, with nothing changed, for one the form does not offer."""
    if architecture["net"] not in NETS or architecture["head"] not in HEADS:
        return False
    choices.net, choices.head = architecture["net"], architecture["head"]
    if sizes[0] <= architecture["size"] <= sizes[1]:
        choices.size = architecture["size"]
    if choices.lr == TrainChoices.lr:
        choices.lr = FINE_TUNE_LR
    return True


@dataclass
class TrainChoices:
    use_project: bool = True  # the open project's labelled faces
    extra_sources: list[str] = field(default_factory=list)  # more folders / projects
    val_split: float = 0.2
    net: str = "mobilefacenet"
    init: str = FACE
    init_file: str = ""
    face_checkpoint: str = ""  # remembered location of the face-verification checkpoint
    loss: str = "joint"
    head: str = "paper"
    epochs: int = 10
    batch: int = 64
    lr: float = 1e-3
    size: int = 112
    device: str = "auto"

    # -- remembering
    @classmethod
    def load(cls, settings: QSettings | None = None) -> "TrainChoices":
        """The last choices; `settings` is only read for what older builds left in QSettings (moved over)."""
        stored = default_store().load().training or _move_from_qsettings(settings)
        choices = cls()
        for f in fields(cls):
            if f.name not in stored:
                continue
            try:
                setattr(choices, f.name, _coerce(stored[f.name], getattr(choices, f.name)))
            except (TypeError, ValueError):
                pass  # a damaged value: keep the default
        return choices.sanitised()

    def save(self, settings: QSettings | None = None) -> None:  # noqa: ARG002 (older callers pass QSettings)
        try:
            default_store().update(training=asdict(self))
        except PreferencesError as error:  # an unwritable config folder: the run goes on, unremembered
            log.warning("training choices not remembered: %s", error)

    def sanitised(self) -> "TrainChoices":
        if self.net not in NETS:
            self.net = TrainChoices.net
        if self.init not in NET_INITS[self.net]:
            self.init = default_init(self.net, self.face_checkpoint)
        self.loss = self.loss if self.loss in LOSSES else "joint"
        self.head = self.head if self.head in HEADS else "paper"
        self.val_split = min(0.5, max(0.05, float(self.val_split)))
        self.epochs, self.batch, self.size = max(1, int(self.epochs)), max(2, int(self.batch)), max(32, int(self.size))
        self.lr = float(self.lr) if float(self.lr) > 0 else 1e-3
        return self

    # -- to a trainer config
    def sources(self, project: str | Path | None) -> list[str]:
        return ([str(project)] if self.use_project and project else []) + list(self.extra_sources)

    def to_config(self, project: str | Path | None, age_max: int, detector: str | None = None) -> dict:
        """The run's TrainConfig fields (out left empty: the worker makes the run folder); ValueError (worded
        for the user) when the choices cannot make a run."""
        sources = self.sources(project)
        if not sources:
            raise ValueError("Choose the data to train on: this project's labelled faces, or another project or "
                             "folder under “Also train on”.")
        init, pretrained = None, self.init == IMAGENET
        if self.init == FACE:
            found = find_face_checkpoint(self.face_checkpoint)
            if found is None:
                raise ValueError(f"The face-verification checkpoint ({FACE_CHECKPOINT_NAME}) was not found. Choose "
                                 "it with “Initialisation ▸ A checkpoint file…”, or start from “None”.")
            init = str(found)
        elif self.init == FILE:
            if not self.init_file or not Path(self.init_file).is_file():
                raise ValueError("Choose the checkpoint to start from (Initialisation ▸ A checkpoint file…), or "
                                 "pick another initialisation.")
            init = self.init_file
        data = sources[0]
        return dict(
            data=data, also=sources[1:], format="project" if data.endswith(".ageproj") else "auto",
            val_split=self.val_split, net=self.net, init=init, pretrained=pretrained, loss=self.loss,
            head=self.head, age_max=int(age_max), epochs=self.epochs, batch=self.batch, lr=self.lr, size=self.size,
            device=self.device, detector=detector, out="",
        )


def default_init(net: str, remembered_face_checkpoint: str = "") -> str:
    options = NET_INITS.get(net, (NONE, FILE))
    if options[0] == FACE and find_face_checkpoint(remembered_face_checkpoint) is None:
        return NONE
    return options[0]


def _move_from_qsettings(settings: QSettings | None) -> dict:
    """The QSettings group "training" of older builds as a dict, written to the preferences and removed."""
    settings = settings if settings is not None else QSettings()
    if _GROUP not in settings.childGroups():
        return {}
    settings.beginGroup(_GROUP)
    try:
        stored = {name: settings.value(name) for name in settings.childKeys()}
    finally:
        settings.endGroup()
    choices = TrainChoices()
    typed = {}
    for f in fields(TrainChoices):
        if f.name in stored:
            try:
                typed[f.name] = _coerce(stored[f.name], getattr(choices, f.name))
            except (TypeError, ValueError):
                pass
    try:
        default_store().update(training=typed)
    except PreferencesError as error:
        log.warning("training choices not moved to the preferences file: %s", error)
        return typed
    settings.remove(_GROUP)
    settings.sync()
    return typed


def _coerce(value, default):
    """QSettings (INI) hands back strings; give the value the type of the field's default."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, list):
        if value in (None, ""):
            return []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return "" if value is None else str(value)
