"""The training loop: a config dataclass, a Trainer reporting through callbacks (minGPT style), a stop
request honoured within one batch, a pause between batches (the app's Pause), one-dict checkpoints each
epoch and on stop, best.pt by validation MAE, a non-finite loss stopping the run before it spoils the
weights, resume, seeds, device choice, AMP on CUDA, AdamW + cosine / one-cycle, and DDP under torchrun.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ageapp.core.calibration import MIN_FACES
from ageapp.faces.alignment import CURRENT_TEMPLATE
from trainer import checkpoint as ckpt
from trainer.data import Augment, BatchLoader, CROP_H, build_crops, deduplicate, genders_tensor, make_source, \
    save_split, split_calibration, split_samples, targets_tensor
from trainer.evaluate import compute_metrics
from trainer.heads import AgeNet
from trainer.losses import AgeLoss

SCHEDULES = ("cosine", "onecycle")
# What may differ between a run and its --resume: where things are and how fast, not what is learnt.
RESUME_MAY_CHANGE = {"data", "val", "out", "device", "workers", "threads", "cache_dir", "detector", "resume",
                     "epochs", "amp", "compile", "calibration"}


@dataclass
class TrainConfig:
    data: str = ""
    also: list[str] = field(default_factory=list)  # more training folders/projects, labels read with --format auto
    format: str = "auto"
    aligned: bool = False
    val: str | None = None
    val_split: float = 0.2
    calib_split: float = 0.25  # share of the held-out part kept for calibration (never trained on or selected by)
    calibration: str = "isotonic"  # fitted after training on that part: none | temperature | isotonic
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
    size: int = CROP_H
    template: str = CURRENT_TEMPLATE  # the face template the crops are aligned to (ageapp.faces.alignment)
    augment: bool = True
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


# ----------------------------------------------------------------------------------------------- plumbing
def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """auto: CUDA, then MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but no CUDA GPU is available: use --device cpu")
        return torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)
    return torch.device(name)


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the step was not taken, so the saved weights are still finite."""


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    return DistInfo(rank, world, local_rank)


def wrap_distributed(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    if info.world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float,
                   backbone_lr_mult: float = 1.0) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices and conv kernels only (nanoGPT's rule); the backbone's learning
    rate scaled by backbone_lr_mult (a pretrained backbone is usually fine-tuned more gently)."""
    groups = {(b, d): [] for b in (True, False) for d in (True, False)}
    for name, param in getattr(model, "module", model).named_parameters():
        if param.requires_grad:
            groups[(name.startswith("backbone."), param.dim() >= 2)].append(param)
    return torch.optim.AdamW([
        {"params": params, "weight_decay": weight_decay if decay else 0.0,
         "lr": lr * (backbone_lr_mult if backbone else 1.0)}
        for (backbone, decay), params in groups.items() if params
    ], lr=lr)


def make_scheduler(optimizer, schedule: str, total_steps: int, warmup_steps: int, lr: float):
    """Per-step schedule: linear warm-up then cosine to 1% ('cosine'), or OneCycleLR ('onecycle')."""
    total_steps = max(1, total_steps)
    if schedule == "onecycle":
        if total_steps < 4:
            raise ValueError(f"a one-cycle schedule needs at least 4 steps (this run has {total_steps}): "
                             "use --schedule cosine, more epochs or a smaller --batch")
        # the warm-up phase must span at least one step boundary (OneCycleLR divides by its length)
        pct_start = min(0.5, max(warmup_steps / total_steps, 2.0 / total_steps, 0.05))
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                   total_steps=total_steps, pct_start=pct_start)
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ------------------------------------------------------------------------------------------------- trainer
class Trainer:
    """Runs epochs over a BatchLoader; callbacks 'on_batch_end'(trainer, info) and 'on_epoch_end'(trainer,
    metrics); `request_stop()` (or setting `stop_event`) ends the run after the current batch with a
    checkpoint; while `pause_event` is set the loop waits between batches (a stop still ends it).
    Checkpoints go to out/last.pt each epoch and on stop, out/best.pt when val MAE improves. A NaN or
    infinite loss raises NonFiniteLoss before the optimiser step, after saving out/last.pt."""

    def __init__(self, config: TrainConfig, model, train_loader: BatchLoader, val_loader: BatchLoader | None = None,
                 val_samples=None, device: torch.device | str = "cpu", dist_info: DistInfo | None = None,
                 stop_event: threading.Event | None = None, progress: bool = True, log: Callable = print,
                 pause_event: threading.Event | None = None):
        self.config, self.model = config, model
        self.forward = torch.compile(model) if config.compile else model  # training steps only; weights shared
        self.train_loader, self.val_loader, self.val_samples = train_loader, val_loader, val_samples or []
        self.device = torch.device(device)
        self.dist = dist_info or DistInfo()
        self.stop_event = stop_event or threading.Event()
        self.pause_event = pause_event or threading.Event()
        self.progress, self.log = progress and self.dist.main, log
        self.callbacks: dict[str, list[Callable]] = defaultdict(list)
        self.loss_fn = AgeLoss(config.loss, config.lam, config.gender_weight)
        self.optimizer = make_optimizer(model, config.lr, config.weight_decay, config.backbone_lr_mult)
        steps = len(train_loader)
        self.scheduler = make_scheduler(self.optimizer, config.schedule, steps * config.epochs,
                                        int(config.warmup_epochs * steps), config.lr)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.epoch, self.step, self.history, self.best_mae = 0, 0, [], None
        self.stopped = False

    # -- callbacks and control
    def add_callback(self, event: str, callback: Callable) -> None:
        self.callbacks[event].append(callback)

    def trigger(self, event: str, info: dict) -> None:
        for callback in self.callbacks[event]:
            callback(self, info)

    def request_stop(self) -> None:
        self.stop_event.set()

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    # -- checkpoints
    def checkpoint(self) -> dict:
        return ckpt.make_checkpoint(self.model, self.optimizer, self.scheduler, asdict(self.config), self.epoch,
                                    self.step, self.history, self.config.seed, self.best_mae)

    def save(self, name: str = "last.pt") -> Path | None:
        if not self.dist.main:
            return None
        path = self.out / name
        ckpt.save_checkpoint(self.checkpoint(), path)
        return path

    def restore(self, checkpoint: dict) -> None:
        module = getattr(self.model, "module", self.model)
        ckpt.load_state_strict(module, checkpoint["model"], "this network")
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scheduler") is not None:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epoch, self.step = int(checkpoint["epoch"]), int(checkpoint["step"])
        self.history, self.best_mae = list(checkpoint["history"]), checkpoint.get("best_mae")

    # -- one step
    def train_step(self, images, targets, genders) -> tuple[float, dict]:
        self.model.train()
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            outputs = self.forward(images)
        loss, parts = self.loss_fn(outputs, targets, genders)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        value = float(loss.detach())  # the step's one host sync, before the step: NaN never reaches the weights
        if not math.isfinite(value):
            self.optimizer.zero_grad(set_to_none=True)
            terms = ", ".join(f"{k} {v:.4g}" for k, v in parts.items())
            raise NonFiniteLoss(f"the training loss became {value} ({terms})")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return value, parts

    def _wait_while_paused(self) -> float:
        """Block between batches while paused (a stop request ends the wait); returns the seconds waited."""
        if not self.pause_event.is_set():
            return 0.0
        started = time.perf_counter()
        while self.pause_event.is_set() and not self.stop_event.is_set():
            self.stop_event.wait(0.05)
        return time.perf_counter() - started

    def _stop_requested(self) -> bool:
        flag = self.stop_event.is_set()
        if self.dist.world > 1:  # every rank stops at the same batch
            tensor = torch.tensor([1.0 if flag else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
            flag = bool(tensor.item() > 0)
        return flag

    # -- validation
    @torch.no_grad()
    def validate(self) -> dict:
        if self.val_loader is None or not self.val_samples:
            return {}
        model = getattr(self.model, "module", self.model)
        model.eval()
        posteriors, fs, female, losses = [], [], [], []
        for images, targets, genders, _ in self.val_loader:
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                outputs = model(images)
            loss, _ = self.loss_fn(outputs, targets, genders)
            losses.append(float(loss) * len(images))
            posteriors.append(outputs["log_posterior"].float().exp().double().cpu())
            fs.append(outputs["f"].float().cpu())
            female.append(torch.softmax(outputs["gender_logits"].float(), -1)[:, 1].cpu())
        prediction = {"posterior": torch.cat(posteriors).numpy(), "f": torch.cat(fs).numpy(),
                      "p_female": torch.cat(female).numpy()}
        metrics = compute_metrics(prediction, self.val_samples, hyper_only=self.config.loss == "hyper")
        metrics["loss"] = round(sum(losses) / max(1, len(self.val_samples)), 5)
        return metrics

    # -- the loop
    def run(self) -> dict:
        steps_per_epoch = len(self.train_loader)
        if steps_per_epoch == 0:
            raise ValueError("no training batch: the training set is smaller than one batch")
        while self.epoch < self.config.epochs and not self.stopped:
            self._run_epoch(steps_per_epoch)
        return {"epoch": self.epoch, "step": self.step, "stopped": self.stopped, "best_mae": self.best_mae,
                "history": self.history}

    def _run_epoch(self, steps_per_epoch: int) -> None:
        skip = self.step - self.epoch * steps_per_epoch  # batches already done in a resumed epoch
        self.train_loader.set_epoch(self.epoch)
        bar = tqdm(total=steps_per_epoch, initial=skip, desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                   file=sys.stderr, disable=not self.progress, dynamic_ncols=True, leave=False)
        started, seen, total_loss = time.perf_counter(), 0, 0.0
        for batch_index, (images, targets, genders, _) in enumerate(self.train_loader):
            if batch_index < skip:
                continue
            try:
                loss, parts = self.train_step(images, targets, genders)
            except NonFiniteLoss as error:
                bar.close()
                path = self.save("last.pt")
                raise NonFiniteLoss(
                    f"{error} at epoch {self.epoch + 1}, batch {batch_index + 1}: lower the learning rate "
                    f"(it was {self.config.lr:g}) or check the labels; the weights from just before are in {path}"
                ) from None
            seen += len(images) * self.dist.world
            total_loss += loss
            rate = seen / max(1e-9, time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", img_s=f"{rate:.0f}")
            self.trigger("on_batch_end", {"epoch": self.epoch, "batch": batch_index, "step": self.step,
                                          "loss": loss, **parts, "lr": self.scheduler.get_last_lr()[-1],
                                          "images_per_s": rate})
            if self.dist.world == 1:  # (under torchrun nobody pauses; every rank must reach the same batch)
                started += self._wait_while_paused()  # paused time is not training time
            if self._stop_requested():
                self.stopped = True
                bar.close()
                path = self.save("last.pt")
                self.log(f"stopped at epoch {self.epoch + 1}, batch {batch_index + 1}; checkpoint {path}")
                return
        bar.close()
        train_time = time.perf_counter() - started
        if self.dist.world > 1:  # the mean training loss over all ranks
            tensor = torch.tensor([total_loss], device=self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(tensor)
            total_loss = float(tensor.item()) / self.dist.world
        self.epoch += 1
        metrics = {"epoch": self.epoch, "train_loss": round(total_loss / max(1, steps_per_epoch - skip), 5),
                   "images_per_s": round(seen / max(1e-9, train_time), 2), "lr": self.scheduler.get_last_lr()[-1]}
        if self.dist.main:
            metrics.update({f"val_{k}": v for k, v in self.validate().items()})
        self.history.append(metrics)
        if self.dist.main:
            val_mae = metrics.get("val_mae")
            if val_mae is not None and (self.best_mae is None or val_mae < self.best_mae):
                self.best_mae = val_mae
                self.save("best.pt")
            self.save("last.pt")
            if val_mae is None:  # no validation set: the latest is the best we know
                self.save("best.pt")
            self.log(json.dumps(metrics))
        if self.dist.world > 1:
            dist.barrier()
        self.trigger("on_epoch_end", metrics)


# ------------------------------------------------------------------------------------------ whole training
def _progress(enabled: bool):
    return lambda it, **kw: tqdm(it, file=sys.stderr, disable=not enabled, dynamic_ncols=True, **kw)


def training_sources(config: TrainConfig) -> list:
    """--data read with --format, then each --also folder with its format detected."""
    return [make_source(config.data, config.format, config.aligned)] + [make_source(path) for path in config.also]


def prepare_samples(config: TrainConfig, log: Callable, progress) -> tuple[list, list, list[str], dict]:
    """(train samples, val samples, problems, info) after de-duplication, --limit and the split."""
    samples, problems = [], []
    for source in training_sources(config):
        found, trouble = source.samples(progress=lambda it: progress(it, desc="hashing"))
        samples += found
        problems += trouble
    samples, dropped = deduplicate(samples)
    info = {"found": len(samples) + dropped, "duplicates_dropped": dropped}
    if config.limit:
        order = np.random.default_rng(config.seed).permutation(len(samples))[: config.limit]
        samples = [samples[i] for i in sorted(order)]
    if config.val:
        val_samples, val_problems = make_source(config.val, config.format, config.aligned).samples()
        problems += val_problems
        val_samples, _ = deduplicate(val_samples)
        train_keys = {s.key for s in samples}
        overlap = sum(s.key in train_keys for s in val_samples)
        if overlap:
            log(f"warning: {overlap} validation images are also in the training data; they are dropped from training")
            val_keys = {s.key for s in val_samples}
            samples = [s for s in samples if s.key not in val_keys]
        train_samples = samples
    else:
        train_samples, val_samples = split_samples(samples, config.val_split, config.seed)
    return train_samples, val_samples, problems, info


def train(config: TrainConfig, stop_event: threading.Event | None = None,
          callbacks: dict[str, list[Callable]] | None = None, log: Callable = print, progress: bool = True,
          pause_event: threading.Event | None = None) -> dict:
    """Everything `python -m trainer train` does; returns the final summary (the CLI's JSON line)."""
    info_dist = setup_distributed(config.device)
    show = progress and info_dist.main
    say = log if info_dist.main else (lambda *a, **k: None)
    out = Path(config.out)
    resume_from = out / "last.pt"
    if config.resume:
        if not resume_from.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint {resume_from}; start without --resume")
        previous = ckpt.load_checkpoint(resume_from)
        saved = previous["config"]
        changed = {k: (saved.get(k), getattr(config, k)) for k in saved
                   if k not in RESUME_MAY_CHANGE and saved.get(k) != getattr(config, k, None)}
        if changed:
            say(f"--resume keeps the run's settings; ignoring changes to: {', '.join(sorted(changed))}")
        kept = {k: getattr(config, k) for k in RESUME_MAY_CHANGE}
        if saved.get("schedule") == "onecycle" and kept["epochs"] != saved.get("epochs"):
            say("--resume: a one-cycle schedule cannot be lengthened; keeping the run's --epochs")
            kept["epochs"] = saved.get("epochs")
        config = TrainConfig.from_dict({**saved, **kept, "resume": True})
    set_seed(config.seed + info_dist.rank)
    device = pick_device(config.device, info_dist.local_rank)
    if config.threads:
        torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)

    train_samples, val_samples, problems, info = prepare_samples(config, say, _progress(show))
    val_samples, calib_samples = split_calibration(val_samples, config.calib_split, config.seed)
    say(f"{info['found']} labelled images, {info['duplicates_dropped']} duplicates dropped, "
        f"{len(problems)} problems; train {len(train_samples)}, validation {len(val_samples)}, "
        f"calibration {len(calib_samples)}")
    if info_dist.main:
        save_split(out / "split.json", val_samples, calib_samples, data=str(config.data), format=config.format,
                   seed=config.seed, val_split=config.val_split if not config.val else None, val_path=config.val,
                   calib_split=config.calib_split)
        (out / "config.json").write_text(json.dumps(asdict(config), indent=1))
        if problems:
            (out / "problems.txt").write_text("\n".join(problems) + "\n")

    identity = "+".join(source.identity for source in training_sources(config))
    build = lambda samples, ident: build_crops(  # noqa: E731
        samples, ident, config.detector, config.aligned, config.cache_dir, config.workers,
        progress=_progress(show), log=say, template=config.template)
    if info_dist.world > 1 and not info_dist.main:
        dist.barrier()  # rank 0 detects faces and fills the cache first
    train_set = build(train_samples, identity)
    val_identity = make_source(config.val, config.format, config.aligned).identity if config.val else identity
    val_set = build(val_samples, val_identity)
    calib_set = build(calib_samples, val_identity) if calib_samples else None
    if info_dist.world > 1 and info_dist.main:
        dist.barrier()
    say(f"faces: train {len(train_set.samples)} (no face: {len(train_set.no_face)}), "
        f"validation {len(val_set.samples)} (no face: {len(val_set.no_face)})")

    sampler = None
    if info_dist.world > 1:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(len(train_set.samples)), num_replicas=info_dist.world,
                                     rank=info_dist.rank, shuffle=True, seed=config.seed, drop_last=True)
    train_loader = BatchLoader(train_set.crops, targets_tensor(train_set.samples, config.age_max),
                               genders_tensor(train_set.samples), config.batch, shuffle=True,
                               augment=Augment() if config.augment else None, size=config.size, seed=config.seed,
                               device=device, drop_last=True, sampler=sampler, channels_last=config.channels_last)
    val_loader = BatchLoader(val_set.crops, targets_tensor(val_set.samples, config.age_max),
                             genders_tensor(val_set.samples), config.batch * 2, size=config.size, device=device,
                             channels_last=config.channels_last) if val_set.samples else None

    model = AgeNet(config.net, config.age_max, config.head, config.beta,
                   pretrained=config.pretrained and not config.resume)
    notice = getattr(model.backbone, "notice", "")
    if notice:
        say(notice)
    loaded = ""
    if config.init and not config.resume:
        loaded = ckpt.load_init_weights(model, config.init)
        say("init: " + loaded)
    if not config.resume and not loaded.startswith("whole model"):
        model.ordinal.init_from_targets(train_loader.targets)
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = wrap_distributed(model, info_dist, device)

    trainer = Trainer(config, model, train_loader, val_loader, val_set.samples, device, info_dist, stop_event,
                      progress=show, log=say, pause_event=pause_event)
    for event, functions in (callbacks or {}).items():
        for function in functions:
            trainer.add_callback(event, function)
    if config.resume:
        trainer.restore(previous)
        say(f"resumed from {resume_from} at epoch {trainer.epoch}, step {trainer.step}")
    result = trainer.run()
    calibration = {}
    calib_faces = len(calib_set.samples) if calib_set is not None else 0
    if info_dist.main and not result["stopped"] and 0 < calib_faces < MIN_FACES:
        say(f"calibration skipped: {calib_faces} held-out faces for it (needs {MIN_FACES}); run "
            "`python -m trainer calibrate` on more labelled faces the model never trained on")
    elif info_dist.main and not result["stopped"] and calib_faces and config.calibration != "none":
        from trainer.calibrate import calibrate_checkpoint

        say(f"calibrating on {len(calib_set.samples)} held-out faces ({config.calibration})")
        fitted = calibrate_checkpoint(out / "best.pt", calib_set, config.calibration, flip=True, device=device,
                                      progress=_progress(show))
        calibration = {"calibration": fitted.method, "calibration_n": fitted.n, "temperature": fitted.temperature,
                       "calibration_before": fitted.before, "calibration_after": fitted.after}
        say(f"calibration: before {json.dumps(fitted.before)}; after {json.dumps(fitted.after)}")
    last = result["history"][-1] if result["history"] else {}
    summary = {
        "out": str(out), "epochs_done": result["epoch"], "stopped": result["stopped"],
        "best_val_mae": result["best_mae"], "train": len(train_set.samples), "val": len(val_set.samples),
        "calib": len(calib_set.samples) if calib_set else 0, **calibration,
        "no_face": len(train_set.no_face) + len(val_set.no_face), "duplicates_dropped": info["duplicates_dropped"],
        "problems": len(problems), "device": str(device), "world_size": info_dist.world,
        **{k: v for k, v in last.items() if k != "epoch"},
        "best": str(out / "best.pt"), "last": str(out / "last.pt"), "split_file": str(out / "split.json"),
        "rank": info_dist.rank,
    }
    if info_dist.world > 1:
        dist.destroy_process_group()
    return summary
