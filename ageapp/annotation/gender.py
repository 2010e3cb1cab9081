"""Faces' gender for the paper's same-gender references (method.md section 2): labels, predictions, corrections.

Three sources, in this order of precedence:
- the label, `images.gender` (from the dataset's names, or a labeller's correction): always wins;
- the model's prediction, `faces.gender_predicted` with `faces.gender_probability` (the probability of the
  predicted gender, >= 0.5), written by `predict_genders` and never into images.gender; it counts only when
  its probability reaches the project's `gender_confidence` (default 0.9);
- unknown: the face may be compared with references of either gender.

A labeller's correction (`set_gender_label`) is a label from then on; who changed what, and when, is kept in
`gender_corrections`. A correction to "can't tell" clears the image's predictions too, and an image that was
corrected once is never given a prediction again (otherwise the next prediction run would undo the labeller).

No Qt and no torch: `predict_genders` takes any object with the estimator's `predict_crops(crops) ->
(posteriors, p_female)` (an ageapp.model.AgeModel, or a stand-in in tests); stored crops are converted to the
model's face template (`template` attribute) first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import sqlite_utils

from ageapp.faces.alignment import CURRENT_TEMPLATE
from ageapp.model.crops import crop_for_model
from ageapp.model.resolve import choose_model, default_model_path
from ageapp.store.genders import corrections_of, count_gender_candidates  # noqa: F401  (read through this module)
from ageapp.store.genders import gender_candidates, gender_confidence, gender_row
from ageapp.store.genders import gender_counts as store_gender_counts
from ageapp.store.genders import record_correction, store_gender_predictions
from ageapp.store.posteriors import refresh_posteriors

MALE, FEMALE = 0, 1
LABEL, PREDICTED, UNKNOWN = "label", "predicted", "unknown"
GENDER_WORDS = {MALE: "male", FEMALE: "female", None: "unknown"}
BATCH = 32  # crops per forward pass (and per transaction)


class GenderModelError(Exception):
    """The model cannot predict genders (it has no gender output): says what to do."""


@dataclass(frozen=True)
class GenderInfo:
    """What is known about a face's gender, and where it comes from."""

    source: str  # LABEL, PREDICTED or UNKNOWN
    gender: int | None  # the label, or the predicted gender (also when it is not confident enough to count)
    probability: float | None = None  # of the predicted gender, for a prediction
    confident: bool = False  # a prediction at or above the project's gender_confidence

    @property
    def effective(self) -> int | None:
        """The gender the choice of references uses: the label, a confident prediction, else None."""
        if self.source == LABEL or (self.source == PREDICTED and self.confident):
            return self.gender
        return None

    def describe(self) -> str:
        """'female (label)', 'male 96% (predicted)', 'female? 62% (not used)', 'gender unknown'."""
        if self.source == LABEL:
            return f"{GENDER_WORDS[self.gender]} (label)"
        if self.source == PREDICTED:
            word, share = GENDER_WORDS[self.gender], f"{100 * (self.probability or 0):.0f}%"
            return f"{word} {share} (predicted)" if self.confident else f"{word}? {share} (not used)"
        return "gender unknown"

    def short(self) -> str:
        """For a table cell: 'F', 'M 96%', 'F? 62%', '—'."""
        if self.source == UNKNOWN:
            return "—"
        letter = "F" if self.gender == FEMALE else "M"
        if self.source == LABEL:
            return letter
        return f"{letter}{'' if self.confident else '?'} {100 * (self.probability or 0):.0f}%"


def info_from(labelled: int | None, predicted: int | None, probability: float | None,
              confidence: float) -> GenderInfo:
    """GenderInfo from a row's label, its largest face's prediction and the confidence threshold."""
    if labelled is not None:
        return GenderInfo(LABEL, int(labelled))
    if predicted is not None and probability is not None:
        return GenderInfo(PREDICTED, int(predicted), float(probability), float(probability) >= confidence)
    return GenderInfo(UNKNOWN, None)


def gender_info(db: sqlite_utils.Database, image_id: int, confidence: float | None = None) -> GenderInfo:
    confidence = gender_confidence(db) if confidence is None else confidence
    row = gender_row(db, image_id)
    if row is None:
        raise LookupError(f"no image {image_id} in this project")
    return info_from(*row, confidence)


# next_gender in words (the F1 sheet, the buttons' tooltips); tests/annotation check it against next_gender.
NEXT_GENDER_WORDS = "a prediction becomes the other gender; a label cycles male → female → can't tell → male"


def next_gender(info: GenderInfo) -> int | None:
    """What one press of the correction key makes of a face's gender.

    A prediction (confident or not) becomes the other gender: a labeller corrects a prediction because it
    is wrong. A label cycles male -> female -> unknown ("can't tell") -> male; unknown becomes male.
    """
    if info.source == PREDICTED:
        return FEMALE if info.gender == MALE else MALE
    if info.source == LABEL:
        return FEMALE if info.gender == MALE else None
    return MALE


def set_gender_label(db: sqlite_utils.Database, image_id: int, gender: int | None,
                     annotator_id: int | None = None) -> GenderInfo:
    """A labeller's correction: images.gender = gender (None: can't tell), recorded with who and when.

    Committed before it returns. None also clears the image's predicted gender, so the face is compared with
    either gender, as the labeller said. Returns the face's new GenderInfo.
    """
    if gender not in (MALE, FEMALE, None):
        raise ValueError(f"gender must be 0 (male), 1 (female) or None (unknown), not {gender!r}")
    with db.atomic():
        before = gender_info(db, image_id, confidence=1.0)
        record_correction(db, image_id, gender, before.gender, before.source, annotator_id)
    return GenderInfo(LABEL, gender) if gender is not None else GenderInfo(UNKNOWN, None)


# ---------------------------------------------------------------------------------------------------
# Prediction


@dataclass
class GenderReport:
    total: int = 0  # faces that were to be predicted
    predicted: int = 0
    female: int = 0
    confident: int = 0  # predictions at or above gender_confidence (the ones the reference choice uses)
    unreadable: int = 0  # crops that could not be decoded (`ageapp check` finds them)
    stopped: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        if self.total == 0:
            return "every face without a gender label already has a predicted gender"
        text = (f"predicted the gender of {self.predicted} of {self.total} faces without a gender label "
                f"({self.female} female, {self.predicted - self.female} male; {self.confident} confident enough "
                "to choose same-gender references)")
        if self.unreadable:
            text += f"; {self.unreadable} face crops could not be read (run `ageapp check` on the project)"
        if self.stopped:
            text += "; stopped early: run it again to predict the rest"
        return text


NO_MODEL = ("no model to predict genders with: train one (the Train page, or `python -m trainer train`) and make "
            "it the project's active model, or pass --model MODEL; the shipped default model, when present, "
            f"is {default_model_path()}")


def gender_model_path(db: sqlite_utils.Database, explicit: str | Path | None = None) -> Path | None:
    """The model that predicts genders, as ageapp.model.choose_model decides (named, else the project's active
    model, else the shipped default); None when that file is absent (NO_MODEL says what to do)."""
    choice = choose_model(explicit, db)
    return choice.path if choice.path.is_file() or explicit else None


def predict_genders(
    db: sqlite_utils.Database,
    estimator,
    only_missing: bool = True,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = BATCH,
) -> GenderReport:
    """Store the model's gender for every face whose image has no gender label.

    only_missing: leave faces that already have a prediction alone (False: predict them again, e.g. with a
    better model). Labels are never touched, nor images a labeller corrected. Each batch is committed on its
    own, so a stop (should_stop() true, checked between batches) keeps what was done; progress(done, total)
    follows each batch. Raises GenderModelError if the model has no gender output.
    """
    confidence = gender_confidence(db)
    report = GenderReport(total=count_gender_candidates(db, only_missing))
    after = -1
    done = 0
    if progress is not None:
        progress(0, report.total)
    while done < report.total:
        if should_stop is not None and should_stop():
            report.stopped = True
            break
        rows = gender_candidates(db, only_missing, after, batch_size)
        if not rows:
            break
        after = rows[-1][0]
        ids, crops = [], []
        model_template = getattr(estimator, "template", CURRENT_TEMPLATE)
        for face_id, blob, template in rows:
            try:
                crops.append(crop_for_model(blob, template, model_template))
                ids.append(face_id)
            except ValueError:
                report.unreadable += 1
        if crops:
            _, p_female = estimator.predict_crops(crops)
            if p_female is None:
                raise GenderModelError("this model has no gender output, so it cannot predict genders: "
                                       "choose a model trained by this version of the trainer")
            p_female = np.asarray(p_female, dtype=np.float64).reshape(-1)
            if len(p_female) != len(ids) or not np.all((p_female >= 0.0) & (p_female <= 1.0)):  # NaN fails too
                raise GenderModelError("the model gave gender probabilities that are not numbers between 0 and 1 "
                                       "(NaN or out of range): it is damaged; choose another model. Nothing of "
                                       "this batch was stored")
            female = p_female >= 0.5
            probability = np.where(female, p_female, 1.0 - p_female)
            store_gender_predictions(db, list(zip(ids, female.astype(int), probability)))
            report.predicted += len(ids)
            report.female += int(female.sum())
            report.confident += int((probability >= confidence).sum())
        done += len(rows)
        if progress is not None:
            progress(min(done, report.total), report.total)
    if report.predicted and not getattr(db, "read_only", False):
        # A query's gender decides which references it can be shown, and so whether it lies beyond them: the
        # stored posteriors' summaries follow the new genders (the views and `ageapp stats` read them).
        refresh_posteriors(db, force=True)
    return report


def gender_counts(db: sqlite_utils.Database, confidence: float | None = None) -> dict[str, int]:
    """Images by where their gender comes from: labelled, confidently predicted, predicted below the
    threshold, unknown (the largest face's prediction counts for an image)."""
    return store_gender_counts(db, gender_confidence(db) if confidence is None else confidence)
