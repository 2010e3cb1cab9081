"""The label page's posterior plot and the line above it, rendering the project summary's query on screen
(ageapp.annotation.summary.ShownQuery): its posterior, its comparisons, and its status by the one rule, so the
plot says "beyond the references" or "flagged" exactly when the queue and the dock count it so.

After an answer or an undo the plot is drawn once the next pair is painted (a zero timer: its axes take longer
to draw than the pair); any other change (a β, a pick in the queue) is drawn at once."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel

from ageapp.annotation.summary import ANSWER_UNDONE, JUST_ANSWERED, ShownQuery
from ageapp.store.comparisons import OUTCOME_OF_ANSWER
from ageapp.ui.common.posterior_plot import PosteriorPlot


class ShownPosterior(QObject):
    def __init__(self, plot: PosteriorPlot, caption: QLabel, parent: QObject | None = None):
        super().__init__(parent)
        self.plot, self.caption = plot, caption
        self.drawn: ShownQuery | None = None  # what the plot shows now
        self._wanted: ShownQuery | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._draw)

    @property
    def query_image_id(self) -> int | None:
        return None if self.drawn is None else self.drawn.query_image_id

    def render(self, shown: ShownQuery | None) -> None:
        if _key(shown) == _key(self._wanted if self.pending() else self.drawn):
            return
        self._wanted = shown
        if shown is not None and shown.why in (JUST_ANSWERED, ANSWER_UNDONE):
            self._timer.start()  # off the key's path
        else:
            self._timer.stop()
            self._draw()

    def pending(self) -> bool:
        return self._timer.isActive()

    def clear(self) -> None:
        self._timer.stop()
        self._wanted = self.drawn = None
        self.plot.clear()
        self.caption.setText("")

    def _draw(self) -> None:
        shown = self._wanted
        if shown is None:
            self.clear()
            return
        state = shown.state
        comparisons = [(age, OUTCOME_OF_ANSWER[answer]) for age, answer in state.comparisons]
        self.plot.show_posterior(state.posterior, state.summary, comparisons, no_answers=not state.comparisons,
                                 prior=state.prior, status=shown.status if state.comparisons else None)
        self.drawn = shown
        count = len(comparisons)
        status = f" · {shown.status}" if shown.status and state.comparisons else ""
        self.caption.setText(f"Posterior of query #{shown.query_image_id} ({shown.why}){status} · "
                             f"{count} answer{'' if count == 1 else 's'}")


def _key(shown: ShownQuery | None) -> tuple | None:
    """What makes two snapshots of the shown query draw alike (the state is compared by identity: the summary
    makes a new one whenever the query changes)."""
    return None if shown is None else (shown.query_image_id, id(shown.state), shown.status, shown.why)
