"""How well a face crop can be judged: a picture-quality measure of the aligned crop itself (method.md section 7).

Five things a poor webcam or phone picture loses, each measured on the grey crop (112 x 96, the model's input):
- noise: the standard deviation of the sensor noise in grey levels, by Immerkær's fast estimate ("Fast noise
  variance estimation", CVIU 1996): the crop filtered by the Laplacian-difference mask [[1,-2,1],[-2,4,-2],
  [1,-2,1]], which cancels smooth shading, and sigma = sqrt(pi/2) * mean|filtered| / 6; taken over the
  quietest half of the crop's blocks so that a face's own edges (eyes, hair) do not count as noise;
- blur: Crété-Roffet's no-reference blur ("The blur effect", SPIE 2007): blur the crop again with a 9-pixel
  box and measure the share of its pixel-to-pixel variation that survives; a sharp face loses much of it, an
  already blurred one (defocus, motion, a small face enlarged) little; 0 sharp .. 1 blurred, the worse axis;
- contrast: the spread of grey levels (5th to 95th percentile), which a flat exposure lowers;
- detail: the face's band-limited contrast (Peli, "Contrast in complex images", JOSA A 1990) at the scale of
  its features: the mean absolute difference of the crop blurred by Gaussians of 1 and 4 pixels, in grey
  levels. Fog, haze, a misted lens or a washed-out print lay a veil over the face that scales its features'
  contrast down while a blotchy or graded veil keeps the spread of grey levels wide: the global contrast above
  misses them, this does not;
- exposure: the mean grey level, too dark or too bright.

Each is mapped to [0, 1] by a ramp between a level where the default model is unaffected and one where it is
guessing; the score is the smallest of the five, and the weakest one is named. The ramps' ends were set on the
model's held-out faces (clean, and degraded by the training's own degradations, never the benchmark's
corruptions): see docs/results.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ageapp.core.calibration_fit import QUALITY_LOWS

# (good, unusable) ends of each ramp; the score is 1 at or beyond "good", 0 at or beyond "unusable".
NOISE = (4.0, 28.0)  # grey levels
BLUR = (0.66, 0.86)  # Crété-Roffet blur: 95% of clean UTKFace crops are below 0.65, Gaussian sigma 3 gives 0.81
CONTRAST = (70.0, 18.0)  # grey levels between the 5th and 95th percentiles
DETAIL = (5.0, 2.0)  # grey levels of band-limited contrast
DARK = (55.0, 12.0)  # mean grey level
BRIGHT = (200.0, 245.0)
NAMING_MARGIN = 0.05

TOO_POOR = "too poor"
# the score's lower ends of each label: the Mondrian calibration's quality bands, whose widths were fitted on them
LEVELS = tuple(zip(reversed(QUALITY_LOWS), ("good", "fair", "poor", TOO_POOR)))
_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_BLOCK = 8
_QUIET_HALF_BIAS = 0.868  # mean of the quieter half of 8 x 8 blocks / the mean of all, for pure Gaussian noise


@dataclass(frozen=True)
class FaceQuality:
    """score in [0, 1] (1: as good as the faces the model was calibrated on); label: good, fair, poor or too
    poor; weakest: what lowers it most (noise, blur, contrast, detail, exposure) or '' when good; the raw
    measures."""

    score: float
    label: str
    weakest: str
    noise: float
    blur: float
    contrast: float
    brightness: float
    detail: float

    @property
    def too_poor(self) -> bool:
        return self.label == TOO_POOR

    def describe(self) -> str:
        """'good', or e.g. 'poor (noise)' for a status line or a table cell."""
        return self.label if not self.weakest or self.label == "good" else f"{self.label} ({self.weakest})"

    def to_dict(self) -> dict:
        return {"quality": round(self.score, 3), "quality_label": self.label, "quality_issue": self.weakest}


def _ramp(value: float, good: float, bad: float) -> float:
    """1 at `good`, 0 at `bad`, linear between (either direction)."""
    return float(np.clip((value - bad) / (good - bad), 0.0, 1.0))


def noise_sigma(grey: np.ndarray) -> float:
    """Immerkær's estimate of the additive noise's standard deviation, over the quieter half of 8 x 8 blocks
    (divided by that half's bias for pure noise, measured: 0.868)."""
    filtered = np.abs(cv2.filter2D(grey, cv2.CV_32F, _MASK, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    h, w = (filtered.shape[0] // _BLOCK) * _BLOCK, (filtered.shape[1] // _BLOCK) * _BLOCK
    blocks = filtered[:h, :w].reshape(h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).mean(axis=(1, 3)).ravel()
    quiet = np.sort(blocks)[: max(1, len(blocks) // 2)]
    return float(np.sqrt(np.pi / 2.0) * quiet.mean() / 6.0 / _QUIET_HALF_BIAS)


def blur_measure(grey: np.ndarray) -> float:
    """Crété-Roffet's perceptual blur of a grey image, 0 (sharp) .. 1 (blurred): the larger of the two axes."""
    values = []
    for axis, kernel in ((0, np.full((9, 1), 1 / 9, np.float32)), (1, np.full((1, 9), 1 / 9, np.float32))):
        reblurred = cv2.filter2D(grey, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)
        variation = np.abs(np.diff(grey, axis=axis))
        kept = np.abs(np.diff(reblurred, axis=axis))
        total = float(variation.sum())
        lost = float(np.maximum(0.0, variation - kept).sum())
        values.append((total - lost) / total if total > 1e-6 else 1.0)
    return float(max(values))


def detail_contrast(grey: np.ndarray) -> float:
    """Band-limited contrast at the scale of facial features: mean |G(1 px) * grey - G(4 px) * grey|."""
    fine = cv2.GaussianBlur(grey, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    coarse = cv2.GaussianBlur(grey, (0, 0), 4.0, borderType=cv2.BORDER_REFLECT)
    return float(np.abs(fine - coarse).mean())


def measure(crop_bgr: np.ndarray) -> FaceQuality:
    """The quality of one aligned face crop (H x W x 3 BGR uint8, or H x W grey)."""
    crop = np.asarray(crop_bgr)
    if crop.ndim != 2 and not (crop.ndim == 3 and crop.shape[2] in (3, 4)):
        raise ValueError(f"a face crop is H x W x 3 (BGR) or H x W (grey), not {crop.shape}")
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop[..., :3], cv2.COLOR_BGR2GRAY)
    grey = grey.astype(np.float32)
    noise = noise_sigma(grey)
    low, high = np.percentile(grey, (5, 95))
    contrast = float(high - low)
    blur = blur_measure(grey)
    detail = detail_contrast(grey)
    brightness = float(grey.mean())
    parts = {
        "noise": _ramp(noise, *NOISE),
        "blur": _ramp(blur, *BLUR),
        "contrast": _ramp(contrast, *CONTRAST),
        "exposure": min(_ramp(brightness, *DARK), _ramp(brightness, *BRIGHT)),
        "detail": _ramp(detail, *DETAIL),
    }
    score = min(parts.values())
    # the first cause that explains the score within NAMING_MARGIN: detail, last, is a symptom blur, a flat or a
    # dark picture share; it is named only when fog, haze or a veil is all that explains it
    weakest = next(name for name, value in parts.items() if value <= score + NAMING_MARGIN)
    label = next(name for threshold, name in LEVELS if score >= threshold)
    return FaceQuality(score=round(score, 4), label=label, weakest="" if score >= 1.0 else weakest,
                       noise=round(noise, 3), blur=round(blur, 4), contrast=round(contrast, 2),
                       brightness=round(brightness, 2), detail=round(detail, 3))


def scores(crops) -> np.ndarray:
    """The score of each crop (N,) for a batch (N x H x W x 3) or a list of crops."""
    return np.array([measure(crop).score for crop in crops], dtype=np.float64)


def calibrate_crops(calibration, posterior: np.ndarray, crops, quality=None) -> np.ndarray:
    """Raw posteriors of these crops (uint8 N x H x W x 3, or one H x W x 3) through a model's calibration
    (ageapp.core.calibration), their quality scores measured here only when the calibration needs them and
    the caller has none."""
    if quality is None and calibration.uses_quality:
        pixels = np.asarray(crops)
        quality = scores(pixels if pixels.ndim == 4 else pixels[None])
    return calibration.apply(posterior, quality=quality)
