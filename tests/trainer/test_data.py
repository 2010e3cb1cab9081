"""Data: de-duplication, subject-disjoint split, split file, crop cache, batched augmentation, loader."""

import shutil

import pytest
import torch

import trainer.crops as data
from trainer.batches import Augment, BatchLoader
from trainer.crops import build_crops
from trainer.samples import FolderSource, Sample
from trainer.splits import deduplicate, load_split_keys, save_split, split_samples


def test_deduplicate_keeps_first():
    samples = [Sample("a", "1"), Sample("b", "2"), Sample("a", "3")]
    unique, dropped = deduplicate(samples)
    assert [s.path for s in unique] == ["1", "2"] and dropped == 1


def test_split_is_seeded_and_subject_disjoint():
    samples = [Sample(f"k{i}", f"p{i}", age=i, subject=str(i % 10)) for i in range(100)]
    train, val = split_samples(samples, 0.2, seed=3)
    assert {s.subject for s in train}.isdisjoint({s.subject for s in val})
    assert 15 <= len(val) <= 30 and len(train) + len(val) == 100
    again, _ = split_samples(samples, 0.2, seed=3)
    assert [s.key for s in again] == [s.key for s in train]
    files = [Sample(f"k{i}", f"p{i}", age=i) for i in range(50)]
    assert len(split_samples(files, 0.2, seed=0)[1]) == 10


def test_split_file_round_trip(tmp_path):
    val = [Sample("abc", "/x/1.jpg"), Sample("def", "/x/2.jpg")]
    save_split(tmp_path / "split.json", val, seed=0)
    assert load_split_keys(tmp_path / "split.json") == {"abc", "def"}
    (tmp_path / "bad.json").write_text('{"val": []}')
    with pytest.raises(ValueError):
        load_split_keys(tmp_path / "bad.json")


def test_folder_source_dedups_by_content(tiny_utkface):
    first = sorted(tiny_utkface.iterdir())[0]
    shutil.copy(first, tiny_utkface / ("99_1_0_20170101999999999.jpg.chip.jpg"))
    samples, problems = FolderSource(tiny_utkface, "utkface", aligned=True).samples()
    assert len(samples) == 25
    unique, dropped = deduplicate(samples)
    assert dropped == 1 and len(unique) == 24
    assert all(s.age is not None and s.gender in (0, 1) for s in unique)


def test_crop_cache_skips_the_face_pipeline_the_second_time(tiny_utkface, tmp_path, monkeypatch):
    source = FolderSource(tiny_utkface, "utkface", aligned=True)
    samples, _ = source.samples()
    calls = []
    real = data._crop_one
    monkeypatch.setattr(data, "_crop_one", lambda job: calls.append(job) or real(job))
    first = build_crops(samples, source.identity, None, True, tmp_path / "cache", log=lambda m: None)
    assert len(calls) == 24 and first.crops.shape == (24, 112, 96, 3) and first.crops.dtype == torch.uint8
    second = build_crops(samples, source.identity, None, True, tmp_path / "cache", log=lambda m: None)
    assert len(calls) == 24  # nothing recomputed
    assert torch.equal(first.crops, second.crops)
    assert len(list((tmp_path / "cache").glob("crops-*.npz"))) == 1


def test_augment_is_batched_seeded_and_in_range():
    images = torch.rand(6, 3, 112, 96) * 255
    augment = Augment()
    a = augment(images, (56, 48), torch.Generator().manual_seed(1))
    b = augment(images, (56, 48), torch.Generator().manual_seed(1))
    assert a.shape == (6, 3, 56, 48) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 255
    still = Augment(flip=0, shift=0, scale=0, rotate_deg=0, brightness=0, contrast=0, saturation=0)
    same = still(images, (112, 96), torch.Generator().manual_seed(1))
    assert torch.allclose(same, images, atol=0.05)  # grid round-off only (of 255)
    flipped = Augment(flip=1.0, shift=0, scale=0, rotate_deg=0, brightness=0, contrast=0, saturation=0)
    assert torch.allclose(flipped(images, (112, 96), torch.Generator()), images.flip(-1), atol=0.05)


def test_loader_covers_every_index_once_per_epoch():
    n = 10
    crops = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 112, 96, 3).contiguous()
    loader = BatchLoader(crops, torch.zeros(n, 5), torch.zeros(n, dtype=torch.long), 4, shuffle=True, seed=0)
    assert len(loader) == 3
    seen = torch.cat([index for *_, index in loader])
    assert sorted(seen.tolist()) == list(range(n))
    for images, _, _, index in loader:
        assert torch.equal(images[:, 0, 0, 0], index.float())  # the right crop goes with its label
    orders = []
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        orders.append(torch.cat([index for *_, index in loader]).tolist())
    assert orders[0] != orders[1]
    loader.drop_last = True
    assert len(loader) == 2 and sum(1 for _ in loader) == 2


@pytest.mark.shared
def test_fgnet_split_is_by_subject(fgnet_images):
    samples, _ = FolderSource(fgnet_images, "fgnet").samples()
    samples, _ = deduplicate(samples)
    assert len(samples) > 900 and all(s.subject is not None for s in samples)
    train, val = split_samples(samples, 0.2, seed=0)
    assert {s.subject for s in train}.isdisjoint({s.subject for s in val})
    assert 0.15 < len(val) / len(samples) < 0.25


@pytest.mark.shared
def test_utkface_chips_are_aligned_and_deduplicated(utkface_images):
    samples, problems = FolderSource(utkface_images, "utkface").samples()
    unique, dropped = deduplicate(samples)
    assert len(samples) == 19124 and dropped > 0 and all(s.aligned for s in unique[:10])
    assert any("lacks a field" in p or "does not end like" in p for p in problems)
