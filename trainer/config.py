"""A training run's settings (nanoGPT's config dataclass): what is learnt, from what data, for how long, where.
The model's own description (network, ages, head, input size, face template, loss) is derived from it and
kept apart in checkpoints (ageapp.core.model_description); `RESUME_MAY_CHANGE` lists what a resumed run may
change (where things are and how fast, not what is learnt).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


from ageapp.faces.alignment import CROP_HEIGHT, CURRENT_TEMPLATE


SCHEDULES = ("cosine", "onecycle")


# What may differ between a run and its --resume: where things are and how fast, not what is learnt.
RESUME_MAY_CHANGE = {"data", "val", "out", "device", "workers", "threads", "cache_dir", "detector", "resume",
                     "epochs", "amp", "compile", "calibration"}


@dataclass
class TrainConfig:
    data: str = ""
    also: list[str] = field(default_factory=list)  # more training folders/projects, labels read with --format auto
    format: str = "auto"
    project_posterior: str = "likelihood"  # a project's queries: likelihood-only posteriors, or "prior" (as labelled)
    aligned: bool = False
    val: str | None = None
    val_split: float = 0.2
    calib_split: float = 0.25  # share of the held-out part kept for calibration (never trained on or selected by)
    calibration: str = "mondrian"  # fitted after training on that part: none | temperature | isotonic | mondrian
    out: str = "runs/age"
    net: str = "mobilefacenet"
    init: str | None = None
    pretrained: bool = True  # ImageNet weights for the torchvision backbones (where they can be downloaded)
    loss: str = "joint"
    head: str = "paper"
    age_max: int = 100
    beta: float = 0.36
    lam: float = 1.0
    gender_weight: float = 5.0  # measured: 5 lifts gender accuracy 82 -> 90% at no cost in age MAE
    epochs: int = 10
    batch: int = 64
    lr: float = 1e-3
    backbone_lr_mult: float = 1.0
    weight_decay: float = 0.01
    schedule: str = "cosine"
    warmup_epochs: float = 0.3
    size: int = CROP_HEIGHT
    template: str = CURRENT_TEMPLATE  # the face template the crops are aligned to (ageapp.faces.alignment)
    augment: bool = True
    balance: float = 0.0  # rare ages drawn more often: weight = label density ** -balance (trainer.balance)
    degrade: float = 0.5  # share of training faces whose picture quality is lowered (trainer.degrade); 0: none
    consistency: float = 0.0  # > 0: every face twice, clean and degraded, + this weight x JS(their posteriors)
    device: str = "auto"
    amp: bool = True
    seed: int = 0
    workers: int = 0
    threads: int | None = None
    limit: int | None = None
    detector: str | None = None
    cache_dir: str | None = None
    resume: bool = False
    channels_last: bool = False
    compile: bool = False  # torch.compile the training forward (about 1.5x faster on a CPU after ~2 min)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
