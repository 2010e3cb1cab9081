"""What the estimate page shows, without Qt: labels, the plotted face, the frame rate, time left, threads."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.core.posterior import summarize
from ageapp.faces.alignment import Face
from ageapp.estimation.display import (
    GENDER_SURE,
    RateMeter,
    age_text,
    eta_text,
    face_label,
    face_row_text,
    gender_text,
    interval_meaning,
    live_inference_threads,
    photo_row_text,
    pick_face,
    plot_title,
    quality_text,
)
from ageapp.estimation.pipeline import FaceEstimate
from ageapp.faces.quality import FaceQuality


def estimate(box, track_id=None, female=None, ages=(30, 31, 32, 33, 34), quality=None) -> FaceEstimate:
    p = np.zeros(101)
    p[list(ages)] = 1.0 / len(ages)
    face = Face(box, np.zeros((5, 2), np.float32), 1.0, "test", np.zeros((112, 96, 3), np.uint8))
    return FaceEstimate(face, p, summarize(p), female, track_id, quality)


def test_labels_give_mean_interval_gender_and_track():
    e = estimate((0, 0, 10, 10), track_id=3, female=0.83)
    # Uniform over 30..34: mean 32; the 90% interval drops 5% of mass at each end, so it is 30..34.
    assert age_text(e) == "32 (30–34)"
    assert gender_text(e) == "F" and gender_text(e, long=True) == "female 83%"
    assert face_label(e, with_track=True) == "#3  32 (30–34)  F" and face_label(e) == "32 (30–34)  F"
    male = estimate((0, 0, 10, 10), female=0.1)
    assert gender_text(male, long=True) == "male 90%"
    assert face_label(estimate((0, 0, 1, 1), track_id=2)) == "32 (30–34)"  # no gender output, no track asked


def test_an_unsure_gender_reads_as_unsure_below_the_stated_confidence():
    assert GENDER_SURE == 0.75
    unsure = estimate((0, 0, 10, 10), female=0.59)  # the "F" at 59% female
    assert gender_text(unsure) == "?" and gender_text(unsure, long=True) == "gender unsure (59% female)"
    assert face_label(unsure) == "32 (30–34)  ?"
    assert "Gender unsure: 59% female" in interval_meaning(unsure)
    assert gender_text(estimate((0, 0, 1, 1), female=0.26), long=True) == "gender unsure (26% female)"  # 74% male
    assert gender_text(estimate((0, 0, 1, 1), female=0.25)) == "M"  # 75% male: sure enough
    assert gender_text(estimate((0, 0, 1, 1), female=0.75), long=True) == "female 75%"


def test_a_face_too_poor_to_judge_shows_no_age_and_says_why():
    poor = FaceQuality(0.05, "too poor", "noise", 31.0, 0.6, 70.0, 120.0, 6.0)
    e = estimate((0, 0, 10, 10), track_id=4, female=0.9, quality=poor)
    assert age_text(e) == "too poor to judge (noise)" and gender_text(e) == ""
    assert face_label(e, with_track=True) == "#4  too poor to judge (noise)"
    assert gender_text(e, long=True) == "" and quality_text(e) == ""  # the age's place says it all ...
    assert plot_title(e) == "too poor to judge (noise) · guess 32 (30–34)"  # ... the guess is there on selection
    meaning = interval_meaning(e)
    assert meaning.startswith("The picture is too poor to judge (noise score 0.05)") and "Gender guess: 90% female" \
        in meaning
    fair = estimate((0, 0, 10, 10), quality=FaceQuality(0.6, "fair", "blur", 3.0, 0.75, 90.0, 120.0, 6.0))
    assert age_text(fair) == "32 (30–34)" and quality_text(fair) == "picture fair (blur) 0.60" and plot_title(fair) == ""
    assert face_label(fair) == "32 (30–34)"
    poor = estimate((0, 0, 10, 10), female=0.1, quality=FaceQuality(0.3, "poor", "blur", 3.0, 0.8, 90.0, 120.0, 6.0))
    assert face_label(poor) == "32 (30–34)  M  poor: blur"
    assert "The picture is poor (blur; quality score 0.30): the estimate may be off by more." in interval_meaning(poor)
    good = estimate((0, 0, 10, 10), quality=FaceQuality(1.0, "good", "", 1.0, 0.5, 120.0, 120.0, 6.0))
    assert quality_text(good) == "picture good"
    meaning = interval_meaning(good)
    assert "90% interval 30–34" in meaning and "9 in 10 faces like this one are inside" in meaning


def test_the_photo_lists_rows():
    poor = FaceQuality(0.05, "too poor", "noise", 31.0, 0.6, 70.0, 120.0, 6.0)
    fair = FaceQuality(0.6, "fair", "blur", 3.0, 0.75, 90.0, 120.0, 6.0)
    faces = [estimate((0, 0, 10, 10), female=0.1, quality=fair), estimate((0, 0, 10, 10), quality=poor)]
    assert photo_row_text("a.jpg", faces) == "a.jpg\n2 faces: 32, too poor"
    assert photo_row_text("a.jpg", faces * 3) == "a.jpg\n6 faces: 32, too poor, 32, too poor…"  # the first four
    assert photo_row_text("b.jpg", []) == "b.jpg\nno face found"
    # the quality before the gender (a narrow list cuts the end), its score in the tooltip
    assert face_row_text(0, faces[0]) == "Face 1:  32 (30–34)  ·  picture fair (blur)  ·  male 90%"
    assert quality_text(faces[0], with_score=False) == "picture fair (blur)"
    assert face_row_text(1, faces[1]) == "Face 2:  too poor to judge (noise)"


def test_pick_face_prefers_the_followed_track_else_the_largest():
    small, large = estimate((0, 0, 10, 10), track_id=1), estimate((50, 50, 40, 40), track_id=2)
    assert pick_face([small, large]) is large
    assert pick_face([small, large], track_id=1) is small
    assert pick_face([small, large], track_id=9) is large  # the followed face left the view
    assert pick_face([]) is None


def test_rate_meter_counts_events_in_the_last_second():
    meter = RateMeter(window=1.0)
    assert meter.tick(0.0) == 0.0
    rates = [meter.tick(t) for t in np.arange(0.05, 3.0, 0.05)]  # 20 per second
    assert rates[-1] == pytest.approx(20.0)
    for t in np.arange(3.0, 5.0, 0.1):  # slows down to 10 per second
        rate = meter.tick(t)
    assert rate == pytest.approx(10.0)


def test_eta_text():
    assert eta_text(0, 40, 0.0) == "0 of 40 photos"
    assert eta_text(10, 40, 5.0) == "10 of 40 photos · about 15 s left"
    assert eta_text(10, 400, 30.0) == "10 of 400 photos · about 20 min left"
    assert eta_text(39, 40, 3.9) == "39 of 40 photos · under a second left"
    assert eta_text(1, 1, 0.2) == "1 of 1 photo"


def test_live_inference_threads_leave_half_the_cores():
    assert [live_inference_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 2, 8]
