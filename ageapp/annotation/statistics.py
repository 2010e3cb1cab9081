"""Project statistics for the labeller's window: progress, pace, interval widths, and each annotator's beta
and agreement on gold pairs with the fitted curve against the binned answers (the paper's Fig. 2b).

The arithmetic is in small pure functions over arrays (tested against hand-computed values); the readers
below them run a few aggregate SQL queries, so nothing here holds a copy of a table. No Qt: the window runs
`project_statistics` in a worker thread on its own connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import sqlite_utils

from ageapp.store import statistics as statistics_store
from ageapp.store.annotators import list_annotators, model_of
from ageapp.store.requeue import RequeueCounts, requeue_counts
from ageapp.annotation.beta import gold_answers_of
from ageapp.core.beta_model import AnnotatorModel
from ageapp.core.posterior import QUERY_OLDER, log_prob_outcome
from ageapp.core.selection import Protocol

IDLE_GAP_S = 300.0  # a pause longer than this between two answers is a break, not labelling time
PACE_WINDOW = 1000  # the pace is measured over an annotator's most recent answers
PACE_MIN_SPAN_S = 60.0  # no pace before a minute of labelling (a few seconds would show 1,260,000/h)
GOLD_BIN_WIDTH = 2  # years of age difference per bin in the gold plot


# ---------------------------------------------------------------------------------------------------
# Pure arithmetic


def comparisons_per_hour(times_s: Sequence[float], idle_gap_s: float = IDLE_GAP_S) -> float | None:
    """Answers per hour of labelling: each gap between consecutive answers of at most `idle_gap_s` counts as
    the time one answer took; longer gaps are breaks and count neither time nor answer.

    None until the counted gaps add up to PACE_MIN_SPAN_S (fewer answers, or only breaks).
    """
    times = np.sort(np.asarray(times_s, dtype=np.float64))
    gaps = np.diff(times)
    working = gaps[gaps <= idle_gap_s]
    total = float(working.sum())
    if len(working) == 0 or total < PACE_MIN_SPAN_S:
        return None
    return len(working) * 3600.0 / total


@dataclass(frozen=True)
class GoldAgreement:
    """Gold answers: how many were answered older/younger, how many of those were right, how many unsure."""

    answered: int
    agreed: int
    unsure: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.answered if self.answered else None


def gold_agreement(first_ages: Sequence[float], second_ages: Sequence[float],
                   first_older: Sequence[bool | None]) -> GoldAgreement:
    """Agreement of gold answers with the known ages ("can't tell" is counted apart, neither right nor wrong).
    Gold pairs never have equal ages, so every answered one is either right or wrong."""
    first, second = np.asarray(first_ages, float), np.asarray(second_ages, float)
    answered = np.array([y is not None for y in first_older], dtype=bool)
    said_older = np.array([bool(y) for y in first_older], dtype=bool)
    right = answered & (said_older == (first > second))
    return GoldAgreement(int(answered.sum()), int(right.sum()), int((~answered).sum()))


@dataclass(frozen=True)
class GoldBins:
    """Gold answers binned by age difference (first minus second face): per bin its centre, the share of
    "first is older" answers and the number of answers (bins without answers are left out)."""

    centres: np.ndarray
    older_fraction: np.ndarray
    counts: np.ndarray


def bin_gold_answers(first_ages: Sequence[float], second_ages: Sequence[float], first_older: Sequence[bool | None],
                     bin_width: float = GOLD_BIN_WIDTH) -> GoldBins:
    """Bins [k w - w/2, k w + w/2) of the age difference, centred on multiples of w (so 0 is a centre)."""
    answered = np.array([y is not None for y in first_older], dtype=bool)
    differences = (np.asarray(first_ages, float) - np.asarray(second_ages, float))[answered]
    older = np.array([bool(y) for y, kept in zip(first_older, answered) if kept], dtype=np.float64)
    if len(differences) == 0:
        return GoldBins(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))
    index = np.floor(differences / bin_width + 0.5).astype(np.int64)
    keys, inverse = np.unique(index, return_inverse=True)
    counts = np.bincount(inverse)
    older_sums = np.bincount(inverse, weights=older)
    return GoldBins(keys * float(bin_width), older_sums / counts, counts)


def logistic_curve(differences: np.ndarray, beta: float) -> np.ndarray:
    """P(first face judged older) = sigma(beta * difference): the likelihood the posterior uses."""
    return np.exp(log_prob_outcome(np.asarray(differences, float), 0.0, QUERY_OLDER, beta))


# ---------------------------------------------------------------------------------------------------
# Readers


@dataclass(frozen=True)
class Progress:
    total: int  # queries with a face
    started: int  # with at least one answer
    finished: int  # under the protocol's stopping rule
    flagged: int  # finished with a 90% interval wider than the outlier width

    @property
    def fraction(self) -> float:
        return self.finished / self.total if self.total else 0.0


@dataclass(frozen=True)
class AnnotatorStatistics:
    annotator_id: int
    name: str
    beta: float
    answers: int  # query comparisons not undone
    gold: GoldAgreement
    per_hour: float | None  # pace over the most recent answers (None before PACE_MIN_SPAN_S of labelling)
    model: AnnotatorModel = field(default_factory=AnnotatorModel)  # β with its interval, source, curve


@dataclass(frozen=True)
class ProjectStatistics:
    progress: Progress
    comparisons: int  # query comparisons not undone, all annotators
    widths: np.ndarray  # interval width in years (finished queries) ...
    width_counts: np.ndarray  # ... and how many finished queries have it
    annotators: list[AnnotatorStatistics] = field(default_factory=list)
    gold_bins: dict[int, GoldBins] = field(default_factory=dict)  # per annotator id
    requeue: RequeueCounts = field(default_factory=RequeueCounts)  # flagged queries sent back, and what came of them


def progress(db: sqlite_utils.Database, protocol: Protocol) -> Progress:
    return Progress(*statistics_store.progress_counts(db, protocol))


def width_distribution(db: sqlite_utils.Database, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """(widths, counts) of the finished queries' 90% intervals, widths ascending."""
    return statistics_store.width_distribution(db, protocol)


def answer_times(db: sqlite_utils.Database, annotator_id: int, last: int = PACE_WINDOW) -> np.ndarray:
    return statistics_store.answer_times(db, annotator_id, last)


def annotator_statistics(db: sqlite_utils.Database) -> tuple[list[AnnotatorStatistics], dict[int, GoldBins]]:
    counts = statistics_store.answers_per_annotator(db)
    summaries, bins = [], {}
    for row in list_annotators(db):
        annotator_id, name, beta = row["id"], row["name"], row["beta"]
        model = model_of(row)
        first, second, first_older = gold_answers_of(db, annotator_id)
        summaries.append(AnnotatorStatistics(
            annotator_id, name, float(beta), int(counts.get(annotator_id, 0)),
            gold_agreement(first, second, first_older), comparisons_per_hour(answer_times(db, annotator_id)), model,
        ))
        bins[annotator_id] = bin_gold_answers(first, second, first_older)
    return summaries, bins


def project_statistics(db: sqlite_utils.Database, protocol: Protocol) -> ProjectStatistics:
    widths, width_counts = width_distribution(db, protocol)
    annotators, bins = annotator_statistics(db)
    return ProjectStatistics(
        progress=progress(db, protocol),
        comparisons=sum(a.answers for a in annotators),
        widths=widths,
        width_counts=width_counts,
        annotators=annotators,
        gold_bins=bins,
        requeue=requeue_counts(db, protocol),
    )
