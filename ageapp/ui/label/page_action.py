"""What the label page's add-on actions (genders.py, send_back.py, gender_prediction.py) share: they are wired
onto the page from outside, say what they did in the window's status bar, and word a refused write one way."""

from __future__ import annotations

from PySide6.QtCore import QObject

STATUS_MS = 6000
NOT_WRITABLE = ("Open the project for writing (not read-only, not held by another program, with space on the "
                "disk) and try again.")


class PageAction(QObject):
    def __init__(self, window, page):
        super().__init__(page)
        self.window, self.page = window, page
        self.last_message = ""  # the last status-bar message (tests read it)

    def _annotator_id(self) -> int | None:
        return None if self.page.session is None else self.page.session.annotator_id

    def _say(self, text: str) -> None:
        self.last_message = text
        self.window.statusBar().showMessage(text, STATUS_MS)
