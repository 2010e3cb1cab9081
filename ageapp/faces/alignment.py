"""Aligning faces: the 5 landmarks (eyes, nose tip, mouth corners) mapped onto a 112x96 template by a
similarity transform, so every consumer (import, training, estimation) sees exactly the same crop for the
same face.

Two templates are known by name (a model says which one it was trained on; a project's faces say which one
they were cropped with):
- "chip" (the current one): the layout of a UTKFace-style aligned chip, measured (`benchmarks/crop_band.py`):
  the YuNet landmarks' median position on 1,500 UTKFace chips, with the crop covering the central 88% of the
  chip. A chip aligned to it has 0.06% of its pixels outside the chip on average (0.6% of chips lose more
  than 2%), so a face crop and a photo give the model the same view: forehead, brows, cheeks and chin.
- "mfn": the face-verification template of MobileFaceNet / SphereFace, the first version's. Its forehead lies
  above a UTKFace chip: 25% of a chip's crop was black band. Kept to read older projects and models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ageapp.faces.detection import FaceDetector, detect, pad_for_detection

CROP_HEIGHT, CROP_WIDTH = 112, 96
# Landmark templates (x, y) for a 96x112 crop: left eye, right eye, nose tip, left and right mouth corner.
TEMPLATES = {
    "chip": np.array([[22.6, 28.5], [73.4, 28.5], [48.0, 58.2], [26.2, 78.3], [69.8, 78.3]], dtype=np.float32),
    "mfn": np.array(
        [[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366], [33.5493, 92.3655], [62.7299, 92.2041]],
        dtype=np.float32,
    ),
}
CURRENT_TEMPLATE = "chip"
LEGACY_TEMPLATE = "mfn"  # what faces and models written before templates had names were cropped with
TEMPLATE_LANDMARKS = TEMPLATES[CURRENT_TEMPLATE]
# Where the landmarks sit, as fractions of width and height, in UTKFace-style aligned chips
# (median of YuNet on a sample of UTKFace); used when an --aligned crop yields no detection.
ALIGNED_CHIP_LANDMARKS = np.array(
    [[0.290, 0.286], [0.691, 0.280], [0.492, 0.516], [0.324, 0.681], [0.668, 0.673]], dtype=np.float32
)
CROP_JPEG_QUALITY = 95


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height in image pixels
    landmarks: np.ndarray  # (5, 2) float32, image pixels
    score: float
    detector: str
    crop: np.ndarray = field(repr=False)  # (112, 96, 3) uint8 BGR
    template: str = CURRENT_TEMPLATE



def template_points(template: str) -> np.ndarray:
    """The landmark positions of a named template; a name this version does not know is a ValueError."""
    try:
        return TEMPLATES[template]
    except KeyError:
        raise ValueError(f"unknown face template {template!r} (known: {', '.join(TEMPLATES)}): "
                         "this model or project was made by a newer version of the app") from None


def similarity_transform(landmarks: np.ndarray, template: np.ndarray = TEMPLATE_LANDMARKS) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, shift) mapping landmarks onto the template (least squares)."""
    src = np.asarray(landmarks, dtype=np.float64)
    dst = np.asarray(template, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    # Umeyama without reflection: the rotation that best aligns the centred point sets.
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / src_c.var(axis=0).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]]).astype(np.float32)


def align_face(image: np.ndarray, landmarks: np.ndarray, template: str = CURRENT_TEMPLATE,
               scale: int = 1) -> np.ndarray:
    """Warp the face whose 5 landmarks are given onto the named 112x96 template; `scale` times larger (the same
    framing at more pixels, for a closer look) when scale > 1."""
    matrix = similarity_transform(landmarks, template_points(template) * scale)
    return cv2.warpAffine(
        image, matrix, (CROP_WIDTH * scale, CROP_HEIGHT * scale), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def convert_crop(crop: np.ndarray, source: str, target: str) -> np.ndarray:
    """A crop made with one template warped onto another (the same face, the same landmarks). What lies
    outside the source crop is filled by replicating its border: re-cropping from the image is better
    (`ageapp check --repair` does it for a project) and this is the fallback."""
    if source == target:
        return crop
    template_points(target)  # an unknown name is refused before any work
    return align_face(crop, template_points(source), target)



def detect_faces(image: np.ndarray, detector: FaceDetector, template: str = CURRENT_TEMPLATE) -> list[Face]:
    """All faces in a photo, largest first, each aligned and cropped (from the photo itself)."""
    return align_detections(image, detect(image, detector), detector.name, template)


def align_detections(image: np.ndarray, detections, detector_name: str,
                     template: str = CURRENT_TEMPLATE) -> list[Face]:
    """Faces from a detector's raw (box, landmarks, score) rows, largest first."""
    faces = [
        Face(tuple(float(v) for v in box), landmarks.astype(np.float32), score, detector_name,
             align_face(image, landmarks, template), template)
        for box, landmarks, score in detections
    ]
    return sorted(faces, key=lambda face: face.box[2] * face.box[3], reverse=True)


def face_from_landmarks(image: np.ndarray, landmarks: np.ndarray, source: str,
                        template: str = CURRENT_TEMPLATE) -> Face:
    """A face aligned from landmarks known beforehand (an annotation file, a fixed chip layout)."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    margin = (high - low) * 0.5
    box = (*(low - margin), *(high - low + 2 * margin))
    return Face(tuple(float(v) for v in box), landmarks, 1.0, source, align_face(image, landmarks, template),
                template)


def face_from_aligned_crop(image: np.ndarray, detector: FaceDetector, template: str = CURRENT_TEMPLATE) -> Face:
    """One face from an image that is already a face crop (UTKFace chips): aligned the same way as a photo
    when the detector finds its landmarks, else from the typical chip layout. The detector sees the chip
    with a black border (a face filling the frame is hard to detect); the crop comes from the chip itself."""
    height, width = image.shape[:2]
    padded, pad = pad_for_detection(image)
    candidates = detector.detect(padded) if detector.name == "yunet" else []
    if candidates:
        box, landmarks, score = max(candidates, key=lambda row: row[2])
        landmarks = (np.asarray(landmarks, np.float32) - pad).astype(np.float32)
        return Face((float(box[0] - pad), float(box[1] - pad), float(box[2]), float(box[3])), landmarks,
                    float(score), detector.name, align_face(image, landmarks, template), template)
    return face_from_landmarks(image, ALIGNED_CHIP_LANDMARKS * np.array([width, height], np.float32), "chip",
                               template)


def encode_crop(crop: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, CROP_JPEG_QUALITY])
    if not ok:
        raise ValueError("could not encode the face crop")
    return buffer.tobytes()


def decode_crop(data: bytes) -> np.ndarray:
    crop = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if crop is None:
        raise ValueError("stored face crop is corrupt")
    return crop
