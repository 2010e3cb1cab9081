"""Tracks keep their identity across frames and fuse noisy per-frame posteriors."""

from __future__ import annotations

import numpy as np

from ageapp.core.posterior import summarize
from ageapp.estimation.tracking import FaceTracker, box_iou

AGES = np.arange(0, 101)


def gaussian_posterior(centre: float, sd: float = 4.0) -> np.ndarray:
    p = np.exp(-0.5 * ((AGES - centre) / sd) ** 2)
    return p / p.sum()


def test_box_iou_by_hand():
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == 50 / 150
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_two_faces_keep_their_tracks_while_moving():
    tracker = FaceTracker()
    ids = set()
    for step in range(10):
        left = (10 + step, 10, 50, 50)
        right = (200 - step, 12, 60, 60)
        tracks = tracker.update([(left, gaussian_posterior(30), None), (right, gaussian_posterior(60), None)])
        ids.add((tracks[0].id, tracks[1].id))
    assert ids == {(1, 2)}


def test_fused_age_is_closer_to_the_truth_than_single_frames():
    rng = np.random.default_rng(0)
    true_age = 40
    tracker = FaceTracker()
    single_errors, fused_errors = [], []
    for frame in range(60):
        noisy_centre = true_age + rng.normal(0, 6)
        track = tracker.update([((100, 100, 80, 80), gaussian_posterior(noisy_centre), None)])[0]
        if frame >= 10:  # once the track has history
            single_errors.append(abs(noisy_centre - true_age))
            fused_errors.append(abs(summarize(track.posterior).mean - true_age))
    assert np.mean(fused_errors) < 0.6 * np.mean(single_errors)


def test_a_new_face_shows_its_own_age_at_once():
    tracker = FaceTracker()
    for _ in range(20):
        tracker.update([((100, 100, 80, 80), gaussian_posterior(70), None)])
    newcomer = tracker.update([((400, 100, 80, 80), gaussian_posterior(20), None)])[0]
    assert newcomer.id == 2 and abs(summarize(newcomer.posterior).mean - 20) < 1


def test_fusion_keeps_the_single_frame_width():
    tracker = FaceTracker()
    for _ in range(50):
        track = tracker.update([((0, 0, 50, 50), gaussian_posterior(35), None)])[0]
    assert abs(summarize(track.posterior).ci_width - summarize(gaussian_posterior(35)).ci_width) <= 1


def test_lost_tracks_expire():
    tracker = FaceTracker(max_missed=2)
    tracker.update([((0, 0, 50, 50), gaussian_posterior(35), None)])
    for _ in range(3):
        tracker.update([])
    assert tracker.tracks == []
