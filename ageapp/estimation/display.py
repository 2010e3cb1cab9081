"""What the estimate page shows, worked out without Qt: face labels, the face whose posterior is plotted,
the frame rate, the time left in a batch, and how many inference threads leave room for the live view.

Honest by construction: a face whose picture is too poor to judge says so in place of an age (its posterior
stays available on selection); a gender below GENDER_SURE confidence reads as unsure; the 90% interval's
meaning is spelled out for a tooltip (`interval_meaning`)."""

from __future__ import annotations

import os
from collections import deque

from ageapp.estimation.pipeline import FaceEstimate

FEMALE_THRESHOLD = 0.5
# A gender is shown only at this confidence (max(p, 1 - p)) or more, else as unsure ("F?" / "gender unsure").
# Measured with benchmarks/gender_confidence.py on 1,500 held-out UTKFace faces (the default model's validation
# split): 91% of faces reach 75%, and among them the gender is right 95.6% of the time; below 75% it is right
# 62.3% of the time (overall 92.5%; the model of 2026-12-08; of 2026-12-07: 95.2% and 68.7%; before: 95.4% and
# 52.6%, a coin toss).
GENDER_SURE = 0.75


def too_poor(estimate: FaceEstimate) -> bool:
    """The face's picture is too poor to judge (ageapp.faces.quality): no age is shown for it."""
    return estimate.quality is not None and estimate.quality.too_poor


def age_text(estimate: FaceEstimate) -> str:
    """Mean age and 90% interval: "34 (28–41)"; "too poor to judge (noise)" for a face whose picture is."""
    if too_poor(estimate):
        issue = estimate.quality.weakest
        return f"too poor to judge ({issue})" if issue else "too poor to judge"
    summary = estimate.summary
    return f"{summary.mean:.0f} ({summary.ci_low}–{summary.ci_high})"


def gender_text(estimate: FaceEstimate, long: bool = False) -> str:
    """"F" / "M" (long: "female 83%"); below GENDER_SURE "?" (long: "gender unsure (59% female)"); "" when
    the model has no gender output or the picture is too poor to judge (the tooltip still tells the guess)."""
    p = estimate.female_probability
    if p is None or too_poor(estimate):
        return ""
    female = p >= FEMALE_THRESHOLD
    confidence = p if female else 1.0 - p
    if confidence < GENDER_SURE:
        return f"gender unsure ({p:.0%} female)" if long else "?"
    if not long:
        return "F" if female else "M"
    return f"{'female' if female else 'male'} {confidence:.0%}"


def quality_text(estimate: FaceEstimate, with_score: bool = True) -> str:
    """"picture good" / "picture poor (blur) 0.31" (without its score: "picture poor (blur)"), or "" when not
    measured or too poor (the age's place already says so)."""
    quality = estimate.quality
    if quality is None or quality.too_poor:
        return ""
    score = with_score and quality.label != "good"
    return f"picture {quality.describe()}" + (f" {quality.score:.2f}" if score else "")


def plot_title(estimate: FaceEstimate) -> str:
    """The posterior plot's title for a face too poor to judge ("" otherwise: the plot's own title)."""
    if not too_poor(estimate):
        return ""
    summary = estimate.summary
    return f"{age_text(estimate)} · guess {summary.mean:.0f} ({summary.ci_low}–{summary.ci_high})"


def interval_meaning(estimate: FaceEstimate) -> str:
    """The 90% interval in words, for a tooltip."""
    summary = estimate.summary
    text = (f"Age {summary.mean:.1f}, 90% interval {summary.ci_low}–{summary.ci_high} years: 9 in 10 faces like this "
            "one are inside their interval (true age between its ends), for a model calibrated on faces like them.")
    if too_poor(estimate):
        text = (f"The picture is too poor to judge ({estimate.quality.weakest or 'quality'} score "
                f"{estimate.quality.score:.2f}), so no age is shown; the model's guess would be: {text}")
    elif estimate.quality is not None and estimate.quality.label != "good":
        quality = estimate.quality
        cause = f"{quality.weakest}; " if quality.weakest else ""
        text += (f" The picture is {quality.label} ({cause}quality score {quality.score:.2f}): the estimate may be "
                 "off by more.")
    p = estimate.female_probability
    if p is not None and too_poor(estimate):
        text += f" Gender guess: {p:.0%} female."
    elif p is not None and max(p, 1 - p) < GENDER_SURE:
        text += (f" Gender unsure: {p:.0%} female; below {GENDER_SURE:.0%} confidence the model is right about "
                 "half the time.")
    return text


def photo_row_text(name: str, estimates: list[FaceEstimate], shown: int = 4) -> str:
    """A photo in the results list: its name, then how many faces and the first `shown` ages ("too poor" for a
    face too poor to judge): "a.jpg\n2 faces: 34, too poor"."""
    count = len(estimates)
    ages = ", ".join("too poor" if too_poor(e) else age_text(e).split(" ")[0] for e in estimates[:shown])
    faces = "no face found" if count == 0 else f"{count} face{'s' if count != 1 else ''}: {ages}"
    return f"{name}\n{faces}{'…' if count > shown else ''}"


def face_row_text(index: int, estimate: FaceEstimate) -> str:
    """A face in the photo's face list: "Face 1:  34 (28–41)  ·  picture poor (blur)  ·  male 83%". The picture's
    quality comes before the gender: it says how far to trust the age, and a narrow list cuts the row's end
    (the row's tooltip has the quality's score)."""
    parts = [f"Face {index + 1}:  {age_text(estimate)}", quality_text(estimate, with_score=False),
             gender_text(estimate, long=True)]
    return "  ·  ".join(part for part in parts if part)


def face_label(estimate: FaceEstimate, with_track: bool = False) -> str:
    """The text drawn over a face: "#3  34 (28–41)  F" ("?" for an unsure gender; "poor: blur" after a poor
    picture's estimate)."""
    parts = [f"#{estimate.track_id}"] if with_track and estimate.track_id is not None else []
    parts.append(short_label(estimate))
    return "  ".join(parts)


def short_label(estimate: FaceEstimate) -> str:
    """Age, gender and a poor picture's warning: "34 (28–41)  F  poor: blur"."""
    parts = [age_text(estimate)]
    gender = gender_text(estimate)
    if gender:
        parts.append(gender)
    quality = estimate.quality
    if quality is not None and quality.label == "poor":
        parts.append(f"poor: {quality.weakest}" if quality.weakest else "poor picture")
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
