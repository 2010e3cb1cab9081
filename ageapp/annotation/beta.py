"""An annotator's β, as the labelling uses it: the gold answers it is fitted from, and setting a new estimate
(from the gold refit or a study) with every posterior that annotator's answers enter recomputed at once; a
study's β adopted with care (what it would change, shown before; undone after)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlite_utils

from ageapp.annotation.events import BetaChanged, EventBus
from ageapp.annotation.labelling_settings import load_labelling_settings
from ageapp.core.beta_model import STUDY, AnnotatorModel, fit_annotator
from ageapp.core.posterior import summarize
from ageapp.core.selection import protocol_finished
from ageapp.store.annotators import annotator_id_for, annotator_model, find_annotator, save_annotator_model
from ageapp.store.comparisons import active_comparisons, posterior_of_comparisons, queries_answered_by
from ageapp.store.comparisons import gold_answers_of as stored_gold_answers
from ageapp.store.posteriors import query_genders, reference_age_ranges, refresh_posteriors
from ageapp.store.priors import prior_of_query
from ageapp.store.settings import get_setting

MIN_BETA = 0.01


def gold_answers_of(db: sqlite_utils.Database, annotator_id: int) -> tuple[np.ndarray, np.ndarray, list[bool | None]]:
    """An annotator's gold answers not undone: (age of the face in the query's place, age of the other face,
    first older? True / False / None for can't tell), oldest first."""
    rows = stored_gold_answers(db, annotator_id)
    return (np.array([r["first_age"] for r in rows], float), np.array([r["second_age"] for r in rows], float),
            [{"older": True, "younger": False}.get(r["answer"]) for r in rows])


def apply_model(db: sqlite_utils.Database, annotator_id: int, model: AnnotatorModel) -> int:
    """Set an annotator's β estimate (ageapp.core.beta_model) and recompute every posterior that annotator's
    answers enter, in one transaction; returns how many were recomputed. The gold refit and the user study's
    "adopt β" go through it (`apply_model_to`, which says which queries)."""
    return len(apply_model_to(db, annotator_id, model))


def apply_model_to(db: sqlite_utils.Database, annotator_id: int, model: AnnotatorModel) -> tuple[int, ...]:
    """apply_model, returning the ids of the queries whose posteriors were recomputed."""
    with db.atomic():
        save_annotator_model(db, annotator_id, model)
        touched = queries_answered_by(db, annotator_id)
        refresh_posteriors(db, queries=touched)
    return tuple(touched)


def fit_beta(db: sqlite_utils.Database, annotator_id: int) -> AnnotatorModel:
    """The annotator's β estimate from their gold answers (ageapp.core.beta_model.fit_annotator): read only, so
    that it can run on a worker's own connection while the labeller goes on."""
    first, second, first_older = gold_answers_of(db, annotator_id)
    return fit_annotator(first, second, first_older)


def apply_beta(db: sqlite_utils.Database, annotator_id: int, beta: float, age_max: int | None = None,
               log_sd: float = 0.0, source: str = STUDY) -> int:
    """apply_model with a single β (clipped to at least MIN_BETA)."""
    return apply_model(db, annotator_id, AnnotatorModel(beta=max(MIN_BETA, float(beta)), log_sd=log_sd, source=source))


# ------------------------------------------------------------------------------------------------ adopting a β
@dataclass(frozen=True)
class Adoption:
    """A β about to replace a person's (or just put back): the old and new estimates, the queries whose
    posteriors it changes, the median 90% interval width of those before and after, and what it does to the
    labelling under the project's protocol: finished queries that would need more comparisons again
    (`reopened`), and unfinished ones it would finish (`finished`). `preview_adoption` works it out without
    writing; `adopt` applies `new`, `undo_adoption` puts `old` back."""

    person: str
    old: AnnotatorModel
    new: AnnotatorModel
    queries: tuple[int, ...]
    median_width_before: float | None
    median_width_after: float | None
    reopened: int = 0
    finished: int = 0
    gold_answers: int = 0  # the person's gold answers so far (the default β stays until they make ten)

    @property
    def changed(self) -> int:
        return len(self.queries)

    def reversed(self) -> "Adoption":
        return Adoption(self.person, self.new, self.old, self.queries, self.median_width_after,
                        self.median_width_before, self.finished, self.reopened, self.gold_answers)


def preview_adoption(db: sqlite_utils.Database, person: str, model: AnnotatorModel) -> Adoption:
    """What making `model` the β of `person` (an annotator of that name, or a newcomer) would change: each
    posterior of their answers under the new β (with the query's prior and the references it can be shown, as
    it would be stored), and which queries the protocol would then call finished."""
    annotator_id = find_annotator(db, person)
    if annotator_id is None:
        return Adoption(person, AnnotatorModel(), model, (), None, None)
    age_max = int(get_setting(db, "age_max"))
    protocol = load_labelling_settings(db).protocol
    ranges = reference_age_ranges(db, age_max)
    queries = tuple(queries_answered_by(db, annotator_id))
    genders = query_genders(db, queries)
    before, after, reopened, finished = [], [], 0, 0
    for query in queries:
        rows = active_comparisons(db, query)
        if not rows:  # every answer undone: nothing to weigh
            continue
        prior = prior_of_query(db, query, age_max).log_prior
        span = ranges.get(genders.get(query))
        old = summarize(posterior_of_comparisons(rows, age_max, log_prior=prior), reference_range=span)
        new = summarize(posterior_of_comparisons(rows, age_max, {annotator_id: model}, log_prior=prior),
                        reference_range=span)
        before.append(old.ci_width)
        after.append(new.ci_width)
        was, will = (protocol_finished(protocol, s.ci_low, s.ci_high, len(rows), s.beyond_mass) for s in (old, new))
        reopened += was and not will
        finished += will and not was
    median = (lambda widths: float(np.median(widths)) if widths else None)  # noqa: E731
    gold = sum(answer is not None for answer in gold_answers_of(db, annotator_id)[2])
    return Adoption(person, annotator_model(db, annotator_id), model, queries, median(before), median(after),
                    reopened, finished, gold)


def adopt(db: sqlite_utils.Database, adoption: Adoption, events: EventBus | None = None) -> int:
    """Make adoption.new the person's β (adding the annotator if new), recompute the posteriors their answers
    enter (one transaction), and tell every view (BetaChanged) before returning. Returns how many."""
    annotator_id = annotator_id_for(db, adoption.person)
    recomputed = apply_model_to(db, annotator_id, adoption.new)
    if events is not None:
        events.emit(BetaChanged(annotator_id, adoption.new.beta, len(recomputed), adoption.new, recomputed))
    return len(recomputed)


def undo_adoption(db: sqlite_utils.Database, adoption: Adoption, events: EventBus | None = None) -> int:
    """Put the β an adoption replaced back (the same recomputation, the same event)."""
    return adopt(db, adoption.reversed(), events)
