"""What every view of the labelling window should show, read fresh from the project file by the slow route.

`project_truth(db, protocol)` recomputes every query's posterior from its comparisons that still count (with
each annotator's β and the project's prior, as `ageapp check` does), summarises it against the references the
query can be shown, and states each query's status with the rules written out here once more: sent back and
still open, new (no answer), in progress (the protocol's stopping rule not met), beyond the references,
flagged (a finished query wider than the outlier width), finished. It counts the answers per labeller from
the comparisons themselves and reads each labeller's β as stored.

Nothing here is kept between calls and nothing is incremental: it is the yardstick the incremental summary
(ageapp.annotation.summary), the queue's SQL and the stored posteriors are checked against (the state-machine
test of the labelling window, tests/ui/test_views_agree.py). It is slow on a big project (every posterior
recomputed): a tool for tests and checks, never for the key path. No Qt.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import sqlite_utils

from ageapp.annotation.counts import BEYOND, DONE, FINISHED, FLAGGED, IN_PROGRESS, NEW, SENT_BACK, STATUSES, Counts
from ageapp.core.beta_model import AnnotatorModel
from ageapp.core.posterior import OUTLIER_WIDTH, PosteriorSummary, summarize
from ageapp.core.selection import Protocol, protocol_finished
from ageapp.store.annotators import list_annotators, model_of
from ageapp.store.comparisons import active_comparisons
from ageapp.store.faces import largest_face_id
from ageapp.store.images import list_images
from ageapp.store.labelling import requeue_allowance
from ageapp.store.posteriors import expected_parts, load_posterior, query_genders, reference_age_ranges
from ageapp.store.priors import prior_of_query
from ageapp.store.settings import get_setting


@dataclass(frozen=True)
class QueryTruth:
    query_image_id: int
    posterior: np.ndarray
    summary: PosteriorSummary
    comparisons: int
    status: str


@dataclass(frozen=True)
class LabellerTruth:
    annotator_id: int
    name: str
    answers: int  # gold included
    gold_answers: int
    model: AnnotatorModel


@dataclass
class ProjectTruth:
    protocol: Protocol
    queries: dict[int, QueryTruth] = field(default_factory=dict)  # every query with a face
    labellers: dict[int, LabellerTruth] = field(default_factory=dict)
    answers: int = 0
    gold_answers: int = 0

    def status_of(self, query_image_id: int) -> str | None:
        query = self.queries.get(query_image_id)
        return None if query is None else query.status

    def ids_with(self, *statuses: str) -> set[int]:
        return {q for q, truth in self.queries.items() if truth.status in statuses}

    @property
    def counts(self) -> Counts:
        by_status = Counter(truth.status for truth in self.queries.values())
        return Counts({status: by_status[status] for status in STATUSES}, self.answers, self.gold_answers)

    @property
    def done_widths(self) -> dict[int, int]:
        widths = Counter(int(t.summary.ci_width) for t in self.queries.values() if t.status in DONE)
        return dict(sorted(widths.items()))


def status_rule(comparisons: int, finished: bool, summary: PosteriorSummary, sent_back_open: bool) -> str:
    """The status of a query, written out (module docstring)."""
    if sent_back_open:
        return SENT_BACK
    if comparisons == 0:
        return NEW
    if not finished:
        return IN_PROGRESS
    if summary.beyond != 0:
        return BEYOND
    if summary.ci_high - summary.ci_low > OUTLIER_WIDTH:
        return FLAGGED
    return FINISHED


def project_truth(db: sqlite_utils.Database, protocol: Protocol) -> ProjectTruth:
    """Everything the labelling window's views show about the project, recomputed (module docstring)."""
    age_max = int(get_setting(db, "age_max"))
    ranges = reference_age_ranges(db, age_max)
    with_face = {row["id"] for row in list_images(db, "query") if largest_face_id(db, row["id"]) is not None}
    recomputed = expected_parts(db)
    genders = query_genders(db, list(with_face))
    truth = ProjectTruth(protocol)
    for query in sorted(with_face):
        if query in recomputed:
            posterior, count, _prior, _likelihood = recomputed[query]
        else:  # never answered: its prior alone (the model's where the project uses it and one is stored)
            prior = prior_of_query(db, query, age_max)
            posterior = np.full(age_max + 1, 1.0 / (age_max + 1)) if prior.probabilities is None else prior.probabilities
            count = 0
        summary = summarize(posterior, reference_range=ranges.get(genders.get(query)) if count else None)
        finished = count > 0 and protocol_finished(protocol, summary.ci_low, summary.ci_high, count,
                                                   summary.beyond_mass)
        sent_back_open = requeue_allowance(db, query) is not None
        truth.queries[query] = QueryTruth(query, posterior, summary, count,
                                          status_rule(count, finished, summary, sent_back_open))
    answers, gold = Counter(), Counter()
    for row in active_comparisons(db):
        answers[row["annotator_id"]] += 1
    for row in active_comparisons(db, gold=True):
        answers[row["annotator_id"]] += 1
        gold[row["annotator_id"]] += 1
    for row in list_annotators(db):
        truth.labellers[row["id"]] = LabellerTruth(row["id"], row["name"], answers[row["id"]], gold[row["id"]],
                                                   model_of(row))
    truth.answers, truth.gold_answers = sum(answers.values()), sum(gold.values())
    return truth


def stored_disagreements(db: sqlite_utils.Database, truth: ProjectTruth, atol: float = 1e-4) -> list[str]:
    """Where the stored posteriors (what the queue's SQL and the counts read) differ from the recomputed ones:
    a line per query, empty when they agree. float32 storage: an absolute tolerance on probabilities."""
    problems = []
    for query, expected in truth.queries.items():
        stored = load_posterior(db, query)
        if stored is None:
            if expected.comparisons:
                problems.append(f"query {query}: {expected.comparisons} answers but no stored posterior")
            continue
        if stored["n_comparisons"] != expected.comparisons:
            problems.append(f"query {query}: stored {stored['n_comparisons']} answers, {expected.comparisons} count")
        elif expected.comparisons and not np.allclose(stored["probabilities"], expected.posterior, atol=atol):
            problems.append(f"query {query}: stored posterior differs from its answers' by "
                            f"{np.abs(stored['probabilities'] - expected.posterior).max():.2g}")
        elif expected.comparisons and (stored["ci_low"], stored["ci_high"], stored["beyond"]) != (
                expected.summary.ci_low, expected.summary.ci_high, expected.summary.beyond):
            problems.append(f"query {query}: stored interval {stored['ci_low']}-{stored['ci_high']} beyond "
                            f"{stored['beyond']}, recomputed {expected.summary.ci_low}-{expected.summary.ci_high} "
                            f"beyond {expected.summary.beyond}")
    return problems
