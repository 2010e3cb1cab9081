"""The degradation augmentation: seeded, each operation within its stated strength, the input left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.batches import BatchLoader
from trainer.degrade import OPERATIONS, Degrade, apply_plan


def _faces(n: int = 6, seed: int = 0) -> torch.Tensor:
    """Smooth synthetic 'faces': gradients and a disc, BGR 0..255, N x 3 x 112 x 96."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:112, 0:96].astype(np.float32)
    images = []
    for _ in range(n):
        base = 60 + 100 * (xx / 96) + 40 * (yy / 112)
        disc = ((yy - 56) ** 2 + (xx - 48) ** 2 < rng.uniform(300, 900)) * rng.uniform(30, 60)
        images.append(np.stack([base + disc, base * 0.9, base * 0.8 + disc / 2]))
    return torch.from_numpy(np.clip(np.stack(images), 0, 255).astype(np.float32))


def test_same_seed_same_pixels_and_input_untouched():
    images = _faces()
    before = images.clone()
    first = Degrade(probability=1.0)(images, torch.Generator().manual_seed(3))
    second = Degrade(probability=1.0)(images, torch.Generator().manual_seed(3))
    other = Degrade(probability=1.0)(images, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    assert torch.equal(images, before)
    assert first.shape == images.shape and first.dtype == images.dtype
    assert float(first.min()) >= 0.0 and float(first.max()) <= 255.0


def test_probability_zero_leaves_every_image_and_one_degrades_every_image():
    images = _faces(20)
    assert torch.equal(Degrade(probability=0.0)(images, torch.Generator().manual_seed(0)), images)
    plans = Degrade(probability=1.0).draw(200, torch.Generator().manual_seed(0))
    assert all(plans)
    assert all(set(plan) <= set(OPERATIONS) for plan in plans)


def test_share_degraded_follows_probability():
    plans = Degrade(probability=0.3).draw(4000, torch.Generator().manual_seed(1))
    share = sum(bool(p) for p in plans) / len(plans)
    assert share == pytest.approx(0.3, abs=0.03)  # binomial sd 0.007


def test_strengths_are_drawn_within_their_ranges():
    degrade = Degrade()
    ranges = {"blur": degrade.blur_sigma, "low_resolution": degrade.low_resolution, "noise": degrade.noise_sigma,
              "gamma": degrade.gamma, "brightness": degrade.brightness, "contrast": degrade.contrast,
              "saturation": degrade.saturation, "jpeg": degrade.jpeg_quality, "haze": degrade.haze}
    for plan in Degrade(probability=1.0, per_op=1.0).draw(300, torch.Generator().manual_seed(2)):
        for name, value in plan.items():
            low, high = ranges[name]
            assert low <= value <= high, (name, value)


def test_noise_has_the_stated_standard_deviation():
    image = torch.full((3, 112, 96), 128.0)  # mid-grey: no clipping
    out = apply_plan(image, {"noise": 20.0}, torch.Generator().manual_seed(0))
    # 32,256 samples: the sample sd is within 1% of 20 with overwhelming probability
    assert float((out - image).std()) == pytest.approx(20.0, rel=0.02)
    assert float((out - image).mean()) == pytest.approx(0.0, abs=0.5)


def test_blur_and_low_resolution_remove_fine_detail_and_keep_the_mean():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.uniform(0, 255, (3, 112, 96)).astype(np.float32))
    detail = lambda x: float((x[:, :, 1:] - x[:, :, :-1]).abs().mean())  # noqa: E731
    for plan in ({"blur": 2.0}, {"low_resolution": 0.25}):
        out = apply_plan(image, plan, torch.Generator())
        assert detail(out) < 0.35 * detail(image), plan
        assert float(out.mean()) == pytest.approx(float(image.mean()), abs=3.0)


def test_contrast_brightness_and_gamma_move_the_pixels_as_stated():
    image = _faces(1)[0]
    flat = apply_plan(image, {"contrast": 0.25}, torch.Generator())
    assert float(flat.std()) < 0.4 * float(image.std())
    dark = apply_plan(image, {"brightness": 0.5}, torch.Generator())
    assert float(dark.mean()) == pytest.approx(0.5 * float(image.mean()), rel=0.02)
    # gamma 2 on 0..1 values: (x / 255) ** 2 * 255, computed independently
    bent = apply_plan(image, {"gamma": 2.0}, torch.Generator())
    expected = (image / 255.0) ** 2 * 255.0
    assert torch.allclose(bent, expected, atol=0.6)


def test_jpeg_changes_pixels_a_little_at_high_quality_and_more_at_low():
    image = _faces(1)[0]
    high = apply_plan(image, {"jpeg": 60}, torch.Generator())
    low = apply_plan(image, {"jpeg": 5}, torch.Generator())
    error = lambda x: float((x - image).abs().mean())  # noqa: E731
    assert 0.0 < error(high) < error(low)


def test_loader_degrades_only_when_asked():
    crops = _faces(8).permute(0, 2, 3, 1).to(torch.uint8)
    targets, genders = torch.zeros(8, 101), torch.zeros(8, dtype=torch.int64)
    plain = BatchLoader(crops, targets, genders, 8, prefetch=False)
    degraded = BatchLoader(crops, targets, genders, 8, prefetch=False, degrade=Degrade(probability=1.0))
    (a, *_), = list(plain)
    (b, *_), = list(degraded)
    assert a.shape == b.shape
    assert not torch.equal(a, b)
    assert torch.equal(a, crops.permute(0, 3, 1, 2).float())


def test_paired_batches_hold_each_face_clean_then_degraded():
    """Consistency training's batches: the first half is the plain batch, the second the same faces each
    degraded (probability 1, whatever the loader's own share), with their targets, genders and indices repeated;
    and without a degradation there is no second view to make."""
    crops = _faces(8).permute(0, 2, 3, 1).to(torch.uint8)
    targets = torch.eye(8, 101)
    genders = torch.arange(8) % 2
    paired = BatchLoader(crops, targets, genders, 4, prefetch=False, paired=True, degrade=Degrade(probability=0.0))
    batches = list(paired)
    assert len(batches) == 2
    images, t, g, index = batches[0]
    assert images.shape == (8, 3, 112, 96)
    assert torch.equal(images[:4], crops[:4].permute(0, 3, 1, 2).float())
    assert all(not torch.equal(images[i], images[i + 4]) for i in range(4))
    assert torch.equal(index, torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]))
    assert torch.equal(t, targets[index]) and torch.equal(g, genders[index])
    with pytest.raises(ValueError, match="degradation"):
        BatchLoader(crops, targets, genders, 4, paired=True)


@pytest.mark.parametrize("amount", [0.3, 0.85])
def test_haze_lays_a_grey_veil_of_the_stated_strength(amount):
    """I = J t + A (1 - t): on a black face only the veil A (1 - t) is left, grey (the same in B, G and R), with
    1 - t within amount * (1 +- 0.575) (the fractal's octaves sum to at most 0.575 of its scale) and A in 0..1,
    its mean near its level (0.4 .. 1) times the amount; a white-black edge keeps the share t of its contrast."""
    black = torch.zeros(3, 112, 96)
    veil = apply_plan(black, {"haze": amount}, torch.Generator().manual_seed(3))
    assert torch.equal(veil[0], veil[1]) and torch.equal(veil[1], veil[2])
    assert float(veil.min()) >= 0.0 and float(veil.max()) <= min(1.0, 1.575 * amount) * 255 + 1e-3
    assert 0.4 * 0.5 * amount * 255 <= float(veil.mean()) <= 1.6 * amount * 255
    edge = torch.zeros(3, 112, 96)
    edge[:, :, 48:] = 255.0
    hazed = apply_plan(edge, {"haze": amount}, torch.Generator().manual_seed(3))
    kept = (hazed[:, :, 48] - hazed[:, :, 47]) / 255.0  # the same seed: the same veil
    assert float(kept.min()) >= max(0.05, 1 - 1.6 * amount) - 0.03 and float(kept.max()) <= 1 - 0.4 * amount + 0.03


def test_haze_airlight_ranges_from_smooth_to_mottled():
    """The scattered light's unevenness is drawn per image. With one seed a black and a white face get the same
    fields: black gives A (1 - t), white t + A (1 - t), so t and A are recovered exactly. Over seeds, A is
    nearly flat on some faces and mottled on others (a uniform light would be flat on all)."""
    black, white = torch.zeros(3, 112, 96), torch.full((3, 112, 96), 255.0)
    spreads = []
    for seed in range(12):
        veil = apply_plan(black, {"haze": 0.8}, torch.Generator().manual_seed(seed))[0] / 255.0
        lit = apply_plan(white, {"haze": 0.8}, torch.Generator().manual_seed(seed))[0] / 255.0
        scattered = 1.0 - (lit - veil)  # 1 - t
        airlight = veil[scattered > 0.3] / scattered[scattered > 0.3]
        spreads.append(float(airlight.std()))
    assert min(spreads) < 0.03 and max(spreads) > 0.08  # measured 0.011 and 0.113; a uniform light: 1e-7
