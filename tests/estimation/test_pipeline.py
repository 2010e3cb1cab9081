"""The live pipeline on a video written from real face crops, and photo batches with bad files among good ones."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ageapp.core.posterior import summarize
from ageapp.data.faces import make_detector
from ageapp.estimation.photos import collect_photos, estimate_photos, save_results
from ageapp.estimation.pipeline import EstimationPipeline
from benchmarks.face_video import write_face_video


def _utk_faces(folder, count):
    names = sorted(folder.iterdir())[:: 997][:count]
    return [cv2.imread(str(name)) for name in names]


def test_video_faces_are_found_tracked_and_fused(tmp_path, utkface_images, yunet_model, noisy_model):
    video = write_face_video(tmp_path / "two.avi", _utk_faces(utkface_images, 2), frames=40)
    pipeline = EstimationPipeline(make_detector(yunet_model), noisy_model)
    # Read every frame in order (no capture thread) so the count is exact.
    reader = cv2.VideoCapture(str(video))
    track_ids, fused_errors, single_errors = set(), [], []
    while True:
        ok, frame = reader.read()
        if not ok:
            break
        estimates = pipeline.estimate(frame)
        assert len(estimates) == 2
        track_ids.update(e.track_id for e in estimates)
        if pipeline.frames > 10:
            fused_errors += [abs(e.summary.mean - noisy_model.true_age) for e in estimates]
            single_errors += [abs(c - noisy_model.true_age) for c in noisy_model.centres[-2:]]
    assert pipeline.frames == 40 and track_ids == {1, 2}
    assert np.mean(fused_errors) < 0.6 * np.mean(single_errors)
    assert set(pipeline.timer.total_ms) == {"detect", "align", "network", "fusion"}


def test_photo_batch_reports_a_corrupt_file_and_goes_on(tmp_path, fgnet_images, yunet_model, noisy_model):
    for name in ("009A14.JPG", "010A15.JPG"):
        (tmp_path / name).write_bytes((fgnet_images / name).read_bytes())
    (tmp_path / "broken.jpg").write_bytes((fgnet_images / "009A14.JPG").read_bytes()[:3000])
    pipeline = EstimationPipeline(make_detector(yunet_model), noisy_model, fuse=False)
    results = list(estimate_photos(collect_photos([tmp_path]), pipeline))
    by_name = {r.path.name: r for r in results}
    assert "truncated" in by_name["broken.jpg"].error
    assert all(len(by_name[n].estimates) >= 1 for n in ("009A14.JPG", "010A15.JPG"))
    rows = json.loads(save_results(results, tmp_path / "out.json").read_text())
    face_rows = [row for row in rows if "error" not in row]
    assert len(face_rows) == sum(len(r.estimates) for r in results)
    first = face_rows[0]
    assert abs(sum(first["posterior"]) - 1) < 1e-3 and first["ci90"][0] <= first["age_mode"] <= first["ci90"][1]
    csv_text = save_results(results, tmp_path / "out.csv").read_text().splitlines()
    assert csv_text[0].startswith("path,face,box") and len(csv_text) == len(rows) + 1


def test_estimator_posteriors_are_distributions(untrained_checkpoint):
    from ageapp.estimation.model import load_estimator

    estimator = load_estimator(untrained_checkpoint)
    crops = [np.random.default_rng(i).integers(0, 255, (112, 96, 3), dtype=np.uint8) for i in range(3)]
    posteriors, female = estimator.predict_crops(crops)
    assert posteriors.shape == (3, 101) and np.allclose(posteriors.sum(axis=1), 1, atol=1e-5)
    assert female.shape == (3,) and np.all((female >= 0) & (female <= 1))
    summary = summarize(posteriors[0])
    assert summary.ci_low <= summary.mode <= summary.ci_high


def test_missing_model_says_what_to_do(tmp_path):
    from ageapp.estimation.model import ModelUnavailable, load_estimator

    with pytest.raises(ModelUnavailable, match="not found"):
        load_estimator(tmp_path / "nope.pt")
