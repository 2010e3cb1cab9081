"""Faces followed across frames, each track's age posterior fused over time.

Fusion is an exponentially weighted geometric mean of the per-frame posteriors (in log space):
log F_t = (1 - w) log F_{t-1} + w log p_t, renormalised. Frames of one face are strongly correlated,
so a plain product would grow falsely confident; the weighted mean keeps the single-frame width while
averaging out frame-to-frame noise. A face that appears is a new track and shows its own estimate at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import numpy as np

from ageapp.core.posterior import normalize_log

NEW_FRAME_WEIGHT = 0.25  # about the last 4 frames dominate: steady, yet follows a real change within a second
MATCH_IOU = 0.3
MAX_MISSED_FRAMES = 15
LOG_FLOOR = 1e-12


def box_iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    id: int
    box: tuple[float, float, float, float]
    log_posterior: np.ndarray
    female_probability: float | None = None
    frames: int = 1
    missed: int = 0
    last_posterior: np.ndarray = field(default=None, repr=False)

    @property
    def posterior(self) -> np.ndarray:
        return np.exp(self.log_posterior)

    def absorb(self, box, posterior: np.ndarray, female_probability: float | None, weight: float) -> None:
        self.box = tuple(box)
        self.log_posterior = normalize_log(
            (1 - weight) * self.log_posterior + weight * np.log(np.maximum(posterior, LOG_FLOOR))
        )
        if female_probability is not None:
            previous = female_probability if self.female_probability is None else self.female_probability
            self.female_probability = (1 - weight) * previous + weight * female_probability
        self.frames += 1
        self.missed = 0
        self.last_posterior = posterior


    def follow(self, box) -> None:
        """The face was seen here but not run through the network this frame: its box moves, its posterior
        stands (no new evidence is counted)."""
        self.box = tuple(box)
        self.missed = 0


class FaceTracker:
    """Greedy IoU matching of each frame's detections to the live tracks."""

    def __init__(self, new_frame_weight: float = NEW_FRAME_WEIGHT, match_iou: float = MATCH_IOU,
                 max_missed: int = MAX_MISSED_FRAMES):
        self.new_frame_weight = new_frame_weight
        self.match_iou = match_iou
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._ids = count(1)

    def _match(self, boxes: list) -> dict[int, int]:
        """Greedy one-to-one matching by IoU: {detection index: track index}."""
        pairs = sorted(((box_iou(track.box, box), t, d) for t, track in enumerate(self.tracks)
                        for d, box in enumerate(boxes)), reverse=True)
        matched_tracks: set[int] = set()
        matched: dict[int, int] = {}
        for iou, t, d in pairs:
            if iou < self.match_iou:
                break
            if t in matched_tracks or d in matched:
                continue
            matched_tracks.add(t)
            matched[d] = t
        return matched

    def matches_all(self, boxes: list) -> bool:
        """Whether every box continues a live track (then a frame may skip the network: ageapp.estimation.pipeline)."""
        return len(self._match(boxes)) == len(boxes)

    def update(self, detections: list[tuple[tuple, np.ndarray, float | None]]) -> list[Track]:
        """detections: (box, posterior, female probability or None) per face; a posterior of None (the network
        skipped this frame) only moves a matched track's box. Returns the tracks seen now, one per detection."""
        matched_detections = self._match([det[0] for det in detections])
        matched_tracks = set(matched_detections.values())
        seen = []
        for d, (box, posterior, female_probability) in enumerate(detections):
            if d in matched_detections:
                track = self.tracks[matched_detections[d]]
                if posterior is None:
                    track.follow(box)
                else:
                    track.absorb(box, posterior, female_probability, self.new_frame_weight)
            elif posterior is None:
                raise ValueError("a face that matches no track needs its posterior (run the network on it)")
            else:
                track = Track(next(self._ids), tuple(box), np.log(np.maximum(posterior, LOG_FLOOR)),
                              female_probability, last_posterior=posterior)
                track.log_posterior = normalize_log(track.log_posterior)
                self.tracks.append(track)
            seen.append(track)
        for t, track in enumerate(self.tracks):
            if t not in matched_tracks and track not in seen:
                track.missed += 1
        self.tracks = [track for track in self.tracks if track.missed <= self.max_missed]
        return seen
