"""One frame in, each face's fused age posterior out: detect -> align -> network -> fuse, timed per stage.

Each face's picture quality (ageapp.faces.quality.measure) is measured here, once, on the crop the network is
given, and travels in its FaceEstimate (the live view keeps a track's last measure while the network rests).
Detections below ESTIMATE_MIN_SCORE are dropped before they are aligned (ageapp.faces.detection.drop_weak).

`EstimationPipeline` serves photos (`ageapp estimate`, the photo page: every image detected at full size);
`LivePipeline` the webcam panel and `benchmarks/webcam.py` alike, so what is measured is what the user runs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ageapp.core.posterior import PosteriorSummary, summarize
from ageapp.faces.alignment import CURRENT_TEMPLATE, Face, align_detections, align_face
from ageapp.faces.detection import FaceDetector, detect, drop_weak
from ageapp.faces.quality import FaceQuality, measure
from ageapp.estimation.tracking import FaceTracker


class AgeModel(Protocol):
    """What the pipeline needs of a model: posteriors (and, if it has a gender output, P(female)) per crop."""

    age_max: int
    template: str  # the face template its crops are aligned to

    def predict_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]: ...


@dataclass
class FaceEstimate:
    face: Face
    posterior: np.ndarray
    summary: PosteriorSummary
    female_probability: float | None
    track_id: int | None = None
    quality: FaceQuality | None = None  # the crop's picture quality (None: not measured)

    def as_dict(self) -> dict:
        """One flat record (the CSV's columns, the JSON lines' keys), posterior last."""
        x, y, w, h = self.face.box
        p = self.female_probability
        quality = self.quality.to_dict() if self.quality is not None else {
            "quality": None, "quality_label": None, "quality_issue": None}
        return {
            "box_x": round(x, 1), "box_y": round(y, 1), "box_w": round(w, 1), "box_h": round(h, 1),
            "score": None if self.face.score is None else round(float(self.face.score), 3),
            "age_mean": round(self.summary.mean, 2),
            "age_mode": self.summary.mode,
            "ci90_low": self.summary.ci_low,
            "ci90_high": self.summary.ci_high,
            "gender": None if p is None else ("female" if p >= 0.5 else "male"),
            "female_probability": None if p is None else round(float(p), 3),
            **quality,
            "track": self.track_id,
            "posterior": [round(float(v), 5) for v in self.posterior],
        }


class StageTimer:
    """Accumulates milliseconds per named stage."""

    def __init__(self):
        self.total_ms = defaultdict(float)

    def timed(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.total_ms[stage] += (now - started) * 1000.0
        return now


def model_name(model) -> str:
    """How results name the model that made them: its file, else its type ("" for none)."""
    if model is None:
        return ""
    path = getattr(model, "path", None)
    return str(path) if path is not None else type(model).__name__


class EstimationPipeline:
    def __init__(self, detector: FaceDetector, model: AgeModel, *, fuse: bool = True):
        self.detector = detector
        self.model = model
        self.tracker = FaceTracker() if fuse else None
        self.timer = StageTimer()
        self.frames = 0
        self.faces = 0
        self.network_runs = 0
        self.flip: bool | None = None  # None: the model's own test-time flip setting (photos: on by default)
        self._track_quality: dict[int, FaceQuality] = {}  # each track's last measured picture quality
        self._qualities: list[FaceQuality] | None = None  # the last network call's crops' qualities
        self._quality_ms = 0.0

    def describe(self) -> tuple[str, str]:
        """(model, detector) as the results name them: the model's file, the detector's kind."""
        return model_name(self.model), self.detector.name

    def find(self, image: np.ndarray) -> list[Face]:
        """Every face in the image, aligned to the model's template (timed as detect and align)."""
        started = time.perf_counter()
        raw = drop_weak(detect(image, self.detector))
        started = self.timer.timed("detect", started)
        faces = align_detections(image, raw, self.detector.name, getattr(self.model, "template", CURRENT_TEMPLATE))
        self.timer.timed("align", started)
        return faces

    def estimate(self, image: np.ndarray) -> list[FaceEstimate]:
        faces = self.find(image)
        started = time.perf_counter()
        self._qualities, self._quality_ms = None, 0.0
        predicted = self._predict_faces(faces)  # None: no network this frame (the live view's carried faces)
        qualities = None if predicted is None else self._qualities
        now = time.perf_counter()
        self.timer.total_ms["quality"] += self._quality_ms
        self.timer.total_ms["network"] += (now - started) * 1000.0 - self._quality_ms
        started = now
        estimates = []
        if self.tracker is not None:
            tracks = self.tracker.update([
                (face.box, None, None) if predicted is None else
                (face.box, predicted[0][i], None if predicted[1] is None else float(predicted[1][i]))
                for i, face in enumerate(faces)])
            for i, (face, track) in enumerate(zip(faces, tracks)):
                if qualities is not None:
                    self._track_quality[track.id] = qualities[i]
                fused = track.posterior
                estimates.append(FaceEstimate(face, fused, summarize(fused), track.female_probability, track.id,
                                              self._track_quality.get(track.id)))
            live = {track.id for track in self.tracker.tracks}
            self._track_quality = {key: value for key, value in self._track_quality.items() if key in live}
        else:
            posteriors, female = predicted
            for i, face in enumerate(faces):
                estimates.append(FaceEstimate(face, posteriors[i], summarize(posteriors[i]),
                                              None if female is None else float(female[i]), quality=qualities[i]))
        self.timer.timed("fusion", started)
        self.frames += 1
        self.faces += len(faces)
        return estimates

    def _predict_faces(self, faces: list[Face]):
        """(posteriors, P(female) or None) of the faces' crops, one network call; each crop's picture quality
        is measured first (kept in self._qualities) and handed to the model, whose calibration may depend on it."""
        started = time.perf_counter()
        crops = [face.crop for face in faces]
        self._qualities = [measure(crop) for crop in crops]
        self._quality_ms = (time.perf_counter() - started) * 1000.0
        if not faces:
            return np.zeros((0, self.model.age_max + 1)), None
        self.network_runs += 1
        options = {}
        if hasattr(self.model, "description"):  # ageapp.model's backends: calibration by picture quality
            options["quality"] = np.array([quality.score for quality in self._qualities])
        if self.flip is not None and hasattr(self.model, "flip"):  # ageapp.model's backends take it per call
            options["flip"] = self.flip  # (the photo page shares the live view's model)
        return self.model.predict_crops(crops, **options)


DETECT_EVERY = 3  # the live view detects on every third frame and carries the faces' landmarks in between
LIVE_DETECT_MAX_SIDE = 320  # ... on the frame shrunk to this (a webcam face is large: 40+ pixels here)
NETWORK_EVERY = 2  # the live view runs the network on a continuing face every second frame at least (boxes every frame)
NETWORK_EVERY_MAX = 4  # ... every fourth at most, when the network is slow (a busy machine)
NETWORK_BUDGET_MS = 8.0  # the network's share of a frame: its time per call over this is the cadence (2..4)
LIVE_FLIP = False  # no test-time flip in the live view (see LivePipeline)
LOST_CHANGE = 28.0  # mean grey difference (0..255) of a carried crop from its detected one that means "lost"


class LivePipeline(EstimationPipeline):
    """The live view's pipeline: detection on a shrunken frame every DETECT_EVERY frames, the faces' landmarks
    carried by the tracker in between (each frame still gets its own crops and boxes); the network every
    NETWORK_EVERY frames while every face continues a track (at once for a new face; up to every NETWORK_EVERY_MAX
    frames while a call takes more than NETWORK_BUDGET_MS per step, on a busy machine), its posteriors fused over
    time by the tracker, without test-time flip (LIVE_FLIP: the fusion averages over frames instead, and flip
    doubles the network's time: 15 -> 31 ms a face on 2 cores); a carried crop that no longer looks like the face detected there (it left, something covered
    it) makes the same frame detect again at once, as does a frame with no face carried."""

    def __init__(self, detector: FaceDetector, model: AgeModel, *, detect_every: int = DETECT_EVERY,
                 detect_max_side: int = LIVE_DETECT_MAX_SIDE):
        super().__init__(detector, model, fuse=True)
        self.detect_every, self.detect_max_side = max(1, detect_every), detect_max_side
        self.template = getattr(model, "template", CURRENT_TEMPLATE)
        self._carried: list[tuple[Face, np.ndarray]] = []  # (face as last detected, its small grey crop)
        self._since_detection = 0
        self.detections = 0
        self.redetections = 0  # detections forced by a lost face between the scheduled ones
        self.flip = LIVE_FLIP
        self.network_every = NETWORK_EVERY
        self._network_ms = 0.0  # running mean of the network's time per call
        self.clock = time.perf_counter  # what times the network for the cadence (tests give a steady one)
        self._since_network = 0  # frames since the network last ran

    def _predict_faces(self, faces: list[Face]):
        if (faces and self._since_network < self.network_every
                and self.tracker.matches_all([face.box for face in faces])):
            self._since_network += 1
            return None  # the faces of the last frames, moved: their fused posteriors stand
        self._since_network = 1
        started = self.clock()
        predicted = super()._predict_faces(faces)
        elapsed = (self.clock() - started) * 1000.0
        self._network_ms = elapsed if not self._network_ms else 0.8 * self._network_ms + 0.2 * elapsed
        self.network_every = int(min(NETWORK_EVERY_MAX, max(NETWORK_EVERY, round(self._network_ms / NETWORK_BUDGET_MS))))
        return predicted

    @staticmethod
    def _signature(crop: np.ndarray) -> np.ndarray:
        return cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (24, 28), interpolation=cv2.INTER_AREA).astype(
            np.float32)

    def _carry(self, image: np.ndarray) -> list[Face] | None:
        """The carried faces re-cropped from this frame, or None when detection is due or a face was lost."""
        if not self._carried or self._since_detection >= self.detect_every:
            return None
        faces = []
        for face, signature in self._carried:
            crop = align_face(image, face.landmarks, self.template)
            if float(np.mean(np.abs(self._signature(crop) - signature))) > LOST_CHANGE:
                self.redetections += 1
                return None
            faces.append(Face(face.box, face.landmarks, face.score, face.detector, crop, self.template))
        return faces

    def find(self, image: np.ndarray) -> list[Face]:
        started = time.perf_counter()
        faces = self._carry(image)
        if faces is not None:
            self._since_detection += 1
            self.timer.timed("align", started)
            return faces
        raw = drop_weak(detect(image, self.detector, self.detect_max_side))
        started = self.timer.timed("detect", started)
        faces = align_detections(image, raw, self.detector.name, self.template)
        self._carried = [(face, self._signature(face.crop)) for face in faces]
        self._since_detection, self.detections = 1, self.detections + 1
        self.timer.timed("align", started)
        return faces
