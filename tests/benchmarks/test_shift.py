"""The shift benchmark's pieces: the corruption package imports under numpy 2, corruptions are seeded, and the
figures are the project's definitions applied to the calibrated posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.shift import CORRUPTIONS, degraded, load_corrupt
from benchmarks.shift_report import condition_metrics, summarize


def _image() -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    return np.stack([xx * 3, yy * 3, (xx + yy) * 2], axis=-1).clip(0, 255).astype(np.uint8)


def test_every_corruption_runs_seeded_and_changes_the_picture():
    corrupt = load_corrupt()
    image = _image()
    for name in CORRUPTIONS:
        first = degraded(image, name, 3, seed=7, corrupt=corrupt)
        again = degraded(image, name, 3, seed=7, corrupt=corrupt)
        assert first.shape == image.shape and first.dtype == np.uint8
        assert np.array_equal(first, again), name
        assert not np.array_equal(first, image), name
    assert degraded(image, "clean", 0, seed=7, corrupt=corrupt) is image


def test_summary_figures_by_hand():
    """Two faces, posteriors worked out by hand: one certain at 5 (true 5), one uniform over 0..4 (true 4)."""
    posterior = np.zeros((2, 11))
    posterior[0, 5] = 1.0  # certain at 5
    posterior[1, :5] = 0.2  # uniform over 0..4: mean 2
    ages = np.array([5.0, 4.0])
    out = summarize(posterior, ages)
    assert out["mae"] == pytest.approx((0 + 2) / 2)
    assert out["bias"] == pytest.approx((0 - 2) / 2)
    assert out["nll"] == pytest.approx((0 - np.log(0.2)) / 2, rel=1e-4)
    # the 90% interval of the uniform one (mid-distribution rule) is 0..4 and holds 4; the certain one holds 5
    assert out["coverage90"] == 100.0 and out["width90"] == pytest.approx((0 + 4) / 2)


class _IdentityModel:
    def calibrate(self, posterior, quality=None):
        return posterior


def test_condition_metrics_count_found_faces_quality_and_bands():
    rng = np.random.default_rng(0)
    ages = np.array([5.0, 15, 30, 50, 70, 85])
    posterior = np.exp(-0.5 * ((np.arange(101)[None] - ages[:, None]) / 1.0) ** 2)  # 5 sd from the edges
    posterior /= posterior.sum(axis=1, keepdims=True)
    raw = {"posterior": posterior, "age": ages, "found": np.array([1, 1, 0, 1, 1, 1], bool),
           "quality": np.column_stack([[1.0, 0.1, 0.5, 1.0, 0.9, 0.05], rng.random((6, 4))])}
    out = condition_metrics(raw, _IdentityModel(), with_bands=True)
    assert out["found"] == pytest.approx(100 * 5 / 6, abs=0.01)
    assert out["too_poor"] == pytest.approx(100 * 2 / 6, abs=0.01)
    assert out["quality"] == pytest.approx(np.mean([1.0, 0.1, 0.5, 1.0, 0.9, 0.05]), abs=1e-3)
    assert list(out["bands"]) == ["0-12", "13-19", "20-39", "40-59", "60-79", "80+"]
    assert all(band["n"] == 1 for band in out["bands"].values())
    assert out["mae"] == pytest.approx(0.0, abs=1e-4)


def test_quality_is_measured_again_on_the_cached_crops():
    """The cache keeps the aligned crops: each run measures their quality with today's measure, row by row."""
    from ageapp.faces.quality import measure
    from benchmarks.shift import with_quality

    yy, xx = np.mgrid[0:112, 0:96]
    sharp = np.repeat((60 + 140 * ((yy // 8 + xx // 8) % 2))[..., None], 3, axis=2).astype(np.uint8)  # a checkerboard
    flat = (sharp // 8 + 110).astype(np.uint8)
    raw = {"crops": np.stack([sharp, flat]), "age": np.array([30.0, 40.0])}
    out = with_quality(raw)
    assert out["quality"].shape == (2, 6) and out["age"] is raw["age"]
    for row, crop in zip(out["quality"], raw["crops"]):
        q = measure(crop)
        assert row[0] == pytest.approx(q.score) and row[3] == pytest.approx(q.contrast)
        assert row[5] == pytest.approx(q.detail, abs=1e-3)
    assert out["quality"][1, 0] < out["quality"][0, 0]  # the flat copy judged worse
