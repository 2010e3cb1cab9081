"""The face pipeline: alignment puts landmarks on the template; detection finds real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ageapp.faces.alignment import (

    CROP_HEIGHT,

    CROP_WIDTH,

    TEMPLATE_LANDMARKS,

    TEMPLATES,

    align_face,

    convert_crop,

    decode_crop,

    detect_faces,

    encode_crop,

    face_from_aligned_crop,

    similarity_transform,

)

from ageapp.faces.detection import make_detector
from ageapp.faces.images import load_image


def _dots_image(points: np.ndarray, size=(400, 400)) -> np.ndarray:
    image = np.zeros((*size, 3), np.uint8)
    for x, y in points:
        cv2.circle(image, (int(round(x)), int(round(y))), 4, (255, 255, 255), -1, lineType=cv2.LINE_AA)
    return image


def _dot_centres(crop: np.ndarray) -> np.ndarray:
    """Find the bright dots in the crop by image analysis (independent of the transform maths)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    count, _, stats, centroids = cv2.connectedComponentsWithStats((grey > 60).astype(np.uint8))
    return centroids[1:][np.argsort(-stats[1:, cv2.CC_STAT_AREA])][:5]


@pytest.mark.parametrize("angle", [-35.0, 0.0, 20.0, 50.0])
def test_rotated_face_comes_out_upright(angle):
    # A "face" of 5 dots, scaled up 2x, rotated by a known angle and moved into a bigger canvas.
    centre = TEMPLATE_LANDMARKS.mean(axis=0)
    theta = np.deg2rad(angle)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    landmarks = (TEMPLATE_LANDMARKS - centre) @ rotation.T * 2.0 + np.array([200.0, 210.0])
    crop = align_face(_dots_image(landmarks), landmarks)
    assert crop.shape == (CROP_HEIGHT, CROP_WIDTH, 3)
    found = _dot_centres(crop)
    assert len(found) == 5
    for expected in TEMPLATE_LANDMARKS:
        assert np.min(np.linalg.norm(found - expected, axis=1)) < 2.0


def test_similarity_transform_is_exact_for_a_similar_copy():
    matrix = np.array([[0.8, -0.6, 12.0], [0.6, 0.8, -7.0]])  # rotation + scale 1 + shift
    source = np.c_[TEMPLATE_LANDMARKS, np.ones(5)] @ np.linalg.inv(np.r_[matrix, [[0, 0, 1]]]).T[:, :2].T.T
    recovered = similarity_transform(source[:, :2])
    mapped = np.c_[source[:, :2], np.ones(5)] @ recovered.T
    assert np.allclose(mapped, TEMPLATE_LANDMARKS, atol=1e-3)


def test_crop_encoding_round_trips_closely():
    crop = np.random.default_rng(0).integers(0, 255, (CROP_HEIGHT, CROP_WIDTH, 3), dtype=np.uint8)
    crop = cv2.GaussianBlur(crop, (7, 7), 2)
    restored = decode_crop(encode_crop(crop))
    assert restored.shape == crop.shape and np.abs(restored.astype(int) - crop).mean() < 3


def test_missing_yunet_model_falls_back_to_haar_with_a_notice(tmp_path, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    detector = make_detector(tmp_path / "nowhere.onnx")
    assert detector.name == "haar" and "not found" in detector.notice


def test_environment_variable_chooses_yunet(yunet_model, monkeypatch):
    monkeypatch.setenv("AGEAPP_DETECTOR", str(yunet_model))
    assert make_detector().name == "yunet"


@pytest.mark.parametrize("angle", [-10.0, 10.0])
def test_yunet_finds_the_face_in_a_turned_photo_and_levels_it(fgnet_images, yunet_model, angle):
    photo = load_image(fgnet_images / "009A14.JPG")
    height, width = photo.shape[:2]
    turned = cv2.warpAffine(photo, cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), (width, height))
    detector = make_detector(yunet_model)
    faces = detect_faces(turned, detector)
    assert faces and faces[0].score > 0.6
    # Detect again inside the aligned crop: the eyes must now be level (YuNet's own noise is a few degrees),
    # though the photo's eye line was tilted by about `angle` degrees.
    again = face_from_aligned_crop(cv2.resize(faces[0].crop, None, fx=2, fy=2), detector)
    left_eye, right_eye = again.landmarks[0], again.landmarks[1]
    tilt = np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    assert again.detector == "yunet" and abs(tilt) < 4.0


def test_haar_fallback_still_finds_a_face(fgnet_images, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    faces = detect_faces(load_image(fgnet_images / "009A14.JPG"), make_detector())
    assert faces and faces[0].detector == "haar" and faces[0].crop.shape == (CROP_HEIGHT, CROP_WIDTH, 3)


def test_a_crop_converts_from_one_template_to_another():
    """A face cropped with the face-verification template and converted to the chip template shows its dots
    where cropping the photo with the chip template puts them (found by image analysis); an unknown template
    name is refused."""
    rng = np.random.default_rng(4)
    landmarks = TEMPLATES["chip"] * 2.2 + np.array([90.0, 120.0]) + rng.normal(0, 3, (5, 2))
    photo = _dots_image(landmarks)
    old = align_face(photo, landmarks, "mfn")
    converted = _dot_centres(convert_crop(old, "mfn", "chip"))
    direct = _dot_centres(align_face(photo, landmarks, "chip"))
    assert convert_crop(old, "mfn", "mfn") is old
    assert len(converted) == len(direct) == 5
    for point in direct:
        assert np.min(np.linalg.norm(converted - point, axis=1)) < 1.0
    with pytest.raises(ValueError, match="unknown face template 'v9'"):
        convert_crop(old, "mfn", "v9")


@pytest.mark.shared
def test_the_chip_template_keeps_a_utkface_chip_inside_the_chip(utkface_images, yunet_model):
    """The measurement behind the template (benchmarks/crop_band.py), on 60 chips: the face-verification
    template puts a fifth of the crop above the chip, the chip template almost none."""
    from benchmarks.crop_band import chip_landmarks, outside_share

    landmarks = chip_landmarks(sorted(utkface_images.glob("*.jpg"))[::300][:60], make_detector(yunet_model))
    assert len(landmarks) >= 55
    assert outside_share(landmarks, TEMPLATES["mfn"]).mean() > 0.15
    assert outside_share(landmarks, TEMPLATES["chip"]).mean() < 0.005
