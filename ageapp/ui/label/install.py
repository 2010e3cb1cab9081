"""`install_label_page(window)`: the label page, its two docks, and what acts beside the pairs (gender
corrections, flagged queries sent back, Tools ▸ Predict genders… and Age range…, the large view of both faces)."""

from __future__ import annotations

from ageapp.ui.label.age_range import AgeRangeAction
from ageapp.ui.label.closer import LookCloser
from ageapp.ui.label.docks import DockSwitcher
from ageapp.ui.label.gender_prediction import GenderPrediction
from ageapp.ui.label.genders import GenderCorrections
from ageapp.ui.label.page import LABEL, LabelPage
from ageapp.ui.label.send_back import SendBack


def install_label_page(window) -> LabelPage:
    """Add the label page and its two docks to a MainWindow (ageapp.ui.shell.main_window)."""
    page = LabelPage(window.settings, events=window.session.events)
    window.add_page(LABEL, page, "Label")
    window.session.project_closing.connect(page.refits.finish)  # a running β refit lands before the file closes
    queue = window.add_dock("queue", "Queue", page.queue_panel)
    statistics = window.add_dock("statistics", "Project statistics", page.statistics_panel)
    placed = bool(queue.property("restored")) and bool(statistics.property("restored"))
    switcher = DockSwitcher(window, [queue, statistics], placed, LABEL)
    window.page_changed.connect(switcher.page_changed)
    switcher.page_changed(window.current_page_name())
    page.docks = switcher
    page.genders = GenderCorrections(window, page)  # G, the queue's Gender column, the notes under the faces
    page.send_back = SendBack(window, page)  # flagged queries back in the queue
    page.gender_prediction = GenderPrediction(window, page)  # Tools ▸ Predict genders…
    page.age_range = AgeRangeAction(window, page)  # Tools ▸ Age range…
    page.closer = LookCloser(page)  # hold Space, or click a face: both faces large
    return page
