"""Training on poor pictures (method.md section 7): a random loss of picture quality at random strengths, so that
the network sees the noisy, blurred, compressed, small, flat, dark, hazy and washed-out faces that webcams and
phones give, and its learned concentration has the evidence to widen on them; the same degradations make the
calibration's degraded copies (trainer.calibrate).

The operations come from torchvision's transforms v2 (Gaussian blur, resize, gamma, contrast, brightness,
saturation) and OpenCV (JPEG: torchvision's own codec is deprecated from 0.29); only the additive sensor noise
and haze (Koschmieder's scattering model over a random transmission) are a few lines of our own, so that they
follow the batch's seeded generator. Nothing here comes from the shift benchmark's corruption code
(`imagecorruptions`): that benchmark must measure shifts the model was not fitted to (motion blur, shot noise
and pixelation are not trained on). The haze's mottled light was added after seeing the benchmark's fog fail
the model, so fog is no longer such a shift (docs/results.md, "Fog, step by step").

Each image of a batch is degraded with probability `probability`; a degraded image gets each operation with
probability `per_op` (at least one), in the order of a camera: the scene (haze), optics (blur), sensor (low
resolution, noise), processing (exposure, contrast, colour), compression (JPEG). Strengths are drawn uniformly
from each range, per image, from the generator passed in: the same seed gives the same pixels.

Images are float tensors N x 3 x H x W, BGR, values 0..255 (the training batches' layout); so is the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

OPERATIONS = ("haze", "blur", "low_resolution", "noise", "gamma", "brightness", "contrast", "saturation", "jpeg")


@dataclass(frozen=True)
class Degrade:
    """Strength ranges (low, high) of each operation; `probability`: share of images degraded at all."""

    probability: float = 0.5
    per_op: float = 0.35
    blur_sigma: tuple[float, float] = (0.5, 3.0)  # Gaussian blur, pixels of the 112 x 96 crop
    low_resolution: tuple[float, float] = (0.12, 0.6)  # the side shrunk to this share, then enlarged back
    noise_sigma: tuple[float, float] = (3.0, 45.0)  # additive Gaussian noise, grey levels (0..255)
    gamma: tuple[float, float] = (0.45, 2.2)  # > 1 darkens the mid-tones, < 1 lightens them
    brightness: tuple[float, float] = (0.4, 1.5)  # multiplier
    contrast: tuple[float, float] = (0.15, 1.0)  # 1 unchanged, towards 0 a flat grey
    saturation: tuple[float, float] = (0.0, 1.6)  # 0 greyscale
    jpeg_quality: tuple[int, int] = (5, 60)
    haze: tuple[float, float] = (0.3, 0.85)  # 1 - mean transmission: the share of the airlight in each pixel

    def __post_init__(self):
        if not 0.0 <= self.probability <= 1.0 or not 0.0 < self.per_op <= 1.0:
            raise ValueError("probability must be in [0, 1] and per_op in (0, 1]")

    # ------------------------------------------------------------------------------------------ drawing
    def draw(self, n: int, generator: torch.Generator) -> list[dict[str, float]]:
        """Per image, the operations to apply and their strengths ({} for an image left as it is)."""
        plans = []
        for _ in range(n):
            if _uniform(generator) >= self.probability:
                plans.append({})
                continue
            chosen = [name for name in OPERATIONS if _uniform(generator) < self.per_op]
            if not chosen:
                chosen = [OPERATIONS[int(_uniform(generator) * len(OPERATIONS)) % len(OPERATIONS)]]
            plans.append({name: self.strength(name, generator) for name in chosen})
        return plans

    def strength(self, name: str, generator: torch.Generator) -> float:
        low, high = {"blur": self.blur_sigma, "low_resolution": self.low_resolution, "noise": self.noise_sigma,
                     "gamma": self.gamma, "brightness": self.brightness, "contrast": self.contrast,
                     "saturation": self.saturation, "jpeg": self.jpeg_quality, "haze": self.haze}[name]
        if name == "gamma":  # log-uniform: as many darkened as lightened faces
            return float(torch.exp(torch.log(torch.tensor(low)) + _uniform(generator)
                                   * (torch.log(torch.tensor(high)) - torch.log(torch.tensor(low)))))
        return float(low + _uniform(generator) * (high - low))

    # ------------------------------------------------------------------------------------------ applying
    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The batch with each image degraded by its drawn plan (a new tensor; the input is left alone)."""
        plans = self.draw(images.shape[0], generator)
        if not any(plans):
            return images
        out = images.clone()
        for i, plan in enumerate(plans):
            if plan:
                out[i] = apply_plan(images[i], plan, generator)
        return out


def apply_plan(image: torch.Tensor, plan: dict[str, float], generator: torch.Generator) -> torch.Tensor:
    """One image (3 x H x W, BGR 0..255 float) through the operations of `plan`, in camera order."""
    device = image.device
    x = image.detach().float().cpu().clamp(0, 255) / 255.0  # torchvision's float images are 0..1
    height, width = x.shape[-2:]
    if "haze" in plan:  # fog, mist, a dirty lens: Koschmieder's scattering model I = J t + A (1 - t)
        x = _haze(x, plan["haze"], generator)
    if "blur" in plan:
        sigma = plan["blur"]
        size = 2 * int(round(3 * sigma)) + 1
        x = TF.gaussian_blur(x, [size, size], [sigma, sigma])
    if "low_resolution" in plan:
        small = (max(4, round(height * plan["low_resolution"])), max(4, round(width * plan["low_resolution"])))
        x = TF.resize(x, list(small), antialias=True)
        x = TF.resize(x, [height, width], interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
    if "noise" in plan:  # sensor noise: additive, per pixel and channel, from the batch's generator
        x = x + torch.randn(x.shape, generator=generator) * (plan["noise"] / 255.0)
        x = x.clamp(0, 1)
    rgb = x.flip(0)  # colour operations expect RGB
    if "gamma" in plan:
        rgb = TF.adjust_gamma(rgb, plan["gamma"])
    if "brightness" in plan:
        rgb = TF.adjust_brightness(rgb, plan["brightness"])
    if "contrast" in plan:
        rgb = TF.adjust_contrast(rgb, plan["contrast"])
    if "saturation" in plan:
        rgb = TF.adjust_saturation(rgb, plan["saturation"])
    bgr = rgb.flip(0).clamp(0, 1) * 255.0
    if "jpeg" in plan:
        pixels = np.ascontiguousarray(bgr.round().to(torch.uint8).permute(1, 2, 0).numpy())
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(round(plan["jpeg"]))])
        if ok:
            bgr = torch.from_numpy(cv2.imdecode(encoded, cv2.IMREAD_COLOR)).permute(2, 0, 1).float()
    return bgr.to(device=device, dtype=image.dtype)


def _haze(x: torch.Tensor, amount: float, generator: torch.Generator) -> torch.Tensor:
    """x (3 x H x W, 0..1) seen through haze: each pixel J t + A (1 - t) (Koschmieder), with a transmission t
    around 1 - amount that varies across the face as a bank of fog does, and an airlight A (the light the fog
    scatters towards the camera) around a level from a dark grey (overcast, dim) to white that is uneven in its
    turn, from smooth to mottled (its unevenness drawn per image, up to +-0.58): fog lit unevenly, steam, a
    smeared lens. Both fields are fractal value noise (random fields of 2 to 32 cells a side, each octave half the
    size and 0.6 times the amplitude of the one before, enlarged by torchvision's bilinear resize)."""
    height, width = x.shape[-2:]
    level = 0.4 + 0.6 * _uniform(generator)
    unevenness = _uniform(generator)
    transmission = (1.0 - amount + _fractal(height, width, amount, generator)).clamp(0.05, 1.0)
    airlight = (level + _fractal(height, width, unevenness, generator)).clamp(0.0, 1.0)
    return (x * transmission + airlight * (1.0 - transmission)).clamp(0, 1)


def _fractal(height: int, width: int, scale: float, generator: torch.Generator) -> torch.Tensor:
    """1 x H x W fractal value noise, each octave uniform in +-0.5 * weight * scale (weights 0.5, 0.3, 0.18, ...):
    within +-scale * 0.25 * (1 + 0.6 + ... + 0.6^4) < 0.58 * scale."""
    field = torch.zeros(1, height, width)
    weight = 0.5
    for cells in (2, 4, 8, 16, 32):
        coarse = (torch.rand((1, cells, cells), generator=generator) - 0.5) * weight * scale
        field += TF.resize(coarse, [height, width], interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
        weight *= 0.6
    return field


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))
