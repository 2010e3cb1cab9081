"""The project's counts, one source of truth: queries by status (new, in progress, finished, flagged, beyond
the references, sent back), answers and gold answers. The statistics dock, the queue and the session line all
show these, so they always agree.

One SQL pass when a project opens (or after a change to many queries); from then on each answer and undo
updates them from the event's own query state (ageapp.annotation.events), without a scan: the key press to the
next pair never waits for a recount. The 90% interval widths of the queries whose labelling is over (the
statistics dock's histogram) are kept the same way, so the histogram counts what the progress bar counts.

A query's status, the one rule (the queue's Status column uses it too): sent back (and still open) first, then
beyond the references (finished with most of its posterior beyond the references it can be shown), flagged
(finished with a 90% interval wider than OUTLIER_WIDTH), finished, in progress (answered, not finished), new.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import sqlite_utils

from ageapp.annotation.events import Answered, BetaChanged, QueriesChanged, Undone
from ageapp.core.selection import Protocol, protocol_finished
from ageapp.store.labelling import requeue_allowance
from ageapp.store.progress import answer_counts_by_annotator, query_progress_rows

NEW, IN_PROGRESS, FINISHED, FLAGGED, BEYOND, SENT_BACK = (
    "new", "in progress", "finished", "flagged", "beyond the references", "sent back")
STATUSES = (NEW, IN_PROGRESS, FINISHED, FLAGGED, BEYOND, SENT_BACK)
DONE = (FINISHED, FLAGGED, BEYOND)  # labelling over under the protocol (what "N of M finished" counts)


def query_status(comparisons: int, finished: bool, flagged: bool, beyond: int, sent_back: bool) -> str:
    """The status of one query (module docstring)."""
    if sent_back:
        return SENT_BACK
    if comparisons == 0:
        return NEW
    if not finished:
        return IN_PROGRESS
    if beyond:
        return BEYOND
    return FLAGGED if flagged else FINISHED


@dataclass(frozen=True)
class Counts:
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    answers: int = 0  # every answer that counts (not undone), gold pairs included
    gold_answers: int = 0  # of which on gold pairs

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def done(self) -> int:
        return sum(self.by_status[s] for s in DONE)

    def line(self) -> str:
        """'12 of 300 queries finished · 45 answers (5 gold)' — the same words wherever counts are shown."""
        gold = f" ({self.gold_answers:,} gold)" if self.gold_answers else ""
        return (f"{self.done:,} of {self.total:,} queries finished · {self.answers:,} "
                f"answer{'' if self.answers == 1 else 's'}{gold}")


class ProjectCounts:
    """Counts kept up to date by the project's events; `subscribe(callback)` hears every change."""

    def __init__(self, db: sqlite_utils.Database, protocol: Protocol):
        self.db, self.protocol = db, protocol
        self._status: dict[int, str] = {}
        self._width: dict[int, int] = {}  # the 90% interval width of each query that has answers
        self._by_status: Counter = Counter()
        self._done_widths: Counter = Counter()  # width -> queries whose labelling is over (DONE) with it
        self._answers = self._gold = 0
        self.by_annotator: dict[int, tuple[int, int]] = {}  # as of the last full count: (query answers, gold)
        self._listeners: list[Callable[[Counts], None]] = []
        self.reload()

    def subscribe(self, callback: Callable[[Counts], None]) -> None:
        self._listeners.append(callback)

    def reload(self, ids=None) -> None:
        """Count everything again (a project opened, the protocol changed, many queries changed), or only the
        queries of `ids` (a β recomputed a labeller's posteriors, a few queries sent back)."""
        rows = query_progress_rows(self.db, self.protocol, ids)
        if ids is None:
            self._status, self._width = {}, {}
            self._by_status, self._done_widths = Counter(), Counter()
        for row in rows:
            self._set(row[0], query_status(row[1], bool(row[2]), bool(row[3]), row[4], bool(row[5])),
                      int(row[6]) if row[1] > 0 else None)
        if ids is None:
            self.by_annotator = answer_counts_by_annotator(self.db)  # the summary's labellers read it too
            self._gold = sum(gold for _answers, gold in self.by_annotator.values())
            self._answers = sum(answers for answers, _gold in self.by_annotator.values()) + self._gold
        self._changed()

    def _set(self, query: int, status: str, width: int | None) -> None:
        """One query's status and width, with the tallies kept in step."""
        before, width_before = self._status.get(query), self._width.get(query)
        if before is not None:
            self._by_status[before] -= 1
            if before in DONE and width_before is not None:
                self._done_widths[width_before] -= 1
        self._status[query] = status
        self._by_status[status] += 1
        if width is None:
            self._width.pop(query, None)
        else:
            self._width[query] = width
            if status in DONE:
                self._done_widths[width] += 1

    def set_protocol(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.reload()

    def counts(self) -> Counts:
        return Counts({status: self._by_status[status] for status in STATUSES}, self._answers, self._gold)

    def status_of(self, query_image_id: int) -> str | None:
        return self._status.get(query_image_id)

    def ids_with(self, *statuses: str) -> set[int]:
        """The queries with one of these statuses (a scan: for checks, not for the key path)."""
        return {query for query, status in self._status.items() if status in statuses}

    def done_widths(self) -> dict[int, int]:
        """90% interval width (years) -> how many queries whose labelling is over (DONE) have it."""
        return {width: n for width, n in sorted(self._done_widths.items()) if n}

    def on_event(self, event) -> None:
        if isinstance(event, (Answered, Undone)):
            step = 1 if isinstance(event, Answered) else -1
            self._answers += step  # every answer; the gold ones counted again apart
            if event.gold:
                self._gold += step
            query = event.query_image_id
            if event.state is not None and query in self._status:
                self._set(query, self._status_from_state(query, event.state),
                          int(event.state.summary.ci_width) if event.state.comparisons else None)
            self._changed()
        elif isinstance(event, (QueriesChanged, BetaChanged)):
            self.reload(event.query_ids)

    def _status_from_state(self, query_image_id: int, state) -> str:
        summary, count = state.summary, len(state.comparisons)
        finished = protocol_finished(self.protocol, summary.ci_low, summary.ci_high, count, summary.beyond_mass)
        sent_back = requeue_allowance(self.db, query_image_id) is not None
        return query_status(count, finished, summary.flagged, summary.beyond, sent_back)

    def _changed(self) -> None:
        counts = self.counts()
        for callback in list(self._listeners):
            callback(counts)
