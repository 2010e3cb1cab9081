"""The one face pipeline (detect -> align by 5 landmarks -> crop) shared by import, training and estimation.

Detection uses OpenCV's YuNet (cv2.FaceDetectorYN) when a model file is available, else OpenCV's bundled
Haar cascade, with a notice saying which. Alignment maps the 5 landmarks (eyes, nose tip, mouth corners)
onto a 112x96 template with a similarity transform, so every consumer sees exactly the same crop for the
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

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

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
# Where the landmarks sit inside a Haar box (fractions of its width and height), which has none of its own.
HAAR_BOX_LANDMARKS = np.array(
    [[0.31, 0.38], [0.69, 0.38], [0.50, 0.58], [0.35, 0.76], [0.65, 0.76]], dtype=np.float32
)

DETECTOR_ENV = "AGEAPP_DETECTOR"
DETECT_MAX_SIDE = 640  # larger photos are shrunk for detection only; crops come from full resolution
YUNET_SCORE_THRESHOLD = 0.6
CROP_JPEG_QUALITY = 95


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height in image pixels
    landmarks: np.ndarray  # (5, 2) float32, image pixels
    score: float
    detector: str
    crop: np.ndarray = field(repr=False)  # (112, 96, 3) uint8 BGR
    template: str = CURRENT_TEMPLATE


class FaceDetector:
    """A detector returning boxes, 5 landmarks and scores; `notice` says which one is in use and why."""

    name = "none"

    def __init__(self, notice: str):
        self.notice = notice

    def detect(self, image: np.ndarray, max_side: int = DETECT_MAX_SIDE) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """(box x y w h, landmarks (5, 2), score) per face, in the image's pixels; the image is shrunk so that
        its longer side is at most max_side for detection only."""
        raise NotImplementedError


class YuNetDetector(FaceDetector):
    name = "yunet"

    def __init__(self, model_path: Path, score_threshold: float = YUNET_SCORE_THRESHOLD):
        super().__init__(f"face detector: YuNet ({model_path})")
        self.model_path = model_path
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, 0.3, 100)
        self._input_size = (320, 320)

    def detect(self, image, max_side: int = DETECT_MAX_SIDE):
        scale = min(1.0, max_side / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        if (small.shape[1], small.shape[0]) != self._input_size:
            self._input_size = (small.shape[1], small.shape[0])
            self._net.setInputSize(self._input_size)
        _, rows = self._net.detect(small)
        if rows is None:
            return []
        return [(row[0:4] / scale, row[4:14].reshape(5, 2) / scale, float(row[14])) for row in rows]


class HaarDetector(FaceDetector):
    name = "haar"

    def __init__(self, reason: str):
        super().__init__(
            f"face detector: OpenCV Haar cascade (fallback: {reason}); set {DETECTOR_ENV} or --detector to a "
            "YuNet .onnx model for better faces and real landmarks"
        )
        cascade_path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(cascade_path))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV's Haar cascade is missing at {cascade_path}: reinstall opencv-python-headless")

    def detect(self, image, max_side: int = DETECT_MAX_SIDE):
        scale = min(1.0, max_side / max(image.shape[:2]))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if scale < 1:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        boxes = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        found = []
        for x, y, w, h in np.asarray(boxes, dtype=np.float32).reshape(-1, 4) / scale:
            landmarks = np.array([x, y], np.float32) + HAAR_BOX_LANDMARKS * np.array([w, h], np.float32)
            found.append((np.array([x, y, w, h], np.float32), landmarks, 1.0))
        return found


def make_detector(model_path: str | Path | None = None) -> FaceDetector:
    """YuNet from model_path, else from $AGEAPP_DETECTOR, else the Haar fallback (see .notice)."""
    chosen = model_path or os.environ.get(DETECTOR_ENV)
    if not chosen:
        return HaarDetector("no YuNet model given")
    path = Path(chosen).expanduser()
    if not path.is_file():
        return HaarDetector(f"YuNet model {path} not found")
    try:
        return YuNetDetector(path)
    except cv2.error as error:
        return HaarDetector(f"YuNet model {path} could not be loaded ({error.msg.strip() if hasattr(error, 'msg') else error})")


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


def align_face(image: np.ndarray, landmarks: np.ndarray, template: str = CURRENT_TEMPLATE) -> np.ndarray:
    """Warp the face whose 5 landmarks are given onto the named 112x96 template."""
    matrix = similarity_transform(landmarks, template_points(template))
    return cv2.warpAffine(
        image, matrix, (CROP_WIDTH, CROP_HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def convert_crop(crop: np.ndarray, source: str, target: str) -> np.ndarray:
    """A crop made with one template warped onto another (the same face, the same landmarks). What lies
    outside the source crop is filled by replicating its border: re-cropping from the image is better
    (`ageapp check --repair` does it for a project) and this is the fallback."""
    if source == target:
        return crop
    template_points(target)  # an unknown name is refused before any work
    return align_face(crop, template_points(source), target)


def pad_for_detection(image: np.ndarray) -> tuple[np.ndarray, int]:
    """The image inside a black border a quarter of its longer side wide, and that width: a face that fills
    the frame (an ID photo, a profile picture, a face chip) is found once it has some context around it."""
    pad = max(image.shape[:2]) // 4
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0)), pad


def detect(image: np.ndarray, detector: FaceDetector,
           max_side: int = DETECT_MAX_SIDE) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The one detection routine (import, photos, the live view): the detector's (box, landmarks, score) rows
    for the image; when it finds nothing, again on the padded image (pad_for_detection), mapped back."""
    rows = detector.detect(image, max_side)
    if rows or detector.name != "yunet":
        return rows
    padded, pad = pad_for_detection(image)
    shift = np.array([pad, pad], np.float32)
    return [(np.concatenate([np.asarray(box[:2], np.float32) - shift, np.asarray(box[2:4], np.float32)]),
             np.asarray(landmarks, np.float32) - shift, score)
            for box, landmarks, score in detector.detect(padded, int(max_side * 1.5))]


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
