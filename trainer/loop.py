"""The training loop: a Trainer reporting through callbacks (minGPT style), a stop request honoured within one
batch, a pause between batches (the app's Pause), one-dict checkpoints each epoch and on stop, best.pt by
validation MAE, a non-finite loss stopping the run before it spoils the weights, resume, AMP on CUDA, an
optional torch.compile of the training steps, and DDP under torchrun.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from tqdm import tqdm

from trainer import checkpoint as ckpt
from trainer.batches import BatchLoader
from trainer.evaluate import compute_metrics
from trainer.losses import AgeLoss, js_divergence
from trainer.config import TrainConfig
from trainer.runtime import DistInfo, NonFiniteLoss, make_optimizer, make_scheduler


class Trainer:
    """Runs epochs over a BatchLoader; callbacks 'on_batch_end'(trainer, info) and 'on_epoch_end'(trainer,
    metrics); `request_stop()` (or setting `stop_event`) ends the run after the current batch with a
    checkpoint; while `pause_event` is set the loop waits between batches (a stop still ends it).
    Checkpoints go to out/last.pt each epoch and on stop, out/best.pt when val MAE improves. A NaN or
    infinite loss raises NonFiniteLoss before the optimiser step, after saving out/last.pt."""

    def __init__(self, config: TrainConfig, model, train_loader: BatchLoader, val_loader: BatchLoader | None = None,
                 val_samples=None, device: torch.device | str = "cpu", dist_info: DistInfo | None = None,
                 stop_event: threading.Event | None = None, progress: bool = True, log: Callable = print,
                 pause_event: threading.Event | None = None, split_record: dict | None = None):
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
        self.split_record = split_record  # the run's split as its checkpoints keep it (checkpoint.encode_split)

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
                                    self.step, self.history, self.config.seed, self.best_mae, split=self.split_record)

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
        if self.config.consistency > 0:  # paired batches: clean views, then the same faces degraded
            half = len(images) // 2
            log_posterior = outputs["log_posterior"]
            consistency = js_divergence(log_posterior[:half], log_posterior[half:])
            parts["consistency"] = float(consistency.detach())
            loss = loss + self.config.consistency * consistency
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
