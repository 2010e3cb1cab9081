"""Batches straight from the in-memory uint8 crops: targets and genders as tensors, batched augmentation (flip,
shift, scale, rotation, colour) on the target device, and a loader that prepares the next batch in a thread.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from trainer.samples import Sample
from trainer.crops import CROP_H, CROP_W
from trainer.degrade import Degrade


def input_width(height: int) -> int:
    """Input width for an input height, keeping the 112:96 aspect."""
    return int(round(height * CROP_W / CROP_H))


def targets_tensor(samples: Sequence[Sample], age_max: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([s.target(age_max) for s in samples]).astype(np.float32))


def genders_tensor(samples: Sequence[Sample]) -> torch.Tensor:
    return torch.tensor([s.gender for s in samples], dtype=torch.int64)


@dataclass
class Augment:
    """Batched augmentation: flip, shift, scale (one grid_sample that also resizes), colour jitter."""

    flip: float = 0.5
    shift: float = 0.06  # fraction of the half-size (grid coordinates run -1..1)
    scale: float = 0.08  # zoom factor range 1 +- scale
    rotate_deg: float = 5.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __call__(self, images: torch.Tensor, out_size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        n = images.shape[0]
        rand = lambda: torch.rand(n, generator=generator) * 2 - 1  # noqa: E731  uniform -1..1
        zoom = 1.0 + self.scale * rand()
        angle = torch.deg2rad(self.rotate_deg * rand())
        flip = torch.where(torch.rand(n, generator=generator) < self.flip, -1.0, 1.0)
        tx, ty = self.shift * rand(), self.shift * rand()
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
        b, c, s = 1 + self.brightness * rand(), 1 + self.contrast * rand(), 1 + self.saturation * rand()
        device = images.device
        grid = F.affine_grid(theta.to(device), [n, 3, *out_size], align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        view = lambda t: t.to(device).view(n, 1, 1, 1)  # noqa: E731
        grey = out.mean(dim=1, keepdim=True)
        out = grey + (out - grey) * view(s)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * view(c) + mean
        return (out * view(b)).clamp_(0, 255)


def resize_batch(images: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    if tuple(images.shape[-2:]) == tuple(out_size):
        return images
    return F.interpolate(images, size=out_size, mode="bilinear", align_corners=False, antialias=True)


class BatchLoader:
    """Batches straight from the in-memory uint8 crops: (images float BGR 0..255, targets, genders, indices).

    Order comes from `sampler` (a DistributedSampler under torchrun), from `weights` (trainer.balance: drawn
    with replacement in proportion to them, as many as there are crops) or a seeded permutation per epoch;
    augmentation runs on whole batches on the target device, then `degrade` (trainer.degrade) lowers the picture
    quality of a random share of them; a background thread prepares the next batch. `paired` (AugMix-style
    consistency training): each batch holds its faces twice, first as augmented, then the same images degraded
    at probability 1 (2N images; targets, genders and indices repeated).
    """

    def __init__(self, crops: torch.Tensor, targets: torch.Tensor, genders: torch.Tensor, batch_size: int,
                 shuffle: bool = False, augment: Augment | None = None, size: int = CROP_H, seed: int = 0,
                 device: torch.device | str = "cpu", drop_last: bool = False, sampler=None, prefetch: bool = True,
                 channels_last: bool = False, degrade: Degrade | None = None, weights: torch.Tensor | None = None,
                 paired: bool = False):
        if paired and degrade is None:
            raise ValueError("paired batches need a degradation for their second view")
        self.degrade, self.weights, self.paired = degrade, weights, paired
        self.second_view = replace(degrade, probability=1.0) if paired else None  # every face of it degraded
        if weights is not None and (sampler is not None or len(weights) != len(crops)):
            raise ValueError("sampling weights need one weight per crop and no distributed sampler")
        self.crops, self.targets, self.genders = crops, targets, genders
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.out_size = (size, input_width(size))
        self.seed, self.device, self.drop_last = seed, torch.device(device), drop_last
        self.sampler, self.prefetch, self.channels_last = sampler, prefetch, channels_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _order(self) -> torch.Tensor:
        if self.sampler is not None:
            return torch.tensor(list(iter(self.sampler)), dtype=torch.int64)
        if self.weights is not None:  # balanced: drawn with replacement in proportion to the weights
            generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
            return torch.multinomial(self.weights, len(self.crops), replacement=True, generator=generator)
        if self.shuffle:
            return torch.randperm(len(self.crops), generator=torch.Generator().manual_seed(self.seed * 1000 + self.epoch))
        return torch.arange(len(self.crops))

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.crops)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self):
        order = self._order()
        generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch + 1)
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                break
            yield self.make_batch(index, generator)

    def make_batch(self, index: torch.Tensor, generator: torch.Generator):
        images = self.crops[index].to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        if self.augment is not None:
            images = self.augment(images, self.out_size, generator)
        else:
            images = resize_batch(images, self.out_size)
        if self.paired:
            images = torch.cat([images, self.second_view(images, generator)])
            index = torch.cat([index, index])
        elif self.degrade is not None:
            images = self.degrade(images, generator)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        else:
            images = images.contiguous()
        return images, self.targets[index].to(self.device), self.genders[index].to(self.device), index

    def __iter__(self):
        if not self.prefetch:
            yield from self._batches()
            return
        ready: queue.Queue = queue.Queue(maxsize=2)
        done = object()
        stop = threading.Event()

        def produce():
            try:
                for batch in self._batches():
                    while not stop.is_set():
                        try:
                            ready.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as error:  # surfaced in the consumer
                ready.put(error)
                return
            ready.put(done)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    ready.get_nowait()
                except queue.Empty:
                    thread.join(timeout=0.05)
