"""The references' age span by the query's gender (store.posteriors.reference_age_ranges: what says whether a
query lies beyond the references), kept between answers. Over 10,000 references it takes about 12 ms, and each
answer needed it twice; it changes only when references or genders change: a gender corrected or predicted
(GenderCorrected, QueriesChanged, heard before any other listener reads it) or an import or a wider range, after
which the project is opened again with a new session."""

from __future__ import annotations

import sqlite_utils

from ageapp.annotation.events import EventBus, GenderCorrected, QueriesChanged
from ageapp.store.posteriors import reference_age_ranges


class ReferenceSpans:
    def __init__(self, db: sqlite_utils.Database, age_max: int, events: EventBus):
        self.db, self.age_max = db, age_max
        self._ranges: dict | None = None
        self.unsubscribe = events.subscribe(self._on_event, first=True)

    def get(self) -> dict:
        if self._ranges is None:
            self._ranges = reference_age_ranges(self.db, self.age_max)
        return self._ranges

    def _on_event(self, event) -> None:
        if isinstance(event, (GenderCorrected, QueriesChanged)):
            self._ranges = None
