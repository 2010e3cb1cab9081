"""A labeller's session: which pair to show next, what an answer means, undo, gold checks and beta.

Pure domain code over the project store and ageapp.core (no Qt): the labeller's window drives it, and so do
the crash-safety test and the annotation benchmark. Every answer is committed to the database before
`answer` returns, and the query's posterior is recomputed from the comparisons in the same transaction,
so a crash loses at most the answer being given and never leaves a posterior out of step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sqlite_utils

from ageapp.annotation.gender import effective_gender_sql
from ageapp.annotation.gender import gender_confidence as project_gender_confidence
from ageapp.annotation.requeue import answered_before_sql
from ageapp.annotation.requeue import open_sql as requeue_open_sql
from ageapp.core.annotators import MIN_GOLD_ANSWERS, choose_gold_pair, fit_beta, is_gold_turn
from ageapp.core.posterior import (
    OUTLIER_WIDTH,
    PosteriorSummary,
    credible_interval,
    summarize,
)
from ageapp.core.selection import (
    ACTIVE,
    GENDER_UNKNOWN,
    PAPER,
    Protocol,
    ReferencePool,
    ShownComparison,
    is_finished,
    next_reference,
    query_posterior,
)
from ageapp.faces.alignment import decode_crop
from ageapp.store.annotators import annotator_id_for, set_beta
from ageapp.store.comparisons import (
    OUTCOME_OF_ANSWER,
    active_comparisons,
    posterior_of_comparisons,
    record_comparison,
    record_gold_comparison,
    undo_comparison,
)
from ageapp.store.posteriors import save_posterior
from ageapp.store.settings import get_setting

BETA_REFIT_EVERY = 10  # gold answers between refits of the annotator's beta (each refit recomputes posteriors)
MIN_BETA = 0.01
GENDER_CONFIDENCE_DEFAULT = 0.9  # the project setting's default (store.settings "gender_confidence")


@dataclass
class Task:
    """One pair on screen. For a gold task, `query_image_id` is the reference shown in the query's place."""

    kind: str  # "query" or "gold"
    query_image_id: int
    reference_image_id: int
    query_side: str  # "left" or "right"
    query_crop: np.ndarray = field(repr=False)
    reference_crop: np.ndarray = field(repr=False)
    shown_at: float = field(default_factory=time.monotonic)

    @property
    def crops_left_right(self) -> tuple[np.ndarray, np.ndarray]:
        if self.query_side == "left":
            return self.query_crop, self.reference_crop
        return self.reference_crop, self.query_crop


@dataclass
class QueryState:
    """A query's posterior and the comparisons behind it, as the plot shows them."""

    query_image_id: int
    posterior: np.ndarray
    summary: PosteriorSummary
    comparisons: list[tuple[float, str]]  # (reference age, answer)


def answer_for_choice(choice: str, query_side: str) -> str:
    """'left'/'right' (that face is older) or 'unsure' -> the answer about the QUERY."""
    if choice == "unsure":
        return "unsure"
    if choice not in ("left", "right"):
        raise ValueError(f"choice must be 'left', 'right' or 'unsure', not {choice!r}")
    return "older" if choice == query_side else "younger"


def unfinished_condition(protocol: Protocol, alias: str = "p") -> tuple[str, list]:
    """SQL over a posteriors row (`alias`) that is true while its query needs more comparisons, and its
    parameters: the one statement of the stopping rule in SQL (the session, the queue and the statistics use it).

    Written for the indexes of schema migration 2: paper is a range of n_comparisons; active is a range of
    the interval's width, and the unary + keeps SQLite from scanning the n_comparisons index instead.
    """
    if protocol.policy == PAPER:
        return f"{alias}.n_comparisons < ?", [protocol.comparisons]
    return (f"({alias}.ci_high - {alias}.ci_low > ? AND +{alias}.n_comparisons < ?)",
            [protocol.target_width, protocol.max_comparisons])


def query_state(db: sqlite_utils.Database, query_image_id: int, age_max: int) -> QueryState:
    """The query's posterior as its active comparisons imply it now (nothing written)."""
    rows = active_comparisons(db, query_image_id)
    posterior = posterior_of_comparisons(rows, age_max)
    return QueryState(query_image_id, posterior, summarize(posterior),
                      [(row["reference_age"], row["answer"]) for row in rows])


def recompute_posterior(db: sqlite_utils.Database, query_image_id: int, age_max: int) -> QueryState:
    """The query's posterior from all its active comparisons (each with its annotator's beta), stored."""
    state = query_state(db, query_image_id, age_max)
    save_posterior(db, query_image_id, state.posterior, state.summary, len(state.comparisons))
    return state


def gold_answers_of(db: sqlite_utils.Database, annotator_id: int) -> tuple[np.ndarray, np.ndarray, list[bool | None]]:
    """An annotator's gold answers not undone: (age of the face in the query's place, age of the other face,
    first older? True / False / None for can't tell), oldest first."""
    rows = list(db.query(
        "SELECT first.age AS first_age, second.age AS second_age, c.answer FROM comparisons AS c"
        " JOIN images AS first ON first.id = c.second_reference_image_id"
        " JOIN images AS second ON second.id = c.reference_image_id"
        " WHERE c.is_gold = 1 AND c.annotator_id = ? AND c.id NOT IN (SELECT comparison_id FROM undone)"
        " ORDER BY c.rowid",
        [annotator_id],
    ))
    return (np.array([r["first_age"] for r in rows], float), np.array([r["second_age"] for r in rows], float),
            [{"older": True, "younger": False}.get(r["answer"]) for r in rows])


def apply_beta(db: sqlite_utils.Database, annotator_id: int, beta: float, age_max: int) -> int:
    """Set an annotator's beta and recompute every posterior that annotator's answers enter (one transaction);
    returns how many posteriors were recomputed. Used by the gold refit and by the user study's "adopt β"."""
    beta = max(MIN_BETA, float(beta))
    with db.atomic():
        set_beta(db, annotator_id, beta)
        touched = [row[0] for row in db.execute(
            "SELECT DISTINCT query_image_id FROM comparisons WHERE annotator_id = ? AND is_gold = 0",
            [annotator_id],
        )]
        for query_image_id in touched:
            recompute_posterior(db, query_image_id, age_max)
    return len(touched)


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
        gender_confidence: float | None = None,
    ):
        self.db = db
        self.annotator_id = annotator_id_for(db, annotator)
        self.protocol = protocol or Protocol()
        self.gold_rate = gold_rate
        self.rng = np.random.default_rng(seed)
        self.rough_estimate = rough_estimate
        # None: the project's setting (0.9 unless changed), read once per session.
        self.gender_confidence = project_gender_confidence(db) if gender_confidence is None else gender_confidence
        self.age_max = int(get_setting(db, "age_max"))
        self.pool = self._load_reference_pool()
        self.current_query: int | None = None
        self._skipped: set[int] = set()
        # Every query with an id below this one has a posterior or is in _skipped (posteriors are never
        # deleted), so the search for a never-compared query starts here instead of at the first query.
        self._fresh_from = 0
        self._skipped_pairs: dict[int, set[int]] = {}  # query -> references skipped with it (not stored)
        self._extra_round_from: dict[int, int] = {}  # focused finished query -> its comparisons at the focus
        self._requeue_done: set[int] = set()  # queries sent back that this session found no reference for

    # ------------------------------------------------------------------ what to show
    def _load_reference_pool(self) -> ReferencePool:
        """References of exact age with a face; each one's gender is its label, else a confident prediction."""
        rows = list(self.db.query(
            f"SELECT images.id, images.age, {effective_gender_sql('images')} AS gender FROM images"
            " WHERE role = 'reference' AND age IS NOT NULL AND age <= ?"
            " AND EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id) ORDER BY images.id",
            [self.gender_confidence, self.age_max],
        ))
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

    @property
    def beta(self) -> float:
        return self.db.execute("SELECT beta FROM annotators WHERE id = ?", [self.annotator_id]).fetchone()[0]

    def _unfinished_condition(self) -> tuple[str, list]:
        """SQL over the posteriors row `p` that is true while a query needs more comparisons."""
        return unfinished_condition(self.protocol, "p")

    def _requeued_query(self, answered_before: bool) -> int | None:
        """A query sent back (annotation.requeue) that is still open, that this annotator had (True) or had
        not (False) answered before it was sent back; the oldest sending first. `requeued` is small."""
        done = ",".join(str(int(q)) for q in self._requeue_done) or "-1"
        row = self.db.execute(
            "SELECT r.query_image_id FROM requeued AS r JOIN posteriors AS p ON p.query_image_id = r.query_image_id"
            f" WHERE {requeue_open_sql()} AND r.query_image_id NOT IN ({done})"
            f" AND {'' if answered_before else 'NOT '}{answered_before_sql()}"
            " ORDER BY r.requeued, r.query_image_id LIMIT 1",
            [self.annotator_id],
        ).fetchone()
        return None if row is None else row[0]

    def requeue_allowance(self, query_image_id: int) -> int | None:
        """For a query sent back and still open: how many comparisons it may have in all; else None."""
        row = self.db.execute(
            "SELECT r.until_comparisons FROM requeued AS r JOIN posteriors AS p ON p.query_image_id = r.query_image_id"
            f" WHERE r.query_image_id = ? AND {requeue_open_sql()}",
            [query_image_id],
        ).fetchone()
        return None if row is None else int(row[0])

    def next_query(self) -> int | None:
        """The query to work on: a flagged query sent back that this annotator had not answered, then one
        already started, then the next never-compared one, and last a query sent back that this annotator
        had answered before (another labeller is preferred for those, where there is one).

        All are index lookups (schema migration 2, and the `_fresh_from` cursor), not scans: at MegaAge
        scale this runs between two key presses.
        """
        requeued = self._requeued_query(answered_before=False)
        if requeued is not None:
            return requeued
        condition, params = self._unfinished_condition()
        skipped = ",".join(str(int(q)) for q in self._skipped) or "-1"
        started = self.db.execute(
            f"SELECT p.query_image_id FROM posteriors AS p WHERE +p.n_comparisons > 0 AND {condition}"
            f" AND p.query_image_id NOT IN ({skipped}) ORDER BY p.n_comparisons DESC, p.query_image_id LIMIT 1",
            params,
        ).fetchone()
        if started:
            return started[0]
        fresh = self.db.execute(
            "SELECT images.id FROM images WHERE role = 'query' AND images.id >= ?"
            " AND NOT EXISTS (SELECT 1 FROM posteriors WHERE posteriors.query_image_id = images.id)"
            " AND EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id)"
            f" AND images.id NOT IN ({skipped}) ORDER BY images.id LIMIT 1",
            [self._fresh_from],
        ).fetchone()
        if fresh is None:
            return self._requeued_query(answered_before=True)
        self._fresh_from = fresh[0]
        return fresh[0]

    def query_gender(self, image_id: int) -> int | None:
        """Labelled gender first; a predicted one only when confident enough; else unknown (any reference)."""
        row = self.db.execute(
            "SELECT images.gender, faces.gender_predicted, faces.gender_probability FROM images"
            " LEFT JOIN faces ON faces.image_id = images.id WHERE images.id = ?"
            " ORDER BY faces.box_w * faces.box_h DESC LIMIT 1",
            [image_id],
        ).fetchone()
        if row is None:
            return None
        labelled, predicted, probability = row
        if labelled is not None:
            return int(labelled)
        if predicted is not None and probability is not None and probability >= self.gender_confidence:
            return int(predicted)
        return None

    def _shown(self, query_image_id: int) -> list[ShownComparison]:
        return [
            ShownComparison(row["reference_image_id"], row["reference_age"], OUTCOME_OF_ANSWER[row["answer"]], row["beta"])
            for row in active_comparisons(self.db, query_image_id)
        ]

    def crop_of(self, image_id: int) -> np.ndarray:
        row = self.db.execute(
            "SELECT crop FROM faces WHERE image_id = ? ORDER BY box_w * box_h DESC LIMIT 1", [image_id]
        ).fetchone()
        if row is None:
            raise LookupError(f"image {image_id} has no face crop")
        return decode_crop(row[0])

    def next_task(self) -> Task | None:
        """The next pair to show, or None when every query is finished."""
        if is_gold_turn(self.rng, self.gold_rate):
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
            recompute_posterior(self.db, query, self.age_max)
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
        shown = self._shown(query)
        round_from = self._extra_round_from.get(query)
        excluded = set(self._skipped_pairs.get(query, ()))
        allowance = self.requeue_allowance(query) if query not in self._requeue_done else None
        if allowance is not None:
            # Sent back flagged: the most informative reference until the interval is at most the outlier
            # width or the allowance is used up, whatever the protocol (the aim is to narrow it, nothing else).
            outlier = Protocol(ACTIVE, target_width=OUTLIER_WIDTH, max_comparisons=allowance)
            if is_finished(outlier, shown, self.age_max):
                return None
            return next_reference(outlier, self._pool_without(excluded), shown, self.query_gender(query), self.rng,
                                  beta=self.beta, age_max=self.age_max)
        # Only the paper protocol needs a rough estimate (the active one never does): spare the model run.
        needs_estimate = self.rough_estimate is not None and self.protocol.policy == PAPER
        estimate = self.rough_estimate(query) if needs_estimate else None
        if round_from is None:
            if is_finished(self.protocol, shown, self.age_max):
                return None
            asked = shown
        else:
            this_round = shown[round_from:]
            if self._round_finished(shown, this_round):
                return None
            if self.protocol.policy == PAPER:  # balance this round around the posterior so far
                excluded.update(c.reference_id for c in shown[:round_from])
                asked = this_round
                if estimate is None:
                    estimate = float(query_posterior(shown, self.age_max) @ np.arange(self.age_max + 1))
            else:
                asked = shown
        if estimate is None:
            estimate = self.pool.median_age  # the paper's rough estimate without a model, over ALL references
        return next_reference(
            self.protocol, self._pool_without(excluded), asked, self.query_gender(query), self.rng,
            beta=self.beta, estimate=estimate, age_max=self.age_max,
        )

    def _round_finished(self, shown: list[ShownComparison], this_round: list[ShownComparison]) -> bool:
        if not this_round:
            return False
        if self.protocol.policy == PAPER:
            return len(this_round) >= self.protocol.comparisons
        low, high = credible_interval(query_posterior(shown, self.age_max))
        return high - low <= self.protocol.target_width or len(this_round) >= self.protocol.max_comparisons

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
            self._maybe_refit_beta()
            return None
        with self.db.atomic():  # the answer and the posterior it implies land together, or not at all
            record_comparison(
                self.db, query_image_id=task.query_image_id, reference_image_id=task.reference_image_id,
                answer=answer, annotator_id=self.annotator_id, response_ms=response_ms, query_side=task.query_side,
            )
            state = recompute_posterior(self.db, task.query_image_id, self.age_max)
        return state

    def can_undo(self) -> bool:
        """Whether this annotator has an answer that still counts (also from an earlier session)."""
        return self.db.execute(
            "SELECT 1 FROM comparisons WHERE annotator_id = ? AND id NOT IN (SELECT comparison_id FROM undone)"
            " LIMIT 1",
            [self.annotator_id],
        ).fetchone() is not None

    def undo(self) -> QueryState | None:
        """Withdraw this annotator's last answer that still counts (also across queries).

        Returns the affected query's new state (None for a gold answer, or if there is nothing to undo);
        that query becomes the current one, so the labeller can answer it again.
        """
        row = self.db.execute(
            "SELECT id, query_image_id, is_gold FROM comparisons WHERE annotator_id = ?"
            " AND id NOT IN (SELECT comparison_id FROM undone) ORDER BY rowid DESC LIMIT 1",
            [self.annotator_id],
        ).fetchone()
        if row is None:
            return None
        comparison_id, query_image_id, is_gold = row
        with self.db.atomic():
            undo_comparison(self.db, comparison_id)
            if is_gold:
                return None
            state = recompute_posterior(self.db, query_image_id, self.age_max)
        self._skipped.discard(query_image_id)
        self.current_query = query_image_id
        return state

    def state_of(self, query_image_id: int) -> QueryState:
        """A query's posterior as computed from its comparisons now (nothing written)."""
        return query_state(self.db, query_image_id, self.age_max)

    def focus(self, query_image_id: int) -> None:
        """Work on this query next (the labeller picked it in the queue to add comparisons).

        A query the protocol already calls finished gets one more round (see `_next_reference_for`).
        """
        self._skipped.discard(query_image_id)
        self.current_query = query_image_id
        shown = self._shown(query_image_id)
        if query_image_id not in self._extra_round_from and is_finished(self.protocol, shown, self.age_max):
            self._extra_round_from[query_image_id] = len(shown)

    # ------------------------------------------------------------------ beta from gold answers
    def gold_answers(self) -> tuple[np.ndarray, np.ndarray, list[bool | None]]:
        """(age of the face in the query's place, age of the other, first older?) for this annotator."""
        return gold_answers_of(self.db, self.annotator_id)

    def _maybe_refit_beta(self) -> None:
        first, second, first_older = self.gold_answers()
        answered = sum(y is not None for y in first_older)
        if answered < MIN_GOLD_ANSWERS or answered % BETA_REFIT_EVERY:
            return
        apply_beta(self.db, self.annotator_id, fit_beta(first, second, first_older), self.age_max)
