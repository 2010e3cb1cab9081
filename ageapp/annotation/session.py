"""A labeller's session: which pair to show next, what an answer means, undo, gold checks and beta.

Pure domain code over the project store and ageapp.core (no Qt): the labeller's window drives it, and so do
the crash-safety test and the annotation benchmark. Every answer is committed to the database before
`answer` returns, and the query's posterior is recomputed from the comparisons in the same transaction,
so a crash loses at most the answer being given and never leaves a posterior out of step.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import sqlite_utils

from ageapp.annotation.beta import (apply_beta, apply_model, apply_model_to, fit_beta,  # noqa: F401  (read through here too)
                                    gold_answers_of)
from ageapp.annotation.events import Answered, BetaChanged, EventBus, GenderCorrected, QueriesChanged, Undone
from ageapp.annotation.gender import GenderInfo, set_gender_label
from ageapp.annotation.gender import gender_confidence as project_gender_confidence
from ageapp.annotation.reference_span import ReferenceSpans
from ageapp.annotation.tasks import (QueryState, Task, answer_for_choice, query_state,  # noqa: F401  (read here too)
                                     recompute_posterior)
from ageapp.core.annotators import choose_gold_pair, is_gold_turn
from ageapp.core.beta_model import AnnotatorModel
from ageapp.core.posterior import OUTLIER_WIDTH
from ageapp.core.selection import (ACTIVE, GENDER_UNKNOWN, PAPER, Protocol, ReferencePool, ShownComparison,
                                   next_reference, protocol_finished)
from ageapp.faces.alignment import decode_crop
from ageapp.store import labelling as labelling_store
from ageapp.store.annotators import annotator_id_for, annotator_model, list_annotators
from ageapp.store.comparisons import (OUTCOME_OF_ANSWER, active_comparisons, record_comparison,
                                      record_gold_comparison, undo_comparison)
from ageapp.store.faces import largest_face_crop
from ageapp.store.images import count_images
from ageapp.store.progress import unfinished_condition  # noqa: F401  (the stopping rule in SQL, read through here)
from ageapp.store.posteriors import reference_age_ranges, refresh_posteriors
from ageapp.store.settings import get_setting

BETA_REFIT_EVERY = 10  # gold answers between refits of the annotator's β (each refit recomputes posteriors)
MIN_BETA = 0.01


class AnnotationSession:
    """Serves pairs to one annotator under a protocol and records the answers."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        annotator: str,
        protocol: Protocol | None = None,
        *,
        gold_rate: float = 0.1,
        seed: int | None = None,
        rough_estimate: Callable[[int], float | None] | None = None,
        prior_source: Callable[[int], object] | None = None,
        gender_confidence: float | None = None,
        events: EventBus | None = None,
        refit_runner: Callable[[int], None] | None = None,
    ):
        self.db = db
        # Who fits β every BETA_REFIT_EVERY gold answers: None, here before `answer` returns (the command line,
        # the tests); the window passes a runner that fits in a worker thread and hands the estimate back to
        # `apply_fitted_model` (the fit must never hold up a key press).
        self.refit_runner = refit_runner
        self.events = events if events is not None else EventBus()  # the open project's, in the app
        self.annotator_id = annotator_id_for(db, annotator)
        self.protocol = protocol or Protocol()
        self.gold_rate = gold_rate
        self.rng = np.random.default_rng(seed)
        self.rough_estimate = rough_estimate
        self.prior_source = prior_source  # query id -> its model prior stored (annotation.model_prior), if wanted
        # None: the project's setting (0.9 unless changed), read once per session.
        self.gender_confidence = project_gender_confidence(db) if gender_confidence is None else gender_confidence
        self.age_max = int(get_setting(db, "age_max"))
        self.spans = ReferenceSpans(db, self.age_max, self.events)  # the references' age span, kept between answers
        self.pool = self._load_reference_pool()
        self.current_query: int | None = None
        self._skipped: set[int] = set()
        # Every query with an id below this one has a posterior or is in _skipped (posteriors are never
        # deleted), so the search for a never-compared query starts here instead of at the first query.
        self._fresh_from = 0
        self._skipped_pairs: dict[int, set[int]] = {}  # query -> references skipped with it (not stored)
        self._extra_round_from: dict[int, int] = {}  # focused finished query -> its comparisons at the focus
        self._requeue_done: set[int] = set()  # queries sent back that this session found no reference for
        self._last_number: tuple[int, int] | None = None  # comparison_number of the last query pair shown
        self._alone = [row["id"] for row in list_annotators(db)] == [self.annotator_id]
        self._refitted_at = 0  # the answered gold count of the last refit

    # ------------------------------------------------------------------ what to show
    def _load_reference_pool(self) -> ReferencePool:
        """References of exact age with a face; each one's gender is its label, else a confident prediction."""
        rows = labelling_store.reference_pool_rows(self.db, self.gender_confidence, self.age_max)
        return ReferencePool.build([r["id"] for r in rows], [r["age"] for r in rows], [r["gender"] for r in rows])

    def gender_changed(self, image_id: int) -> None:
        """A face's gender was corrected: a reference's entry in the pool follows at once (a query's gender is
        read from the database each time it is needed)."""
        where = np.flatnonzero(self.pool.ids == image_id)
        if len(where):
            gender = self.query_gender(image_id)
            self.pool.genders[where[0]] = GENDER_UNKNOWN if gender is None else gender

    def reload_references(self) -> None:
        """Read the references again (after genders were predicted for many faces, say)."""
        self.pool = self._load_reference_pool()

    def correct_gender(self, image_id: int, gender: int | None) -> GenderInfo:
        """A labeller's correction of a face's gender (annotation.gender.set_gender_label), told to the views.

        Which references a query can be shown follows its gender, and so does whether it lies beyond them: a
        query's stored posterior is recomputed at once, and a reference's new gender, where it moves the
        references' age span of a gender, recomputes the posteriors of every answered query."""
        spans_before = self.spans.get()
        info = set_gender_label(self.db, image_id, gender, self.annotator_id)
        self.gender_changed(image_id)
        self.events.emit(GenderCorrected(image_id, info))  # the spans are read again from here
        if reference_age_ranges(self.db, self.age_max) != spans_before:
            refresh_posteriors(self.db, force=True)
            self.events.emit(QueriesChanged("genders changed the references' age span"))
        elif active_comparisons(self.db, image_id):  # a query with answers (a reference never has any)
            recompute_posterior(self.db, image_id, self.age_max, self.spans.get())
            self.events.emit(QueriesChanged("gender corrected", (image_id,)))
        return info

    def genders_predicted(self) -> None:
        """Genders were predicted for many faces: the reference pool follows, and the views."""
        self.reload_references()
        self.events.emit(QueriesChanged("genders predicted"))

    @property
    def model(self) -> AnnotatorModel:
        """This annotator's β estimate (a single β with its uncertainty, or β by the reference's age)."""
        return annotator_model(self.db, self.annotator_id)

    @property
    def beta(self) -> float:
        return self.model.beta

    def _finished(self, protocol: Protocol, state: QueryState, count: int | None = None) -> bool:
        """The stopping rule on the query's stored-to-be state (the same as the SQL of store.progress)."""
        summary = state.summary
        count = len(state.comparisons) if count is None else count
        return protocol_finished(protocol, summary.ci_low, summary.ci_high, count, summary.beyond_mass)

    def _requeued_query(self, answered_before: bool) -> int | None:
        """A query sent back (store.requeue) that is still open, that this annotator had (True) or had not
        (False) answered before it was sent back."""
        return labelling_store.requeued_query(self.db, self.annotator_id, answered_before, self._requeue_done)

    def requeue_allowance(self, query_image_id: int) -> int | None:
        """For a query sent back and still open: how many comparisons it may have in all; else None."""
        return labelling_store.requeue_allowance(self.db, query_image_id)

    @property
    def alone(self) -> bool:
        """No other labeller in this project: queries sent back come to this one at once (there is nobody
        else to prefer for them)."""
        return self._alone

    def next_query(self) -> int | None:
        """The query to work on: one sent back that this annotator had not answered (any sent back, when no
        other labeller exists), then one started, then the next never-compared one, and last one sent back
        that this annotator had answered before (another labeller is preferred for those). Index lookups
        (schema migration 2, the `_fresh_from` cursor), not scans: at MegaAge scale, between two key presses."""
        requeued = self._requeued_query(answered_before=False)
        if requeued is None and self._alone:
            requeued = self._requeued_query(answered_before=True)
        if requeued is not None:
            return requeued
        started = labelling_store.started_query(self.db, self.protocol, self._skipped)
        if started is not None:
            return started
        fresh = labelling_store.fresh_query(self.db, self._fresh_from, self._skipped)
        if fresh is None:
            return self._requeued_query(answered_before=True)
        self._fresh_from = fresh
        return fresh

    def query_gender(self, image_id: int) -> int | None:
        """Labelled gender first; a predicted one only when confident enough; else unknown (any reference)."""
        return labelling_store.query_gender(self.db, image_id, self.gender_confidence)

    def _shown(self, query_image_id: int) -> list[ShownComparison]:
        return [
            ShownComparison(row["reference_image_id"], row["reference_age"], OUTCOME_OF_ANSWER[row["answer"]], row["beta"])
            for row in active_comparisons(self.db, query_image_id)
        ]

    def crop_of(self, image_id: int) -> np.ndarray:
        stored = largest_face_crop(self.db, image_id)
        if stored is None:
            raise LookupError(f"image {image_id} has no face crop")
        return decode_crop(stored[0])

    def comparison_number(self, task: Task) -> tuple[int, int]:
        """(k, M): the pair on screen is comparison k of at most M for its query. A gold pair gets the last
        query pair's numbers (or 1 of M), so that nothing on screen tells it apart."""
        limit = self.protocol.comparisons if self.protocol.policy == PAPER else self.protocol.max_comparisons
        if task.kind != "query":
            return self._last_number or (1, limit)
        query = task.query_image_id
        done = len(active_comparisons(self.db, query))
        allowance = self.requeue_allowance(query) if query not in self._requeue_done else None
        self._last_number = (done + 1, allowance if allowance is not None else self._extra_round_from.get(query, 0) + limit)
        return self._last_number

    def has_queries(self) -> bool:
        """Whether the project has any query at all (to tell "all finished" from "nothing imported yet")."""
        return count_images(self.db, "query") > 0

    def next_task(self, gold: bool = True) -> Task | None:
        """The next pair to show, or None when every query is finished. gold=False: no gold pair this time (the
        labeller just picked a query in the queue: its pair comes next)."""
        if gold and is_gold_turn(self.rng, self.gold_rate):
            gold = self._gold_task()
            if gold is not None:
                return gold
        while True:
            query = self.current_query if self.current_query is not None else self.next_query()
            if query is None:
                return None
            reference = self._next_reference_for(query)
            if reference is not None:
                self.current_query = query
                return self._pair("query", query, reference)
            # Finished, or no allowed reference left: make sure its posterior is stored, move on.
            recompute_posterior(self.db, query, self.age_max, self.spans.get())
            self._skipped.add(query)
            if self.requeue_allowance(query) is not None:  # sent back, but no allowed reference is left
                self._requeue_done.add(query)
            self._extra_round_from.pop(query, None)
            self.current_query = None

    def _next_reference_for(self, query: int) -> int | None:
        """The reference to show with this query next, or None if it is finished (or none is left).

        A query the labeller focused after it was finished gets one more round, counted from the focus:
        the paper protocol's `comparisons` more, or (active) more until the interval is narrow enough or
        `max_comparisons` more were shown, and at least one. Its earlier references are not shown again.
        """
        if self.prior_source is not None and self.prior_source(query):  # the model's prior stored, posterior too
            self.events.emit(QueriesChanged("the model's prior stored", (query,)))
        shown = self._shown(query)
        state = self.state_of(query)
        beta = self.model.beta_at  # β at each candidate reference's age (a constant, or a curve)
        round_from = self._extra_round_from.get(query)
        excluded = set(self._skipped_pairs.get(query, ()))
        allowance = self.requeue_allowance(query) if query not in self._requeue_done else None
        if allowance is not None:
            # Sent back flagged: the most informative reference until the interval is at most the outlier
            # width or the allowance is used up, whatever the protocol (the aim is to narrow it, nothing else).
            outlier = Protocol(ACTIVE, target_width=OUTLIER_WIDTH, max_comparisons=allowance, relative_below=0)
            if self._finished(outlier, state):
                return None
            return next_reference(outlier, self._pool_without(excluded), shown, self.query_gender(query), self.rng,
                                  beta=beta, age_max=self.age_max, posterior=state.posterior)
        # Only the paper protocol needs a rough estimate (the active one never does): spare the model run.
        needs_estimate = self.rough_estimate is not None and self.protocol.policy == PAPER
        estimate = self.rough_estimate(query) if needs_estimate else None
        if round_from is None:
            if self._finished(self.protocol, state):
                return None
            asked = shown
        else:
            this_round = shown[round_from:]
            if self._round_finished(state, len(this_round)):
                return None
            if self.protocol.policy == PAPER:  # balance this round around the posterior so far
                excluded.update(c.reference_id for c in shown[:round_from])
                asked = this_round
                if estimate is None:
                    estimate = state.summary.mean
            else:
                asked = shown
        if estimate is None:
            estimate = self.pool.median_age  # the paper's rough estimate without a model, over ALL references
        return next_reference(
            self.protocol, self._pool_without(excluded), asked, self.query_gender(query), self.rng,
            beta=beta, estimate=estimate, age_max=self.age_max, posterior=state.posterior,
        )

    def _round_finished(self, state: QueryState, this_round: int) -> bool:
        """The extra round of a focused finished query: counted from the focus, at least one comparison."""
        return this_round > 0 and self._finished(self.protocol, state, this_round)

    def _pool_without(self, excluded: set[int]) -> ReferencePool:
        if not excluded:
            return self.pool
        keep = ~np.isin(self.pool.ids, list(excluded))
        return ReferencePool(self.pool.ids[keep], self.pool.ages[keep], self.pool.genders[keep])

    def _gold_task(self) -> Task | None:
        pair = choose_gold_pair(self.pool, self.rng)
        return None if pair is None else self._pair("gold", pair[0], pair[1])

    def _pair(self, kind: str, query_image_id: int, reference_image_id: int) -> Task:
        side = "left" if self.rng.random() < 0.5 else "right"
        return Task(kind, query_image_id, reference_image_id, side,
                    self.crop_of(query_image_id), self.crop_of(reference_image_id))

    # ------------------------------------------------------------------ answers
    def skip(self, task: Task) -> None:
        """Move on without an answer (a face the labeller cannot see well): nothing is stored, the posterior
        is untouched, and this reference is not shown with this query again in this session."""
        if task.kind == "query":
            self._skipped_pairs.setdefault(task.query_image_id, set()).add(task.reference_image_id)

    def answer(self, task: Task, choice: str, response_ms: int | None = None) -> QueryState | None:
        """Record the answer (committed before returning); the query's new state, or None for gold."""
        answer = answer_for_choice(choice, task.query_side)
        if response_ms is None:
            response_ms = int((time.monotonic() - task.shown_at) * 1000)
        if task.kind == "gold":
            with self.db.atomic():
                record_gold_comparison(
                    self.db, shown_as_query_image_id=task.query_image_id, reference_image_id=task.reference_image_id,
                    answer=answer, annotator_id=self.annotator_id, response_ms=response_ms, query_side=task.query_side,
                )
            self.events.emit(Answered(self.annotator_id, gold=True))
            self._maybe_refit_beta()
            return None
        with self.db.atomic():  # the answer and the posterior it implies land together, or not at all
            record_comparison(
                self.db, query_image_id=task.query_image_id, reference_image_id=task.reference_image_id,
                answer=answer, annotator_id=self.annotator_id, response_ms=response_ms, query_side=task.query_side,
            )
            state = recompute_posterior(self.db, task.query_image_id, self.age_max, self.spans.get())
        self.events.emit(Answered(self.annotator_id, gold=False, state=state, query_image_id=task.query_image_id))
        return state

    def can_undo(self) -> bool:
        """Whether this annotator has an answer that still counts (also from an earlier session)."""
        return labelling_store.has_answer_to_undo(self.db, self.annotator_id)

    def undo(self) -> QueryState | None:
        """Withdraw this annotator's last answer that still counts (also across queries).

        Returns the affected query's new state (None for a gold answer, or if there is nothing to undo);
        that query becomes the current one, so the labeller can answer it again.
        """
        row = labelling_store.last_answer(self.db, self.annotator_id)
        if row is None:
            return None
        comparison_id, query_image_id, is_gold = row
        with self.db.atomic():
            undo_comparison(self.db, comparison_id)
            state = None if is_gold else recompute_posterior(self.db, query_image_id, self.age_max, self.spans.get())
        if is_gold:
            self._refitted_at = 0  # the gold answer given again counts towards a refit again
            self.events.emit(Undone(self.annotator_id, gold=True))
            return None
        self._skipped.discard(query_image_id)
        self.current_query = query_image_id
        self.events.emit(Undone(self.annotator_id, gold=False, state=state, query_image_id=query_image_id))
        return state

    def state_of(self, query_image_id: int) -> QueryState:
        """A query's posterior as computed from its comparisons now (nothing written)."""
        return query_state(self.db, query_image_id, self.age_max, self.spans.get())

    def focus(self, query_image_id: int) -> None:
        """Work on this query next (the labeller picked it in the queue to add comparisons).

        A query the protocol already calls finished gets one more round (see `_next_reference_for`).
        """
        self._skipped.discard(query_image_id)
        self.current_query = query_image_id
        state = self.state_of(query_image_id)
        if query_image_id not in self._extra_round_from and self._finished(self.protocol, state):
            self._extra_round_from[query_image_id] = len(state.comparisons)

    # ------------------------------------------------------------------ beta from gold answers
    def gold_answers(self) -> tuple[np.ndarray, np.ndarray, list[bool | None]]:
        """(age of the face in the query's place, age of the other, first older?) for this annotator."""
        return gold_answers_of(self.db, self.annotator_id)

    def refit_due(self) -> bool:
        """Whether the gold answers given just reached a multiple of BETA_REFIT_EVERY (can't-tell ones left out:
        a can't-tell answer after the tenth does not refit again)."""
        answered = sum(y is not None for y in self.gold_answers()[2])
        due = answered > 0 and answered % BETA_REFIT_EVERY == 0 and answered != self._refitted_at
        if due:
            self._refitted_at = answered
        return due

    def _maybe_refit_beta(self) -> None:
        """Every BETA_REFIT_EVERY gold answers: the annotator's β estimate again (shrunk towards the population,
        with its uncertainty, by age where that predicts better: ageapp.core.beta_model), posteriors recomputed:
        here, or through the refit runner."""
        if not self.refit_due():
            return
        if self.refit_runner is not None:
            self.refit_runner(self.annotator_id)
            return
        self.apply_fitted_model(fit_beta(self.db, self.annotator_id))

    def apply_fitted_model(self, model: AnnotatorModel) -> int:
        """Make a refitted β this annotator's, recompute the posteriors their answers enter, tell the views."""
        recomputed = apply_model_to(self.db, self.annotator_id, model)
        self.events.emit(BetaChanged(self.annotator_id, model.beta, len(recomputed), model, recomputed))
        return len(recomputed)
