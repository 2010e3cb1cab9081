"""Flagged queries back in the queue: the queue's "Send flagged back" button and its context menu's "Send back"
(ageapp.store.requeue). A query is flagged once it is finished with a 90% interval wider than 15 years; sent
back, it is served again (to another labeller first, where there is one) until the interval is narrow enough.
"""

from __future__ import annotations

import sqlite3

from ageapp.annotation.events import QueriesChanged
from ageapp.store.requeue import send_back, send_flagged_back
from ageapp.ui.label.page_action import NOT_WRITABLE, PageAction
from ageapp.ui.shell.messages import show_information, show_warning


class SendBack(PageAction):
    def __init__(self, window, page):
        super().__init__(window, page)
        page.queue_panel.send_back_requested.connect(self.send_back)
        page.queue_panel.send_flagged_back_requested.connect(self.send_flagged_back)

    def send_flagged_back(self) -> int:
        return self._send(None)

    def send_back(self, query_ids: list) -> int:
        return self._send([int(q) for q in query_ids])

    def _send(self, query_ids: list[int] | None) -> int:
        page, db = self.page, self.page.db
        if db is None:
            return 0
        try:
            if query_ids is None:
                count = send_flagged_back(db, page.labelling.protocol, annotator_id=self._annotator_id())
            else:
                count = send_back(db, query_ids, annotator_id=self._annotator_id())
        except sqlite3.Error as error:
            show_warning(self.window, "Nothing was sent back", f"The project file refused it: {error}.", NOT_WRITABLE)
            return 0
        if count == 0:
            show_information(self.window, "Send flagged back",
                             "No flagged query is waiting to be sent back.",
                             "A query is flagged once it is finished with a 90% interval wider than 15 years "
                             "(“Flagged only” in the queue lists them); one already sent back is served until it "
                             "is resolved or has had its extra comparisons.")
            return 0
        page.events.emit(QueriesChanged("sent back", None if query_ids is None else tuple(query_ids)))
        noun = "query" if count == 1 else "queries"
        self._say(f"Sent {count} flagged {noun} back: they are served again (to another labeller first, where "
                  "there is one) until the 90% interval is at most 15 years")
        return count
