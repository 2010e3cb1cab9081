"""The face-quality measure orders a sharp face above its blurred, noisy, flat and dark copies."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ageapp.faces.quality import LEVELS, measure, noise_sigma, scores


def _face() -> np.ndarray:
    """A synthetic face-like crop with edges and texture (BGR, 112 x 96)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:112, 0:96].astype(np.float32)
    grey = 90 + 60 * (xx / 96)
    grey += 70 * (((yy - 56) / 40) ** 2 + ((xx - 48) / 32) ** 2 < 1)  # the face
    grey -= 60 * ((((yy - 45) / 5) ** 2 + ((xx - 34) / 8) ** 2 < 1) | (((yy - 45) / 5) ** 2 + ((xx - 62) / 8) ** 2 < 1))
    grey -= 50 * ((np.abs(yy - 80) < 2) & (np.abs(xx - 48) < 14))  # the mouth
    grey += cv2.GaussianBlur(rng.normal(0, 12, grey.shape).astype(np.float32), (0, 0), 1.5)  # skin texture
    grey = np.clip(grey, 0, 255).astype(np.uint8)
    return cv2.merge([grey, grey, grey])


def test_noise_estimate_recovers_added_noise_on_a_smooth_image():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:112, 0:96].astype(np.float32)
    smooth = 60 + 80 * xx / 96 + 30 * yy / 112
    for sigma in (5.0, 15.0, 30.0):
        noisy = smooth + rng.normal(0, sigma, smooth.shape)
        # the quieter half of the blocks biases the estimate low a little (measured about 5%)
        assert noise_sigma(noisy.astype(np.float32)) == pytest.approx(sigma, rel=0.12)
    assert noise_sigma(smooth.astype(np.float32)) < 0.5


def test_a_sharp_face_scores_above_its_degraded_copies():
    face = _face()
    sharp = measure(face)
    assert sharp.label == "good" and sharp.score == pytest.approx(1.0)
    blurred = measure(cv2.GaussianBlur(face, (0, 0), 3.0))
    noisy = measure(np.clip(face + np.random.default_rng(2).normal(0, 35, face.shape), 0, 255).astype(np.uint8))
    flat = measure(((face.astype(np.float32) - 128) * 0.12 + 128).astype(np.uint8))
    bright = measure(np.clip(face.astype(np.float32) + 125, 0, 255).astype(np.uint8))
    dark = measure((face.astype(np.float32) * 0.08).astype(np.uint8))
    assert dark.score < sharp.score and dark.weakest in ("exposure", "contrast")  # a dark picture is flat too
    for worse, issue in ((blurred, "blur"), (noisy, "noise"), (flat, "contrast"), (bright, "exposure")):
        assert worse.score < sharp.score
        assert worse.weakest == issue, (issue, worse)
    # stronger blur, lower score
    assert measure(cv2.GaussianBlur(face, (0, 0), 5.0)).score <= blurred.score


def test_labels_follow_the_score_thresholds_and_bad_shapes_are_refused():
    face = _face()
    for sigma in (0.5, 2.0, 3.5, 6.0):
        result = measure(cv2.GaussianBlur(face, (0, 0), sigma))
        expected = next(name for threshold, name in LEVELS if result.score >= threshold)
        assert result.label == expected
    assert measure(face[..., 0]).score == pytest.approx(measure(face).score)  # grey crops too
    with pytest.raises(ValueError):
        measure(np.zeros((4, 4, 5), np.uint8))
    assert scores([face, face]).shape == (2,)


def test_a_veil_that_keeps_the_grey_range_wide_is_seen_as_lost_detail():
    """Fog laid as a graded veil: I = J t + A (1 - t) with t = 0.3 and a veil brightness A rising across the face.
    The spread of grey levels stays wide (the veil's gradient), so the global contrast is not lowered, but the
    features keep only 30% of their contrast: the band-limited measure scales by that share and names it."""
    face = _face().astype(np.float32)
    xx = np.mgrid[0:112, 0:96][1].astype(np.float32)
    veil = 40 + 200 * xx / 95
    foggy = np.clip(face * 0.3 + veil[..., None] * 0.7, 0, 255).astype(np.uint8)
    sharp, hazed = measure(_face()), measure(foggy)
    assert hazed.contrast >= 70.0  # the global spread does not see it
    # the measure is a mean of |linear filter|: within the veil's own (a Gaussian difference cancels a ramp
    # except at the borders) and half a grey level of rounding of 30% of the face's
    own = measure(np.clip(np.repeat(veil[..., None], 3, 2) * 0.7, 0, 255).astype(np.uint8)).detail
    assert own < 0.1 * sharp.detail
    assert abs(hazed.detail - 0.3 * sharp.detail) <= own + 0.5
    assert hazed.score < 0.45 and hazed.weakest == "detail"
