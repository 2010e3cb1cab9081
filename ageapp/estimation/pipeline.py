"""One frame in, each face's fused age posterior out: detect -> align -> network -> fuse, timed per stage.

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
from ageapp.faces.detection import FaceDetector, detect
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

    def as_dict(self) -> dict:
        x, y, w, h = self.face.box
        return {
            "box": [round(x, 1), round(y, 1), round(w, 1), round(h, 1)],
            "score": round(self.face.score, 3),
            "age_mean": round(self.summary.mean, 2),
            "age_mode": self.summary.mode,
            "ci90": [self.summary.ci_low, self.summary.ci_high],
            "gender": None if self.female_probability is None else ("female" if self.female_probability >= 0.5 else "male"),
            "female_probability": None if self.female_probability is None else round(float(self.female_probability), 3),
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


class EstimationPipeline:
    def __init__(self, detector: FaceDetector, model: AgeModel, *, fuse: bool = True):
        self.detector = detector
        self.model = model
        self.tracker = FaceTracker() if fuse else None
        self.timer = StageTimer()
        self.frames = 0
        self.faces = 0

    def find(self, image: np.ndarray) -> list[Face]:
        """Every face in the image, aligned to the model's template (timed as detect and align)."""
        started = time.perf_counter()
        raw = detect(image, self.detector)
        started = self.timer.timed("detect", started)
        faces = align_detections(image, raw, self.detector.name, getattr(self.model, "template", CURRENT_TEMPLATE))
        self.timer.timed("align", started)
        return faces

    def estimate(self, image: np.ndarray) -> list[FaceEstimate]:
        faces = self.find(image)
        started = time.perf_counter()
        if faces:
            posteriors, female = self.model.predict_crops([face.crop for face in faces])
        else:
            posteriors, female = np.zeros((0, self.model.age_max + 1)), None
        started = self.timer.timed("network", started)
        estimates = []
        if self.tracker is not None:
            tracks = self.tracker.update(
                [(face.box, posteriors[i], None if female is None else float(female[i])) for i, face in enumerate(faces)]
            )
            for face, track in zip(faces, tracks):
                fused = track.posterior
                estimates.append(FaceEstimate(face, fused, summarize(fused), track.female_probability, track.id))
        else:
            for i, face in enumerate(faces):
                estimates.append(FaceEstimate(face, posteriors[i], summarize(posteriors[i]),
                                              None if female is None else float(female[i])))
        self.timer.timed("fusion", started)
        self.frames += 1
        self.faces += len(faces)
        return estimates



DETECT_EVERY = 3  # the live view detects on every third frame and carries the faces' landmarks in between
LIVE_DETECT_MAX_SIDE = 320  # ... on the frame shrunk to this (a webcam face is large: 40+ pixels here)
LOST_CHANGE = 28.0  # mean grey difference (0..255) of a carried crop from its detected one that means "lost"


class LivePipeline(EstimationPipeline):
    """The live view's pipeline: detection on a shrunken frame every DETECT_EVERY frames, the faces' landmarks
    carried by the tracker in between (each frame still gets its own crops, one batched network call and
    fusion); a carried crop that no longer looks like the face detected there (it left, something covered
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
        raw = detect(image, self.detector, self.detect_max_side)
        started = self.timer.timed("detect", started)
        faces = align_detections(image, raw, self.detector.name, self.template)
        self._carried = [(face, self._signature(face.crop)) for face in faces]
        self._since_detection, self.detections = 1, self.detections + 1
        self.timer.timed("align", started)
        return faces
