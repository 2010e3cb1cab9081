"""The label page's gender corrections, wired onto its widgets from outside:

- G in the comparison panel changes the gender of the face in the query's place (ageapp.annotation.gender
  .next_gender: a prediction becomes the other gender; a label cycles male → female → can't tell);
- the queue's Gender column is changed with G or its context menu;
- a line under each face of the pair says what is known of its gender (label, prediction and its probability,
  unknown); it follows the project's events (a correction, genders predicted) and each new pair.

Every correction is a label from then on, recorded with the annotator's name (table gender_corrections).
"""

from __future__ import annotations

import sqlite3

from ageapp.annotation.events import GenderCorrected, QueriesChanged
from ageapp.annotation.gender import gender_info, next_gender, set_gender_label
from ageapp.ui.label.page_action import NOT_WRITABLE, PageAction
from ageapp.ui.shell.messages import show_warning


class GenderCorrections(PageAction):
    def __init__(self, window, page):
        super().__init__(window, page)
        page.panel.gender_requested.connect(self.correct_query_gender)
        page.pair_shown.connect(self.show_face_genders)
        page.queue_panel.gender_change_requested.connect(self.set_gender)
        page.events.subscribe(self._on_event)

    def _on_event(self, event) -> None:
        if isinstance(event, (GenderCorrected, QueriesChanged)):
            self.show_face_genders()

    def show_face_genders(self) -> None:
        """The line under each face of the pair on screen: what is known of its gender."""
        task, db = self.page.task, self.page.db
        if task is None or db is None:
            return
        query, reference = (gender_info(db, task.query_image_id).describe(),
                            gender_info(db, task.reference_image_id).describe())
        left, right = (query, reference) if task.query_side == "left" else (reference, query)
        self.page.panel.set_face_notes(left, right)

    def correct_query_gender(self) -> None:
        """G on the pair: the face in the query's place gets its next gender (a label from now on)."""
        task, db = self.page.task, self.page.db
        if task is None or db is None:
            return
        self.set_gender(task.query_image_id, next_gender(gender_info(db, task.query_image_id)))
        self.page.panel.setFocus()

    def set_gender(self, image_id: int, gender: int | None) -> bool:
        db = self.page.db
        if db is None:
            return False
        try:
            if self.page.session is not None:
                info = self.page.session.correct_gender(image_id, gender)
            else:
                info = set_gender_label(db, image_id, gender, None)
                self.page.events.emit(GenderCorrected(image_id, info))
        except sqlite3.Error as error:
            show_warning(self.window, "The gender was not changed", f"The project file refused it: {error}.",
                         NOT_WRITABLE)
            return False
        self._say(f"Face #{image_id}: {info.describe()}. References of the other gender are no longer chosen for it"
                  if info.gender is not None else
                  f"Face #{image_id}: gender unknown (can't tell): it is compared with references of either gender")
        return True
