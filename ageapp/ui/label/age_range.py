"""Tools ▸ Age range…: the project's age range and the references' span, and widening it (every posterior
recomputed over the new range: ageapp.annotation.age_range). The label page then starts again on the new
range (its session, queue and counts), so nothing shows the old one."""

from __future__ import annotations

import sqlite3

from PySide6.QtWidgets import QInputDialog

from ageapp.annotation.age_range import AGE_MAX_LIMIT, AgeRangeError, age_range, widen_age_range
from ageapp.annotation.events import QueriesChanged
from ageapp.ui.label.page_action import NOT_WRITABLE, PageAction
from ageapp.ui.shell.menus import tools_menu
from ageapp.ui.shell.messages import show_information, show_warning


class AgeRangeAction(PageAction):
    def __init__(self, window, page):
        super().__init__(window, page)
        self.action = tools_menu(window).addAction("Age &range…")
        self.action.setToolTip("The ages every posterior covers, and the references' ages; widen the range")
        self.action.triggered.connect(lambda _checked=False: self.ask())
        self.action.setEnabled(window.session.is_open())
        window.session.project_opened.connect(lambda _db: self.action.setEnabled(True))
        window.session.project_closed.connect(lambda: self.action.setEnabled(False))

    def ask(self) -> int:
        """Show the range and ask for a wider maximum; returns how many posteriors were recomputed."""
        db = self.page.db
        if db is None:
            return 0
        current = age_range(db)
        age_max, ok = QInputDialog.getInt(
            self.window, "Age range", f"Now: {current.describe()}.\n\nWiden the range to ages 0 to:",
            current.age_max, current.age_max, AGE_MAX_LIMIT)
        return self.widen(age_max) if ok else 0

    def widen(self, age_max: int) -> int:
        db = self.page.db
        before = age_range(db).age_max
        try:
            recomputed = widen_age_range(db, age_max)
        except AgeRangeError as error:
            show_warning(self.window, "The age range was not changed", str(error)[0].upper() + str(error)[1:] + ".")
            return 0
        except sqlite3.Error as error:
            show_warning(self.window, "The age range was not changed", f"The project file refused it: {error}.",
                         NOT_WRITABLE)
            return 0
        if age_range(db).age_max != before:
            self.page.set_project(db)  # the session, queue and counts start again on the new range
            self.page.events.emit(QueriesChanged("age range widened"))
            show_information(self.window, "Age range", f"Now: {age_range(db).describe()}.",
                             f"{recomputed:,} posterior{'' if recomputed == 1 else 's'} recomputed over the new range.")
        return recomputed
