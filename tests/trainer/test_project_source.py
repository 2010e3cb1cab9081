"""Training from a project: each label kind gets its target (exact age -> Gaussian sigma 2, range -> range
target, query -> its stored posterior), crops come from the faces table, the split keeps a subject on one
side, the labels digest follows the labels, and `train --data P.ageproj` runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ageapp.core.posterior import posterior_from_comparisons, summarize
from ageapp.faces.alignment import decode_crop
from ageapp.store.faces import add_face
from ageapp.store.images import add_image, root_id_for
from ageapp.store.posteriors import save_posterior
from tests.factories import LANDMARKS, _crop, make_project
from trainer.__main__ import main
from trainer.batches import targets_tensor
from trainer.crops import build_crops
from trainer.samples import ProjectSource, make_source
from trainer.splits import split_samples

A = 70


def gaussian(centre, sigma, age_max):
    ages = np.arange(age_max + 1)
    p = np.exp(-0.5 * ((ages - centre) / sigma) ** 2)
    return p / p.sum()


def posterior_for(age: float) -> np.ndarray:
    """A real comparison posterior: older than age - 6, younger than age + 6."""
    return posterior_from_comparisons(np.array([age - 6.0, age + 6.0]), [1, 0], [0.36, 0.36], A)


@pytest.fixture
def project(tmp_path):
    """12 references (ages 0..11, subjects of 3 photos each), one range reference 25-32, 4 queries of which 3
    have a posterior (one of them with 0 comparisons, so not a label), one reference without a face."""
    path = tmp_path / "p.ageproj"
    db, refs, queries, ages = make_project(path, references=12, queries=4, age_max=A)
    db.execute("UPDATE images SET subject = 'person' || (id % 4), gender = id % 2 WHERE role = 'reference'")
    root = root_id_for(db, tmp_path)
    ranged = add_image(db, root_id=root, relative_path="ref/range.jpg", sha1="f" * 40, size_bytes=1,
                       source_format="adience", role="reference", age_min=25.0, age_max=32.0)
    add_face(db, ranged, box=(0, 0, 96, 112), landmarks=LANDMARKS, score=1.0, detector="synthetic", crop=_crop(3),
             template="chip")
    add_image(db, root_id=root, relative_path="ref/noface.jpg", sha1="e" * 40, size_bytes=1,
              source_format="synthetic", role="reference", age=40.0)
    posteriors = {}
    for query, age in zip(queries[:2], (30.0, 50.0)):
        posteriors[query] = posterior_for(age)
        save_posterior(db, query, posteriors[query], summarize(posteriors[query]), 2)
    prior = np.full(A + 1, 1.0 / (A + 1))
    save_posterior(db, queries[2], prior, summarize(prior), 0)
    yield path, db, refs, queries, ranged, posteriors
    db.close()


def test_each_label_gets_its_target(project):
    path, db, refs, queries, ranged, posteriors = project
    source = make_source(path)
    assert isinstance(source, ProjectSource)
    samples, problems = source.samples()
    by_path = {s.path.split("/")[-2] + "/" + s.path.split("/")[-1]: s for s in samples}
    assert len(samples) == 12 + 1 + 2  # the 0-comparison query and the faceless reference are not labels
    assert source.counts == {"exact": 12, "range": 1, "queries": 2}
    assert len(problems) == 1 and problems[0].endswith(f"ref/noface.jpg: no face in the project (image {ranged + 1}), "
                                                       "skipped")

    reference = by_path["ref/7.jpg"]
    assert reference.age == 7.0 and reference.subject is not None and reference.gender in (0, 1)
    np.testing.assert_allclose(reference.target(A), gaussian(7.0, 2.0, A), atol=1e-12)
    np.testing.assert_allclose(by_path["ref/range.jpg"].target(A), gaussian(28.5, 7.0 / 3.29, A), atol=1e-12)
    assert by_path["ref/range.jpg"].true_age == 28.5

    for query_id, stored in posteriors.items():
        sample = next(s for s in samples if s.key == db.execute("SELECT sha1 FROM images WHERE id = ?",
                                                                 [query_id]).fetchone()[0])
        assert sample.age is None and sample.true_age == float(np.argmax(stored))  # a query's true age: its mode
        as_stored = stored.astype("<f4").astype(np.float64)
        np.testing.assert_allclose(sample.target(A), as_stored / as_stored.sum(), atol=1e-12)
        padded = sample.target(100)  # a wider network: zero beyond the project's age_max
        np.testing.assert_allclose(padded[: A + 1], as_stored / as_stored.sum(), atol=1e-12)
        assert padded[A + 1:].sum() == 0.0
        folded = sample.target(40)  # a narrower one: the mass above 40 lands on 40
        assert folded[40] == pytest.approx(as_stored[40:].sum() / as_stored.sum())
    targets = targets_tensor(samples, A)
    assert targets.shape == (15, A + 1) and np.allclose(targets.sum(1).numpy(), 1.0, atol=1e-5)


def test_crops_come_from_the_project_without_detection_or_cache(project, tmp_path, monkeypatch):
    path, db, *_ = project
    import trainer.crops as data

    monkeypatch.setattr(data, "detector_identity", lambda *a: pytest.fail("no detector for stored crops"))
    source = ProjectSource(path)
    samples, _ = source.samples()
    crops = build_crops(samples, source.identity, cache_dir=tmp_path / "cache", log=lambda m: None)
    assert crops.crops.shape == (15, 112, 96, 3) and not crops.no_face
    first = samples[0]
    np.testing.assert_array_equal(crops.crops[0].numpy(), decode_crop(first.crop_bytes))
    assert not (tmp_path / "cache").exists()


def test_a_damaged_crop_stops_with_the_image_named_and_the_fix(project):
    path, db, refs, *_ = project
    db.execute("UPDATE faces SET crop = ? WHERE image_id = ?", [b"not a jpeg", refs[3]])
    source = ProjectSource(path)
    samples, _ = source.samples()
    with pytest.raises(ValueError, match=r"ref/3\.jpg is damaged") as caught:
        build_crops(samples, source.identity, log=lambda m: None)
    assert f"`ageapp check --repair {path.resolve()}`" in str(caught.value)


def test_split_keeps_a_subject_on_one_side(project):
    path, *_ = project
    samples, _ = ProjectSource(path).samples()
    train, val = split_samples(samples, 0.3, seed=1)
    subjects = lambda part: {s.subject for s in part if s.subject is not None}  # noqa: E731
    assert subjects(train).isdisjoint(subjects(val)) and subjects(val)
    assert len(train) + len(val) == len(samples)


def test_labels_digest_follows_the_labels_and_identity_stays(project):
    path, db, refs, queries, *_ = project
    source = ProjectSource(path)
    source.samples()
    before, identity = source.labels_digest, source.identity
    again = ProjectSource(path)
    again.samples()
    assert again.labels_digest == before
    p = posterior_for(20.0)
    save_posterior(db, queries[3], p, summarize(p), 3)
    changed = ProjectSource(path)
    samples, _ = changed.samples()
    assert changed.labels_digest != before and changed.identity == identity and len(samples) == 16


def test_a_folder_or_an_empty_project_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        ProjectSource(tmp_path)
    db, *_ = make_project(tmp_path / "empty.ageproj", references=0, queries=3)
    db.close()
    with pytest.raises(ValueError, match="no labelled faces yet"):
        ProjectSource(tmp_path / "empty.ageproj").samples()


def test_cli_trains_on_a_project_and_as_also(project, tiny_utkface, tmp_path, capsys):
    path, *_ = project
    status = main(["train", "--data", str(path), "--out", str(tmp_path / "run"), "--net", "tiny", "--age-max",
                   str(A), "--epochs", "1", "--batch", "4", "--size", "56", "--quiet", "--threads", "1"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and summary["train"] + summary["val"] + summary["calib"] == 15 and summary["epochs_done"] == 1
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["format"] == "auto" and len(split["val"]) == summary["val"]
    status = main(["evaluate", "--model", str(tmp_path / "run" / "best.pt"), "--data", str(path), "--split-file",
                   str(tmp_path / "run" / "split.json"), "--quiet"])
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and metrics["n"] == summary["val"]
    assert metrics["mae"] == pytest.approx(summary["val_mae"], abs=1e-3)  # the held-out split, read back

    status = main(["train", "--data", str(tiny_utkface), "--format", "utkface", "--aligned", "--also", str(path),
                   "--out", str(tmp_path / "both"), "--net", "tiny", "--epochs", "1", "--batch", "4", "--size", "56",
                   "--quiet", "--threads", "1", "--cache-dir", str(tmp_path / "cache")])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and summary["train"] + summary["val"] + summary["calib"] == 24 + 15


def test_no_pretrained_flag_reaches_the_config():
    from trainer.__main__ import build_parser

    args = build_parser().parse_args(["train", "--data", "x", "--out", "y", "--no-pretrained"])
    assert args.pretrained is False
    assert build_parser().parse_args(["train", "--data", "x", "--out", "y"]).pretrained is True
