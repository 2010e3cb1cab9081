"""What happens in a project while it is labelled, told to whoever listens (napari's habit: the pure model emits,
views listen and keep no state of their own). No Qt: the window subscribes its views to the open project's
EventBus, and the domain (the session, a gender correction, sending queries back, adopting a β) emits.

Events carry what a view needs to update itself without asking the database for everything again: the query's
new state (its posterior and summary) for an answer or an undo, the face whose gender changed, the queries
whose status may have changed (None: any of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Answered:
    """An answer was committed. state: the query's new QueryState (None for a gold pair)."""

    annotator_id: int
    gold: bool
    state: object | None = None
    query_image_id: int | None = None


@dataclass(frozen=True)
class Undone:
    """An answer was withdrawn. state: the query's QueryState after it (None for a gold pair)."""

    annotator_id: int
    gold: bool
    state: object | None = None
    query_image_id: int | None = None


@dataclass(frozen=True)
class GenderCorrected:
    image_id: int
    info: object  # annotation.gender.GenderInfo


@dataclass(frozen=True)
class QueriesChanged:
    """Many queries may have changed at once (sent back, genders predicted, posteriors recomputed)."""

    reason: str
    query_ids: tuple[int, ...] | None = None  # None: any query


@dataclass(frozen=True)
class BetaChanged:
    """An annotator's β changed and every posterior their answers enter was recomputed."""

    annotator_id: int
    beta: float
    recomputed: int
    model: object | None = None  # the new ageapp.core.beta_model.AnnotatorModel (its interval and source)
    query_ids: tuple[int, ...] | None = None  # the queries whose posteriors were recomputed (None: any)


class EventBus:
    """Subscribers are called in order, synchronously, in the emitting thread (the GUI thread in the app)."""

    def __init__(self):
        self._subscribers: list[Callable[[object], None]] = []

    def subscribe(self, callback: Callable[[object], None], first: bool = False) -> Callable[[], None]:
        """Add a listener (`first`: before every other, for a cache the others read); returns its remover."""
        self._subscribers.insert(0, callback) if first else self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def emit(self, event: object) -> None:
        for callback in list(self._subscribers):
            callback(event)
