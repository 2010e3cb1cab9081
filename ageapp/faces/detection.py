"""Finding faces: a detector (OpenCV's YuNet when a model file is available, else OpenCV's bundled Haar
cascade, with a notice saying which) and the one detection routine import, photos and the live view share.

A detector returns (box, 5 landmarks, score) rows in the image's pixels; `ageapp.faces.alignment` turns them
into aligned crops. YuNet's score is its confidence (0..1); the Haar cascade has none (score None, never a
made-up 1.0), and its weak detections (few stages passed with little margin) are dropped inside it.
Estimation also drops YuNet detections below ESTIMATE_MIN_SCORE (`drop_weak`).

A YuNet file is tried on a blank test image when it is loaded: an ONNX model that is not YuNet (an age model,
say) loads in OpenCV but fails on every image, so it is caught here, once. `make_detector` falls back to Haar
with a notice for a file that is not there; a file that is there but is not a usable YuNet model (another
network, a damaged file, a pipe or a folder) falls back with a notice too, or, with `strict=True` (a detector
the user named on the command line), is refused with a DetectorError that says what the file is.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

import cv2
import numpy as np

# Where the landmarks sit inside a Haar box (fractions of its width and height), which has none of its own.
HAAR_BOX_LANDMARKS = np.array(
    [[0.31, 0.38], [0.69, 0.38], [0.50, 0.58], [0.35, 0.76], [0.65, 0.76]], dtype=np.float32
)

DETECTOR_ENV = "AGEAPP_DETECTOR"
DETECT_MAX_SIDE = 640  # larger photos are shrunk for detection only; crops come from full resolution
YUNET_SCORE_THRESHOLD = 0.6
# Estimation shows a face only at YuNet score >= this. Measured on 334 FG-NET photos (every third; true face from
# the annotated landmarks): 319 true detections scoring 0.86 or more in 99% of cases (5th percentile 0.90), and
# one false detection, at 0.77; 479 UTKFace chips all scored above 0.85.
ESTIMATE_MIN_SCORE = 0.8
# The Haar cascade's detections whose final-stage weight (detectMultiScale3's levelWeights) is below this are
# dropped: on the same FG-NET photos (322 readable), 10 of its 16 false detections and 5 of its 302 true ones.
HAAR_MIN_WEIGHT = 2.5


_LOG_LEVEL_LOCK = threading.Lock()
_OPENCV_LOG = getattr(getattr(cv2, "utils", None), "logging", None)  # absent from some OpenCV builds


@contextlib.contextmanager
def quiet_opencv(quiet: bool = True, silent: bool = False):
    """OpenCV's log at errors only (silent: nothing) while inside, then as it was: its warnings go straight to
    the terminal. The level is global and workers probe detectors at once: saving and restoring it is
    serialised."""
    if not quiet or _OPENCV_LOG is None:
        yield
        return
    with _LOG_LEVEL_LOCK:
        level = _OPENCV_LOG.getLogLevel()
        _OPENCV_LOG.setLogLevel(_OPENCV_LOG.LOG_LEVEL_SILENT if silent else min(level, _OPENCV_LOG.LOG_LEVEL_ERROR))
        try:
            yield
        finally:
            _OPENCV_LOG.setLogLevel(level)


class DetectorError(ValueError):
    """A face detector file that is there but cannot be used, with what it is and what to do."""


class FaceDetector:
    """A detector returning boxes, 5 landmarks and scores; `notice` says which one is in use and why."""

    name = "none"

    def __init__(self, notice: str):
        self.notice = notice

    def detect(self, image: np.ndarray, max_side: int = DETECT_MAX_SIDE
               ) -> list[tuple[np.ndarray, np.ndarray, float | None]]:
        """(box x y w h, landmarks (5, 2), score or None) per face, in the image's pixels; the image is shrunk so
        that its longer side is at most max_side for detection only."""
        raise NotImplementedError


class YuNetDetector(FaceDetector):
    name = "yunet"

    def __init__(self, model_path: Path, score_threshold: float = YUNET_SCORE_THRESHOLD):
        super().__init__(f"face detector: YuNet ({model_path})")
        self.model_path = model_path
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, 0.3, 100)
        self._input_size = (320, 320)
        self._probe()

    def _probe(self) -> None:
        """Another ONNX network fails here (cv2.error), once, not on every image; OpenCV's own log kept quiet."""
        with quiet_opencv(silent=True):
            self.detect(np.zeros((64, 64, 3), np.uint8))

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
        boxes, _, weights = self._cascade.detectMultiScale3(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24),
                                                            outputRejectLevels=True)
        found = []
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        for (x, y, w, h), weight in zip(np.asarray(boxes, dtype=np.float32).reshape(-1, 4) / scale, weights):
            if weight < HAAR_MIN_WEIGHT:
                continue
            landmarks = np.array([x, y], np.float32) + HAAR_BOX_LANDMARKS * np.array([w, h], np.float32)
            found.append((np.array([x, y, w, h], np.float32), landmarks, None))  # no score: it has no confidence
        return found


def make_detector(model_path: str | Path | None = None, *, strict: bool = False) -> FaceDetector:
    """YuNet from model_path, else from $AGEAPP_DETECTOR, else the Haar fallback (see .notice). A file that is
    not there falls back to Haar; one that is there but is no usable YuNet model falls back too, or with
    `strict` raises DetectorError (module docstring)."""
    chosen = model_path or os.environ.get(DETECTOR_ENV)
    if not chosen:
        return HaarDetector("no YuNet model given")
    path = Path(chosen).expanduser()
    source = "" if model_path else f" (from ${DETECTOR_ENV})"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return HaarDetector(f"YuNet model {path}{source} not found")
    except OSError as error:
        return _unusable(path, source, f"it cannot be read ({error.strerror or error})", strict)
    if not stat.S_ISREG(mode):
        kind = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a pipe (FIFO)", stat.S_IFSOCK: "a socket"}.get(
            stat.S_IFMT(mode), "a device")
        return _unusable(path, source, f"it is {kind}, not a model file", strict)
    try:
        return YuNetDetector(path)
    except cv2.error as error:
        first = ((getattr(error, "err", "") or str(error)).strip().splitlines() or [""])[0]
        detail = f" ({first[:160]})" if first and not first.startswith(">") else ""  # not OpenCV's shape dumps
        return _unusable(path, source, f"it is not a YuNet face detector: OpenCV could not run it on a test "
                                       f"image{detail}", strict)


def _unusable(path: Path, source: str, why: str, strict: bool) -> FaceDetector:
    if strict:
        raise DetectorError(f"the face detector {path}{source} cannot be used: {why}. Give a YuNet model "
                            "(face_detection_yunet_2023mar.onnx from the OpenCV model zoo), or leave the detector "
                            f"out{' (unset $' + DETECTOR_ENV + ')' if source else ''} to use OpenCV's Haar cascade")
    return HaarDetector(f"YuNet model {path}{source} could not be used: {why}")



def drop_weak(rows: list, min_score: float = ESTIMATE_MIN_SCORE) -> list:
    """The rows whose score is at least min_score; rows without a score (the Haar cascade's, already filtered
    by their stage weight) are kept."""
    return [row for row in rows if row[2] is None or row[2] >= min_score]


def pad_for_detection(image: np.ndarray) -> tuple[np.ndarray, int]:
    """The image inside a black border a quarter of its longer side wide, and that width: a face that fills
    the frame (an ID photo, a profile picture, a face chip) is found once it has some context around it."""
    pad = max(image.shape[:2]) // 4
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0)), pad


def detect(image: np.ndarray, detector: FaceDetector,
           max_side: int = DETECT_MAX_SIDE) -> list[tuple[np.ndarray, np.ndarray, float | None]]:
    """The one detection routine (import, photos, the live view): the detector's (box, landmarks, score) rows
    for the image; when it finds nothing, again on the padded image (pad_for_detection), mapped back."""
    rows = detector.detect(image, max_side)
    if rows:
        return rows
    padded, pad = pad_for_detection(image)
    shift = np.array([pad, pad], np.float32)
    return [(np.concatenate([np.asarray(box[:2], np.float32) - shift, np.asarray(box[2:4], np.float32)]),
             np.asarray(landmarks, np.float32) - shift, score)
            for box, landmarks, score in detector.detect(padded, int(max_side * 1.5))]


