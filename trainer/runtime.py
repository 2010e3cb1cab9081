"""What a run runs on: device choice, seeds, data-parallel plumbing under torchrun (NCCL on GPUs, gloo on CPU),
the optimiser (AdamW, weight decay on matrices only) and the learning-rate schedule (cosine or one-cycle).
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from trainer.config import SCHEDULES


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
