"""What the estimate page shows, worked out without Qt: face labels, the face whose posterior is plotted,
the frame rate, the time left in a batch, and how many inference threads leave room for the live view."""

from __future__ import annotations

import os
from collections import deque

from ageapp.estimation.pipeline import FaceEstimate

FEMALE_THRESHOLD = 0.5


def age_text(estimate: FaceEstimate) -> str:
    """Mean age and 90% interval: "34 (28–41)"."""
    summary = estimate.summary
    return f"{summary.mean:.0f} ({summary.ci_low}–{summary.ci_high})"


def gender_text(estimate: FaceEstimate, long: bool = False) -> str:
    """"F" / "M" (long: "female 83%"), or "" when the model has no gender output."""
    p = estimate.female_probability
    if p is None:
        return ""
    female = p >= FEMALE_THRESHOLD
    if not long:
        return "F" if female else "M"
    confidence = p if female else 1.0 - p
    return f"{'female' if female else 'male'} {confidence:.0%}"


def face_label(estimate: FaceEstimate, with_track: bool = False) -> str:
    """The text drawn over a face: "#3  34 (28–41)  F"."""
    parts = [f"#{estimate.track_id}"] if with_track and estimate.track_id is not None else []
    parts.append(age_text(estimate))
    gender = gender_text(estimate)
    if gender:
        parts.append(gender)
    return "  ".join(parts)


def box_area(estimate: FaceEstimate) -> float:
    return estimate.face.box[2] * estimate.face.box[3]


def pick_face(estimates: list[FaceEstimate], track_id: int | None = None) -> FaceEstimate | None:
    """The face with the chosen track id if it is in view, else the largest face, else None."""
    if not estimates:
        return None
    if track_id is not None:
        for estimate in estimates:
            if estimate.track_id == track_id:
                return estimate
    return max(estimates, key=box_area)


class RateMeter:
    """Events per second over the last `window` seconds (the frame rate a user sees right now)."""

    def __init__(self, window: float = 1.0):
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> float:
        self._times.append(now)
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        return self.rate()

    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def eta_text(done: int, total: int, elapsed: float) -> str:
    """"12 of 40 photos · about 9 s left" (no estimate until the first photo is done)."""
    head = f"{done} of {total} photo{'s' if total != 1 else ''}"
    if done <= 0 or done >= total:
        return head
    left = elapsed / done * (total - done)
    if left < 1:
        when = "under a second left"
    elif left < 90:
        when = f"about {left:.0f} s left"
    elif left < 5400:
        when = f"about {left / 60:.0f} min left"
    else:
        when = f"about {left / 3600:.1f} h left"
    return f"{head} · {when}"


def live_inference_threads(cpu_count: int | None = None) -> int:
    """Threads for the network in the live view: half the cores (at least one).

    Capture, detection and drawing need the other half; with every core given to the network, its
    threads spin against them (measured on 2 busy cores: 650 ms per frame with 2 threads, 24 ms with 1).
    """
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 2)
    return max(1, cores // 2)
