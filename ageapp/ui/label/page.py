"""The "label" page: the labeller's window. A pair of faces, the live posterior under it, and two docks, the
queue and the project statistics.

It wires existing pieces and keeps no domain logic: ageapp.annotation.session chooses the pairs and commits
each answer (with the query's posterior) before `answer` returns, so closing the window, a crash or a power
cut loses at most the answer being given. The keys are the comparison panel's: ← / → the older face,
↓ can't tell, ↑ skip the pair, Backspace undo (also across queries: the undone pair comes back, sides and
all, to be answered again).

What the views show (the caption's counts, the queue's rows, the statistics dock, the plot) is the project
summary's (ageapp.annotation.summary), kept current from the project's events in one place; the views render it.
Speed: after an answer the next pair is painted before the plot is drawn; the statistics' worker figures come
once the labeller pauses, and a β refit runs in a worker (beta_refit.py). benchmarks/annotate*.py time it.

The page assembles its pieces: header.py (who labels, the protocol, a problem that stops the labelling),
comparison.py (the pair), the posterior plot, and the queue and statistics docks (queue.py, statistics.py; shown
on this page only: docks.py). install_label_page wires on what acts beside the pairs: gender corrections
(genders.py), flagged queries sent back (send_back.py), and Tools ▸ Predict genders… (gender_prediction.py).
"""

from __future__ import annotations

import sqlite3
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from ageapp.annotation.counts import BEYOND
from ageapp.annotation.events import Answered, EventBus, Undone
from ageapp.annotation.labellers import labeller_to_ask
from ageapp.annotation.labelling_settings import LabellingSettings, load_labelling_settings, save_labelling_settings
from ageapp.annotation.model_prior import ModelPrior
from ageapp.annotation.rough_estimate import ModelRoughEstimate
from ageapp.annotation.session import AnnotationSession, Task
from ageapp.annotation.summary import ON_SCREEN, PICKED, ProjectSummary, Summary
from ageapp.core.selection import PAPER
from ageapp.store.annotators import list_annotators
from ageapp.ui.common.posterior_plot import PosteriorPlot
from ageapp.ui.label.beta_refit import BetaRefits
from ageapp.ui.label.comparison import ComparisonPanel
from ageapp.ui.label.dialogs import AnnotatorDialog, ProtocolDialog
from ageapp.ui.label.header import LabellingHeader
from ageapp.ui.label.queue import QueuePanel
from ageapp.ui.label.shown_posterior import ShownPosterior
from ageapp.ui.label.statistics import StatisticsPanel
from ageapp.ui.label.texts import (  # noqa: F401  (the page's words, read through here too)
    ALL_FINISHED,
    NO_ANNOTATOR,
    NO_QUERIES,
    NO_REFERENCES,
    NOTICES_CLEARED_BY_ANSWERS,
    beyond_notice,
)
from ageapp.store.db import project_path
from ageapp.ui.label.statistics_worker import wait_for_statistics_workers
from ageapp.ui.shell.backup_runner import BackupRunner
from ageapp.ui.shell.messages import show_warning
from ageapp.ui.shell.settings import AppSettings

LABEL = "label"
HISTORY_LIMIT = 500  # answered pairs kept to re-show on undo (older undos still work, with a fresh pair)
NOTICE_MS = 8000
BACKUP_NOTICE_MS = 60_000

class LabelPage(QWidget):
    pair_shown = Signal()  # a new pair is on screen (the benchmark and tests wait on it)

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None,
                 events: EventBus | None = None):
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.db = None
        self.session: AnnotationSession | None = None
        self.task: Task | None = None
        self.labelling = LabellingSettings()
        self.answers_this_session = 0
        self._history: list[Task] = []
        self._pair_words = ""  # "comparison k of at most M for this face", worked out when the pair is shown
        self._beyond_notice_of: int | None = None  # the query the notice says lies beyond the references
        # What happens in the project while it is labelled: the session (and genders.py, send_back.py, the
        # study page) emit on the window's bus; the project summary hears it first and keeps, in one place,
        # what every view shows (ageapp.annotation.summary); the views (caption, queue, statistics, plot)
        # render the summary's snapshots and decide nothing.
        self.events = events if events is not None else EventBus()
        self.summary: ProjectSummary | None = None

        self.header = LabellingHeader()
        self.header.change_annotator_requested.connect(self.change_annotator)
        self.header.protocol_requested.connect(self.edit_protocol)
        self.notice = QLabel()
        self.notice.setObjectName("hint")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)  # a long notice wraps: the window never grows past the screen for it
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(lambda: self._say("", 0))

        self.panel = ComparisonPanel()
        self.panel.answered.connect(self._on_answered)
        self.panel.skip_requested.connect(self._on_skip)
        self.panel.undo_requested.connect(self._on_undo)
        self.plot_caption = QLabel()
        self.plot_caption.setObjectName("hint")
        self.plot_caption.setWordWrap(True)
        self.plot = PosteriorPlot()
        self.plot.setMinimumHeight(200)
        self.shown = ShownPosterior(self.plot, self.plot_caption, self)

        self.queue_panel = QueuePanel()
        self.queue_panel.query_selected.connect(self.focus_query)
        self.statistics_panel = StatisticsPanel()
        self.events.subscribe(self._on_event)
        self.statistics_panel.listen(self.events)
        self.refits = BetaRefits(self)  # β refitted in a worker thread, never on a key press
        self.backups = BackupRunner(self)
        self.backups.failed.connect(lambda message: self._say(message, BACKUP_NOTICE_MS))

        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.panel, stretch=5)
        layout.addWidget(self.notice)
        layout.addWidget(self.plot_caption)
        layout.addWidget(self.plot, stretch=3)
        self._set_project_widgets(None)

    # The project ------------------------------------------------------------------------------------------

    @property
    def shown_query(self) -> int | None:
        """Whose posterior the plot shows."""
        return self.shown.query_image_id

    def set_project(self, db) -> None:
        """Called by the main window when a project opens (db) or closes (None)."""
        self._end_session()
        self.task, self._history = None, []
        self.db = db
        self._set_project_widgets(db)
        self.backups.set_project(None if db is None else project_path(db), db)
        if self.summary is not None:
            self.summary.unsubscribe()
            self.summary = None
        if db is None:
            self.queue_panel.set_project(None)
            self.statistics_panel.set_project(None)
            return
        self.labelling = load_labelling_settings(db)
        self.summary = ProjectSummary(db, self.labelling.protocol, self.events,
                                      state_of=lambda q: self._state_of(q) if self.session else None)
        for view in (self.queue_panel.show_summary, self.statistics_panel.show_summary, self._on_summary):
            self.summary.subscribe(view)
        self.plot.set_hidden_while_comparing(self.labelling.hide_posterior)
        self.header.show_protocol(self.labelling.describe())
        self.queue_panel.set_project(db, self.labelling.protocol)
        self.statistics_panel.show_summary(self.summary.summary(None))
        remembered = self.settings.annotator()
        ask, last = labeller_to_ask(db, remembered)
        name = self._ask_annotator(last, remembered) if ask else remembered
        if not name:
            self._show_problem(NO_ANNOTATOR, "Choose annotator…")
            self.statistics_panel.set_project(db, self.labelling.protocol)
            return
        self.start_labelling(name)

    def start_labelling(self, name: str) -> None:
        """Start (or restart) a session for this annotator on the open project."""
        self._end_session()
        rough = ModelRoughEstimate(self.db)  # the paper protocol's rough estimate, and the model prior's model
        prior = ModelPrior(self.db, rough)  # stores a query's model prior when first served (if the project wants it)
        self.session = AnnotationSession(self.db, name, self.labelling.protocol, gold_rate=self.labelling.gold_rate,
                                         rough_estimate=rough, prior_source=prior, events=self.events,
                                         refit_runner=self.refits.start)
        model_notice = rough.prepare() if self.labelling.protocol.policy == PAPER or prior.wanted() else ""
        self._history.clear()
        self.answers_this_session = 0
        self.header.show_annotator(name)
        self.summary.labeller_added(self.session.annotator_id)
        self.summary.show_query(None)
        self.statistics_panel.set_project(self.db, self.labelling.protocol, self.session.annotator_id)
        if len(self.session.pool.ids) == 0:
            self.session = None
            self._show_problem(NO_REFERENCES)
            return
        self._show_problem("")
        self._show_next()
        if self.task is not None and self.task.kind == "query":
            self.summary.show_query(self.task.query_image_id, ON_SCREEN)
        self.panel.set_undo_enabled(self.session.can_undo())
        if model_notice:
            self._say(model_notice, 4 * NOTICE_MS)

    def _end_session(self) -> None:
        """Before the session goes (another labeller, another project): its β refit lands first."""
        self.refits.finish()
        if self.session is not None:
            self.session.spans.unsubscribe()
            self.session = None

    def _state_of(self, query_image_id: int):
        """A query's state with the session's kept reference spans (None: the summary reads it itself)."""
        return self.session.state_of(query_image_id)

    def shutdown(self) -> None:
        """Before the window goes: no worker thread may outlive it."""
        self.refits.finish()
        self.backups.finish()
        self.statistics_panel.set_project(None)
        wait_for_statistics_workers()

    # Annotator and protocol ---------------------------------------------------------------------------------

    def change_annotator(self) -> None:
        if self.db is None:
            return
        name = self._ask_annotator()
        if name:
            self.start_labelling(name)
        else:
            self.panel.setFocus()

    def _ask_annotator(self, last: str | None = None, remembered: str | None = None) -> str | None:
        """Who is labelling? `last`: the project's last labeller, when it is not the one remembered here."""
        names = [row["name"] for row in list_annotators(self.db)]
        note = ""
        if last and remembered and last != remembered:
            note = f"The last answers in this project are {last}'s; on this computer {remembered} was labelling."
        elif last and not remembered:
            note = f"The last answers in this project are {last}'s."
        elif remembered:
            note = "This is a part of a team split: whose part is it?"
        dialog = AnnotatorDialog(names, remembered or last or self.settings.annotator() or "", self, note=note)
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        name = dialog.name() if accepted else ""
        dialog.deleteLater()
        if not name:
            return None
        self.settings.set_annotator(name)
        return name

    def edit_protocol(self) -> None:
        if self.db is None:
            return
        dialog = ProtocolDialog(self.labelling, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            self.panel.setFocus()
            return
        self.apply_labelling_settings(dialog.values())

    def apply_labelling_settings(self, labelling: LabellingSettings) -> None:
        """Remember the settings with the project and go on under them (the pair on screen is replaced)."""
        save_labelling_settings(self.db, labelling, self.events)  # a new prior: posteriors recomputed, views told
        self.labelling = labelling
        self.header.show_protocol(labelling.describe())
        self.plot.set_hidden_while_comparing(labelling.hide_posterior)
        self.queue_panel.model.set_protocol(labelling.protocol)
        self.statistics_panel.set_protocol(labelling.protocol)
        if self.summary is not None:
            self.summary.set_protocol(labelling.protocol)
        if self.session is not None:
            self.session.protocol = labelling.protocol
            self.session.gold_rate = labelling.gold_rate
            self.session.current_query = None
            self._show_next()

    # Pairs -------------------------------------------------------------------------------------------------

    def _show_next(self, task: Task | None = None, gold: bool = True) -> None:
        if self.session is None:
            return
        self.task = task if task is not None else self.session.next_task(gold=gold)
        if self.task is None:
            has_queries = self.session.has_queries()
            self.panel.clear(ALL_FINISHED if has_queries else NO_QUERIES)
            return
        self.task.shown_at = time.monotonic()  # the response time counts from now (also for a re-shown pair)
        left, right = self.task.crops_left_right
        k, most = self.session.comparison_number(self.task)  # a gold pair's numbers are a query's too
        self._pair_words = f"comparison {k} of at most {most} for this face"
        self.panel.show_pair(left, right, self._caption())
        # Painted now, before the posterior plot (its axes take longer to draw) and the queue catch up.
        self.panel.repaint()
        self.pair_shown.emit()

    def _caption(self) -> str:
        """Where this pair stands (comparison k of at most M for its face), the project's counts (the summary's,
        in the dock's own words) and this session's answers."""
        count = self.answers_this_session
        parts = [self._pair_words] if self._pair_words else []
        if self.summary is not None:
            parts.append(self.summary.counts().line().split(" · ")[0])
        parts.append(f"{count} answer{'' if count == 1 else 's'} this session · ↑ skips a pair you cannot see well")
        return " · ".join(parts)

    def _on_summary(self, summary: Summary) -> None:
        """The project changed: the caption's counts and the plot follow (the pair itself stays), and a notice
        that a query lies beyond the references goes once it no longer does (a β adopted, a gender changed)."""
        if self.task is not None and self.panel.is_awaiting_answer():
            self.panel.caption.setText(self._caption())
        self.shown.render(summary.shown)
        if self._beyond_notice_of is not None and self.summary.status_of(self._beyond_notice_of) != BEYOND:
            self._say("", 0)

    def _on_answered(self, choice: str) -> None:
        task, session = self.task, self.session
        if task is None or session is None:
            return
        if self.notice.text().startswith(NOTICES_CLEARED_BY_ANSWERS):
            self._say("", 0)  # before the answer: what it says of itself (beyond the references) stays
        try:
            session.answer(task, choice)
        except sqlite3.Error as error:  # the store's ProjectStorageError says what happened and what to do
            if getattr(self.db, "stopped", ""):  # the journal vanished: what was answered is saved, writing stopped
                show_warning(self, "Labelling stopped", f"{str(error)[:1].upper()}{str(error)[1:]}.",
                             "Close the project (File ▸ Close project) and open it again to go on.")
            else:
                show_warning(self, "Your answer was not saved", f"The project file refused the answer: {error}.",
                             "Once the disk has space and the project file can be written again (not read-only, "
                             "not held by another program), answer this pair again: it stays on screen.")
            self._show_next(task)
            return
        self._history = (self._history + [task])[-HISTORY_LIMIT:]
        self.answers_this_session += 1
        self._show_next()
        self.panel.set_undo_enabled(True)

    def _on_skip(self) -> None:
        if self.task is not None and self.session is not None:
            self.session.skip(self.task)
            self._say("Skipped: that pair leaves no trace and will not come back in this session.")
            self._show_next()

    def _on_undo(self) -> None:
        session = self.session
        if session is None or not session.can_undo():
            self.panel.set_undo_enabled(False)
            return
        previous = self._history.pop() if self._history else None
        state = session.undo()
        self.answers_this_session = max(0, self.answers_this_session - 1)
        same = previous is not None and (
            (previous.kind == "gold" and state is None)
            or (previous.kind == "query" and state is not None and previous.query_image_id == state.query_image_id)
        )
        if same:
            self._show_next(previous)  # the very pair, to be answered again
        else:
            self._history.clear()
            self._show_next()
        self._say("Answer undone: answer the pair again.")
        self.panel.set_undo_enabled(session.can_undo())

    def focus_query(self, query_image_id: int) -> None:
        """The labeller picked a query in the queue: its posterior on the plot and its pair on screen next (never
        a gold pair in between); if no reference is left for it, the page says so and goes on with the queue."""
        if self.session is None:
            return
        self.session.focus(query_image_id)
        self._show_next(gold=False)
        self.summary.show_query(query_image_id, PICKED)
        if self.summary.status_of(query_image_id) == BEYOND:
            self._say(beyond_notice(query_image_id, self.summary.summary().shown.state.summary),
                      beyond=query_image_id)
        elif self.task is None or self.task.query_image_id != query_image_id:
            self._say(f"Query #{query_image_id} has no reference left to compare with; going on with the queue.")

    def _on_event(self, event) -> None:
        """The page's own listening: a notice for an answer that puts its query beyond the references, and a
        backup may be due."""
        if isinstance(event, Answered):
            if event.state is not None and self.summary is not None \
                    and self.summary.status_of(event.query_image_id) == BEYOND:
                self._say(beyond_notice(event.query_image_id, event.state.summary), 3 * NOTICE_MS,
                          beyond=event.query_image_id)
            self.backups.answered()
        elif isinstance(event, Undone):
            self.backups.answered()

    # Widgets ------------------------------------------------------------------------------------------------

    def _set_project_widgets(self, db) -> None:
        self.header.set_project_open(db is not None)
        if db is None:
            self.panel.clear("Open a project to start labelling.")
            self.shown.clear()
            self._show_problem("")

    def _show_problem(self, text: str, button: str = "") -> None:
        self.header.show_problem(text, button)
        if text:
            self.panel.clear("")

    def _say(self, text: str, ms: int = NOTICE_MS, beyond: int | None = None) -> None:
        """A notice under the pair for `ms`; `beyond`: the query it says lies beyond the references."""
        self._beyond_notice_of = beyond
        self.notice.setText(text)
        if text:
            self._notice_timer.start(ms)
        else:
            self._notice_timer.stop()


from ageapp.ui.label.install import install_label_page  # noqa: E402,F401  (where the window has always found it)
