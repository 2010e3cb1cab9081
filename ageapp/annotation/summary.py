"""The project as the labelling window shows it, kept current in one place (napari's habit: one evented model,
views that only render it).

`ProjectSummary` listens to the project's EventBus before any view (an answer, an undo, a β refitted or adopted,
queries sent back, genders changed, the prior or protocol changed) and keeps: the counts by status and the
widths of the finished queries (ageapp.annotation.counts), each labeller's answers, gold answers and β, and the
query whose posterior is on screen with its state and status. After each change it tells its listeners with a
`Summary`, a frozen snapshot: the caption under the faces, the statistics dock, the annotator table, the queue
and the posterior plot render that and decide nothing, so they cannot tell different stories.

The snapshot is cheap (a few small dicts): it is built on the key path of every answer. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlite_utils

from ageapp.annotation.counts import Counts, ProjectCounts
from ageapp.annotation.events import Answered, BetaChanged, EventBus, GenderCorrected, QueriesChanged, Undone
from ageapp.annotation.session import BETA_REFIT_EVERY, query_state
from ageapp.annotation.tasks import QueryState
from ageapp.core.beta_model import DEFAULT, STUDY, AnnotatorModel
from ageapp.core.selection import Protocol
from ageapp.store.annotators import list_annotators, model_of
from ageapp.store.progress import answer_counts_by_annotator
from ageapp.store.settings import get_setting

JUST_ANSWERED, ANSWER_UNDONE, ON_SCREEN, PICKED = "just answered", "answer undone", "on screen", "picked in the queue"


@dataclass(frozen=True)
class LabellerSummary:
    annotator_id: int
    name: str
    answers: int  # every answer that counts, gold pairs included (the dock's "Answers" counts the same way)
    gold_answers: int  # of which on gold pairs
    model: AnnotatorModel

    @property
    def beta(self) -> float:
        return self.model.beta

    def describe_beta(self) -> str:
        """The β and where it comes from, with the gold answers given so far (the default β is kept until the
        first refit, every annotation.session.BETA_REFIT_EVERY gold answers: "no gold answers yet" is only said
        when there are none)."""
        return describe_model(self.model, self.gold_answers)


def describe_model(model: AnnotatorModel, gold_answers: int) -> str:
    """'β = 0.36 (the default; 7 gold answers so far, fitted at 10)', or the model's own description."""
    if model.source != DEFAULT or gold_answers == 0:
        return model.describe()
    due = (gold_answers // BETA_REFIT_EVERY + 1) * BETA_REFIT_EVERY
    return (f"β = {model.beta:.2f} (the default; {gold_answers} gold answer{'' if gold_answers == 1 else 's'} so far, "
            f"fitted at {due})")


def beta_source_words(model: AnnotatorModel, gold_answers: int) -> str:
    """Where a β comes from, in a few words (a plot title): 'the study', '12 gold answers', 'the default'."""
    if model.source == STUDY:
        return "the study"
    if model.source == DEFAULT:
        return "the default" + (f", {gold_answers} gold so far" if gold_answers else ", no gold answers yet")
    return f"{model.n} gold answer{'' if model.n == 1 else 's'}"


@dataclass(frozen=True)
class ShownQuery:
    """The query whose posterior is on screen: its state as stored, its status (the one rule) and why."""

    query_image_id: int
    state: QueryState
    status: str | None
    why: str


@dataclass(frozen=True)
class Summary:
    counts: Counts
    done_widths: dict  # 90% interval width -> how many queries whose labelling is over have it
    labellers: tuple[LabellerSummary, ...]  # by id
    shown: ShownQuery | None
    protocol: Protocol
    changed: tuple[int, ...] | None = ()  # the queries whose rows changed with this snapshot; None: any of them
    on_key_path: bool = False  # made by an answer or an undo: a view draws what is slow after the next pair

    def labeller(self, annotator_id: int | None) -> LabellerSummary | None:
        return next((lab for lab in self.labellers if lab.annotator_id == annotator_id), None)

    @property
    def finished_queries(self) -> int:
        return sum(self.done_widths.values())


class ProjectSummary:
    """The open project's Summary, kept current from its events; `subscribe(callback)` hears every change."""

    def __init__(self, db: sqlite_utils.Database, protocol: Protocol, events: EventBus,
                 state_of: Callable[[int], QueryState | None] | None = None):
        self.db = db
        self._counts = ProjectCounts(db, protocol)
        self._labellers: dict[int, LabellerSummary] = {}
        self._shown: tuple[int, QueryState, str] | None = None  # (query, state, why)
        self._listeners: list[Callable[[Summary], None]] = []
        self._state_of = state_of
        self._reload_labellers(self._counts.by_annotator)
        self.unsubscribe = events.subscribe(self.on_event, first=True)  # before every view

    # ------------------------------------------------------------------------------------------- reading
    @property
    def protocol(self) -> Protocol:
        return self._counts.protocol

    def summary(self, changed: tuple[int, ...] | None = (), on_key_path: bool = False) -> Summary:
        shown = None
        if self._shown is not None:
            query, state, why = self._shown
            shown = ShownQuery(query, state, self._counts.status_of(query), why)
        return Summary(self._counts.counts(), self._counts.done_widths(),
                       tuple(self._labellers[key] for key in sorted(self._labellers)), shown, self.protocol, changed,
                       on_key_path)

    def counts(self) -> Counts:
        return self._counts.counts()

    def status_of(self, query_image_id: int) -> str | None:
        return self._counts.status_of(query_image_id)

    def ids_with(self, *statuses: str) -> set[int]:
        return self._counts.ids_with(*statuses)

    def subscribe(self, callback: Callable[[Summary], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    # ------------------------------------------------------------------------------------------- changing
    def set_protocol(self, protocol: Protocol) -> None:
        self._counts.set_protocol(protocol)
        self._changed(None)

    def reload(self) -> None:
        """Everything read again (a project opened, a labeller added)."""
        self._counts.reload()
        self._reload_labellers(self._counts.by_annotator)
        self._refresh_shown()
        self._changed(None)

    def show_query(self, query_image_id: int | None, why: str = ON_SCREEN, state: QueryState | None = None) -> None:
        """Put a query's posterior on screen (None: none); its state is read now unless given."""
        if query_image_id is None:
            self._shown = None
        else:
            self._shown = (query_image_id, state if state is not None else self._read_state(query_image_id), why)
        self._changed(())

    def labeller_added(self, annotator_id: int) -> None:
        """A session started for this annotator, who may be new to the project."""
        if annotator_id not in self._labellers:
            self._reload_labellers()
        self._changed(())

    def on_event(self, event) -> None:
        if isinstance(event, (Answered, Undone)):
            self._counts.on_event(event)
            step = 1 if isinstance(event, Answered) else -1
            if event.annotator_id not in self._labellers:
                self._reload_labellers()
            else:
                labeller = self._labellers[event.annotator_id]
                self._labellers[event.annotator_id] = LabellerSummary(
                    labeller.annotator_id, labeller.name, labeller.answers + step,
                    labeller.gold_answers + (step if event.gold else 0), labeller.model)
            if event.state is not None:
                self._shown = (event.query_image_id, event.state,
                               JUST_ANSWERED if isinstance(event, Answered) else ANSWER_UNDONE)
            self._changed(() if event.query_image_id is None else (event.query_image_id,), on_key_path=True)
        elif isinstance(event, BetaChanged):
            self._counts.on_event(event)
            labeller = self._labellers.get(event.annotator_id)
            if labeller is None or event.model is None:
                self._reload_labellers()
            else:
                self._labellers[event.annotator_id] = LabellerSummary(
                    labeller.annotator_id, labeller.name, labeller.answers, labeller.gold_answers, event.model)
            self._refresh_shown("β changed")
            self._changed(event.query_ids)  # the rows of the queries recomputed (None: any)
        elif isinstance(event, QueriesChanged):
            self._counts.on_event(event)
            if event.query_ids is None or (self._shown is not None and self._shown[0] in event.query_ids):
                self._refresh_shown(event.reason.split(":")[0])
            self._changed(event.query_ids)
        elif isinstance(event, GenderCorrected):
            self._changed((event.image_id,))

    # ------------------------------------------------------------------------------------------- inside
    def _read_state(self, query_image_id: int) -> QueryState:
        state = None if self._state_of is None else self._state_of(query_image_id)
        return state if state is not None else query_state(self.db, query_image_id, int(get_setting(self.db, "age_max")))

    def _refresh_shown(self, why: str | None = None) -> None:
        if self._shown is not None:
            query, _state, old_why = self._shown
            self._shown = (query, self._read_state(query), why or old_why)

    def _reload_labellers(self, totals: dict | None = None) -> None:
        totals = answer_counts_by_annotator(self.db) if totals is None else totals
        self._labellers = {}
        for row in list_annotators(self.db):
            answers, gold = totals.get(row["id"], (0, 0))
            self._labellers[row["id"]] = LabellerSummary(row["id"], row["name"], answers + gold, gold, model_of(row))

    def _changed(self, changed: tuple[int, ...] | None, on_key_path: bool = False) -> None:
        if not self._listeners:
            return
        summary = self.summary(changed, on_key_path)
        for callback in list(self._listeners):
            callback(summary)
