"""The user study of the paper's section 2.1: how well a person guesses ages, against how well they compare them.

Test I ("guess"): one reference face; the person types its age. Test II ("compare"): two reference faces of
different ages; the person picks the older one. Ages are never shown. The paper's 30 volunteers on FG-NET got
43.2% of their guesses within 3 years, but chose the older face of a pair 85% of the time at a 5-year gap
and 95% above 10; the share correct against the age gap follows σ(β·gap) with β = 0.36, the slope the
annotation posterior uses (method.md section 1).

Here: `plan_study` draws the trials from the project's reference faces (random order; pairs by a gap drawn
uniformly from min_gap..max_gap, as the gold pairs are, so that β is identifiable), `record_answer` stores
each answer with its response time in `study_answers` (schema migration 3), `study_results` computes the two
tests' statistics and β as an estimate (shrunk towards the population's 0.36, with its 95% profile interval:
ageapp.core.beta_model.fit_single), which ageapp.annotation.beta adopts with care as the person's β for
labelling, and `export_csv` writes the answers and the fit (`ageapp.annotation.simulated_person` answers like the paper's model of a person). No Qt.
"""

from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils

from ageapp.core.annotators import GOLD_MAX_GAP, GOLD_MIN_GAP, choose_gold_pair
from ageapp.core.beta_model import STUDY, AnnotatorModel, fit_single
from ageapp.core.posterior import BETA_DEFAULT, QUERY_OLDER, log_prob_outcome
from ageapp.core.selection import ReferencePool
from ageapp.faces.alignment import decode_crop
from ageapp.files import spreadsheet_cell
from ageapp.store import study as study_store
from ageapp.store.faces import largest_face_crop

GUESS, COMPARE = "guess", "compare"
LEFT, RIGHT = "left", "right"
WITHIN_YEARS = 3  # Test I's yardstick: a guess within ±3 years (the paper: 43.2% of guesses)
GAP_BIN_WIDTH = 2  # years of age gap per bin in Test II's plot
MIN_PAIRS_FOR_BETA = 20  # below this many answered pairs no β is fitted (as for gold pairs)
OLDEST_GUESS = 120  # a typed age above this is a typing error
PAPER_WITHIN_3 = 0.432
PAPER_BETA = BETA_DEFAULT

NO_REFERENCES = ("the study needs at least two reference faces of known age and different ages: import some "
                 "first, e.g. `ageapp import PROJECT FOLDER --role reference` (FG-NET, UTKFace or a CSV of ages)")


class StudyError(Exception):
    """The study cannot run on this project (it says what to do)."""


@dataclass(frozen=True)
class Trial:
    """One item of the study. guess: one face; compare: (left, right)."""

    test: str
    image_ids: tuple[int, ...]
    true_ages: tuple[float, ...]


@dataclass(frozen=True)
class StudyPlan:
    guess: list[Trial]
    compare: list[Trial]

    @property
    def trials(self) -> list[Trial]:
        """Test I, then Test II (the paper's order), each in random order."""
        return self.guess + self.compare


def reference_faces(db: sqlite_utils.Database) -> ReferencePool:
    """The project's references of exact known age that have a face (the study shows nothing else)."""
    rows = study_store.study_reference_rows(db)
    return ReferencePool.build([r[0] for r in rows], [r[1] for r in rows])


def plan_study(db: sqlite_utils.Database, guesses: int = 20, comparisons: int = 40, *, seed: int | None = None,
               min_gap: int = GOLD_MIN_GAP, max_gap: int = GOLD_MAX_GAP) -> StudyPlan:
    """Draw the trials: `guesses` faces (no face twice while there are enough) and `comparisons` pairs (no pair
    twice while possible), each test in random order."""
    if guesses < 0 or comparisons < 0 or guesses + comparisons == 0:
        raise StudyError("ask for at least one guess or one comparison")
    pool = reference_faces(db)
    if len(pool.ids) < 2 or len(np.unique(pool.ages)) < 2:
        raise StudyError(NO_REFERENCES)
    rng = np.random.default_rng(seed)
    ages = dict(zip(pool.ids.tolist(), pool.ages.tolist()))
    guess: list[Trial] = []
    while len(guess) < guesses:
        for image_id in rng.permutation(pool.ids)[: guesses - len(guess)].tolist():
            guess.append(Trial(GUESS, (image_id,), (ages[image_id],)))
    compare: list[Trial] = []
    seen: set[frozenset] = set()
    attempts = 0
    while len(compare) < comparisons:
        pair = choose_gold_pair(pool, rng, min_gap, max_gap)
        if pair is None:
            raise StudyError(f"no two reference faces are between {min_gap} and {max_gap} years apart: import "
                             "references of more varied ages")
        attempts += 1
        key = frozenset(pair)
        if key in seen and attempts < 50 * comparisons:
            continue
        seen.add(key)
        left, right = (int(v) for v in pair)
        compare.append(Trial(COMPARE, (left, right), (ages[left], ages[right])))
    return StudyPlan(guess, compare)


def new_sitting() -> str:
    """An id grouping one run of the study (a person may take it several times)."""
    return str(uuid.uuid4())


def parse_guess(text: str) -> int:
    """A typed age as a whole number of years; ValueError with what to type instead."""
    text = text.strip()
    if not text:
        raise ValueError("type the age you guess, in years, then press Enter")
    try:
        age = int(text)
    except ValueError:
        raise ValueError(f"“{text}” is not an age: type a whole number of years, e.g. 34") from None
    if not 0 <= age <= OLDEST_GUESS:
        raise ValueError(f"{age} is not a plausible age: type a number from 0 to {OLDEST_GUESS}")
    return age


def record_answer(db: sqlite_utils.Database, person: str, sitting: str, trial: Trial, answer,
                  response_ms: int) -> int:
    """Store one answer, committed before returning; returns its row id.

    guess: answer is the typed age (a number, or text as typed: see `parse_guess`); compare: 'left' or 'right',
    the face judged older.
    """
    person = person.strip()
    if not person:
        raise ValueError("the study needs the name of the person taking it")
    response_ms = max(0, int(response_ms))
    if trial.test == GUESS:
        age = parse_guess(answer) if isinstance(answer, str) else float(answer)
        if not 0 <= age <= OLDEST_GUESS:
            raise ValueError(f"{age} is not a plausible age: type a number from 0 to {OLDEST_GUESS}")
        values = [person, sitting, GUESS, trial.image_ids[0], None, float(age), trial.true_ages[0], None, response_ms]
    elif trial.test == COMPARE:
        if answer not in (LEFT, RIGHT):
            raise ValueError(f"a comparison is answered 'left' or 'right', not {answer!r}")
        values = [person, sitting, COMPARE, trial.image_ids[0], trial.image_ids[1], 1.0 if answer == LEFT else 0.0,
                  trial.true_ages[0], trial.true_ages[1], response_ms]
    else:
        raise ValueError(f"unknown test {trial.test!r}")
    return study_store.insert_study_answer(db, values)


def face_crop(db: sqlite_utils.Database, image_id: int) -> np.ndarray:
    """The image's face as the study shows it (its largest face's stored crop)."""
    stored = largest_face_crop(db, image_id)
    if stored is None:
        raise LookupError(f"image {image_id} has no face crop")
    return decode_crop(stored[0])


def persons(db: sqlite_utils.Database) -> list[str]:
    """Everyone who answered, most recent first."""
    return study_store.study_persons(db)


# ---------------------------------------------------------------------------------------------------
# Results


def correct_probability(gaps, beta: float) -> np.ndarray:
    """P(the older face is picked) = σ(β·gap), gap >= 0 the age difference: the posterior's likelihood."""
    return np.exp(log_prob_outcome(np.asarray(gaps, dtype=np.float64), 0.0, QUERY_OLDER, beta))


@dataclass(frozen=True)
class GuessResults:
    true_ages: np.ndarray
    guesses: np.ndarray
    response_ms: np.ndarray

    @property
    def n(self) -> int:
        return len(self.true_ages)

    @property
    def errors(self) -> np.ndarray:
        return self.guesses - self.true_ages

    @property
    def within(self) -> float | None:
        """The share of guesses within ±WITHIN_YEARS of the true age (the paper: 43.2%)."""
        return float(np.mean(np.abs(self.errors) <= WITHIN_YEARS)) if self.n else None

    @property
    def mae(self) -> float | None:
        return float(np.mean(np.abs(self.errors))) if self.n else None


@dataclass(frozen=True)
class GapBins:
    """Test II binned by age gap: each bin's lowest and highest gap, share correct, number of answers."""

    low: np.ndarray
    high: np.ndarray
    share_correct: np.ndarray
    counts: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        return (self.low + self.high) / 2.0


@dataclass(frozen=True)
class CompareResults:
    left_ages: np.ndarray
    right_ages: np.ndarray
    left_older: np.ndarray  # the person's answer: True when the left face was judged older
    response_ms: np.ndarray
    model: AnnotatorModel | None  # β shrunk, with its 95% interval; None below MIN_PAIRS_FOR_BETA answers

    @property
    def beta(self) -> float | None:
        return None if self.model is None else self.model.beta

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.model is None else self.model.interval

    @property
    def n(self) -> int:
        return len(self.left_ages)

    @property
    def gaps(self) -> np.ndarray:
        return np.abs(self.left_ages - self.right_ages)

    @property
    def correct(self) -> np.ndarray:
        """Per answer: the older face was picked (pairs of equal age count as neither)."""
        truly_left = self.left_ages > self.right_ages
        return (self.left_older == truly_left) & (self.left_ages != self.right_ages)

    @property
    def share_correct(self) -> float | None:
        decided = self.gaps > 0
        return float(np.mean(self.correct[decided])) if decided.any() else None

    def share_correct_where(self, low: float, high: float = np.inf) -> float | None:
        """Observed share correct among the pairs with low <= gap <= high (None without any)."""
        chosen = (self.gaps >= low) & (self.gaps <= high) & (self.gaps > 0)
        return float(np.mean(self.correct[chosen])) if chosen.any() else None

    def model_correct_at(self, gap: float) -> float | None:
        """The fitted curve σ(β·gap) (the paper: 85% at 5 years)."""
        return None if self.beta is None else float(correct_probability(gap, self.beta))

    def bins(self, width: int = GAP_BIN_WIDTH) -> GapBins:
        """Bins of `width` years of gap: 1–2, 3–4, … (gaps are whole years; 0 is left out)."""
        gaps, correct = self.gaps, self.correct
        keep = gaps > 0
        if not keep.any():
            empty = np.zeros(0)
            return GapBins(empty, empty, empty, np.zeros(0, dtype=np.int64))
        index = ((np.ceil(gaps[keep]) - 1) // width).astype(np.int64)
        keys, inverse = np.unique(index, return_inverse=True)
        counts = np.bincount(inverse)
        shares = np.bincount(inverse, weights=correct[keep].astype(np.float64)) / counts
        return GapBins(keys * width + 1.0, keys * width + float(width), shares, counts)


@dataclass(frozen=True)
class StudyResults:
    person: str | None
    guess: GuessResults
    compare: CompareResults

    def summary(self) -> dict:
        """The numbers the paper reports, as a flat dict (JSON, the fit CSV)."""
        c = self.compare
        return {
            "person": self.person or "everyone",
            "guesses": self.guess.n,
            "within_3_years": _rounded(self.guess.within),
            "guess_mae": _rounded(self.guess.mae),
            "guess_median_ms": _median(self.guess.response_ms),
            "comparisons": c.n,
            "share_correct": _rounded(c.share_correct),
            "beta": _rounded(c.beta),
            "beta_low_95": _rounded(c.interval[0]) if c.interval else None,
            "beta_high_95": _rounded(c.interval[1]) if c.interval else None,
            "model_correct_at_5": _rounded(c.model_correct_at(5)),
            "model_correct_at_10": _rounded(c.model_correct_at(10)),
            "observed_correct_gap_5": _rounded(c.share_correct_where(5, 5)),
            "observed_correct_gap_above_10": _rounded(c.share_correct_where(10.5)),
            "compare_median_ms": _median(c.response_ms),
        }


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _median(values: np.ndarray) -> int | None:
    return int(np.median(values)) if len(values) else None


def fit_study_model(left_ages, right_ages, left_older) -> AnnotatorModel | None:
    """β from Test II's answers as an estimate (shrunk towards the population value, its 95% profile
    interval, the sd of log β the posteriors integrate over), or None below MIN_PAIRS_FOR_BETA answers."""
    if len(left_ages) < MIN_PAIRS_FOR_BETA:
        return None
    return fit_single(left_ages, right_ages, [bool(v) for v in left_older], source=STUDY)


def study_results(db: sqlite_utils.Database, person: str | None = None) -> StudyResults:
    """Both tests' results for one person (None: everyone's answers pooled)."""
    rows = study_store.study_answer_rows(db, person)
    guesses = [r for r in rows if r[0] == GUESS]
    pairs = [r for r in rows if r[0] == COMPARE]
    guess = GuessResults(np.array([r[2] for r in guesses], float), np.array([r[1] for r in guesses], float),
                         np.array([r[4] for r in guesses], float))
    left, right = np.array([r[2] for r in pairs], float), np.array([r[3] for r in pairs], float)
    left_older = np.array([r[1] == 1 for r in pairs], bool)
    compare = CompareResults(left, right, left_older, np.array([r[4] for r in pairs], float),
                             fit_study_model(left, right, left_older))
    return StudyResults(person, guess, compare)


ANSWER_COLUMNS = ["id", "person", "sitting", "test", "image_id", "path", "second_image_id", "second_path",
                  "answer", "true_age", "second_true_age", "correct", "response_ms", "created"]


def fit_path_for(path: Path) -> Path:
    """Where export_csv writes the fit, beside the answers: NAME_fit.csv."""
    return path.with_name(f"{path.stem}_fit.csv")


def export_csv(db: sqlite_utils.Database, path: str | Path, person: str | None = None) -> tuple[Path, Path]:
    """The answers (one row each: both faces' paths and true ages, the answer, whether it was right, the
    response time) to PATH, and the fit (one row per person, and one for everyone) to PATH_fit.csv.
    Returns both paths."""
    path = Path(path)
    rows = study_store.study_export_rows(db, person)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(ANSWER_COLUMNS)
        for (row_id, who, sitting, test, image_id, image_path, second_id, second_path, answer, true_age,
             second_age, response_ms, created) in rows:
            if test == GUESS:
                shown_answer, correct = f"{answer:g}", int(abs(answer - true_age) <= WITHIN_YEARS)
            else:
                shown_answer = LEFT if answer == 1 else RIGHT
                correct = "" if true_age == second_age else int((answer == 1) == (true_age > second_age))
            writer.writerow([spreadsheet_cell(cell) for cell in (
                row_id, who, sitting, test, image_id, image_path, second_id or "", second_path or "", shown_answer,
                f"{true_age:g}", "" if second_age is None else f"{second_age:g}", correct, response_ms, created)])
    fit_path = fit_path_for(path)
    people = [person] if person is not None else sorted(persons(db))
    summaries = [study_results(db, p).summary() for p in people]
    if person is None and len(people) > 1:
        summaries.append(study_results(db, None).summary())
    with open(fit_path, "w", newline="", encoding="utf-8") as handle:
        columns = list(study_results(db, person).summary()) if not summaries else list(summaries[0])
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for summary in summaries:
            writer.writerow({key: "" if value is None else spreadsheet_cell(value) for key, value in summary.items()})
    return path, fit_path
