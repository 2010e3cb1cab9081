"""One frame in, each face's fused age posterior out: detect -> align -> network -> fuse, timed per stage.

The same object serves the webcam panel, `ageapp estimate` on photos (without fusion) and the webcam
benchmark, so what is measured is what the user runs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ageapp.core.posterior import PosteriorSummary, summarize
from ageapp.data.faces import Face, FaceDetector, align_detections
from ageapp.estimation.tracking import FaceTracker


class AgeModel(Protocol):
    """What the pipeline needs of a model: posteriors (and, if it has a gender output, P(female)) per crop."""

    age_max: int

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

    def estimate(self, image: np.ndarray) -> list[FaceEstimate]:
        started = time.perf_counter()
        raw = self.detector.detect(image)
        started = self.timer.timed("detect", started)
        faces = align_detections(image, raw, self.detector.name)
        started = self.timer.timed("align", started)
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

