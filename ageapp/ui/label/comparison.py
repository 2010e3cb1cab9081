"""Two faces side by side and the question "which is older?", answered with the arrow keys.

The panel never knows any age: it shows two crops and a caption, and reports which side the annotator
chose. Mapping sides to "query older / younger" is the labelling page's business.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ageapp.annotation.gender import NEXT_GENDER_WORDS
from ageapp.ui.common.face_view import FaceView
from ageapp.ui.common.keys import key_shortcut

LEFT, RIGHT, UNSURE = "left", "right", "unsure"
SKIP = "skip"  # no answer at all: a pair the labeller cannot see well
GENDER = "gender"  # correct the gender of the face in the query's place (not an answer)

# (key, answer or "undo", what it does): the buttons, the shortcuts and the F1 sheet all read this. A button
# shows the words before the first colon (its tooltip and the F1 sheet the whole text).
KEY_BINDINGS: list[tuple[Qt.Key, str, str]] = [
    (Qt.Key.Key_Left, LEFT, "Left face is older"),
    (Qt.Key.Key_Right, RIGHT, "Right face is older"),
    (Qt.Key.Key_Down, UNSURE, "Can't tell"),
    (Qt.Key.Key_Up, SKIP, "Skip this pair"),
    (Qt.Key.Key_Backspace, "undo", "Undo the last answer"),
    (Qt.Key.Key_G, GENDER, f"Gender of the query's face: {NEXT_GENDER_WORDS}"),
]
_KEY_GLYPHS = {Qt.Key.Key_Left: "←", Qt.Key.Key_Right: "→", Qt.Key.Key_Down: "↓", Qt.Key.Key_Up: "↑",
               Qt.Key.Key_Backspace: "Backspace", Qt.Key.Key_G: "G"}


class ComparisonPanel(QWidget):
    """`show_pair(left, right, caption)`, then ← / → / ↓ answer, ↑ skips and Backspace undoes; G asks for the
    gender of the face in the query's place to change (`gender_requested`; the page knows which face that is).

    After an answer (or a skip) the panel ignores further answers until the next `show_pair` (a double
    press does not answer the next pair unseen); undo is always available.
    """

    answered = Signal(str)  # 'left' | 'right' | 'unsure'
    skip_requested = Signal()
    undo_requested = Signal()
    gender_requested = Signal()  # G: correct the query face's gender (the pair stays on screen)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._awaiting_answer = False

        self.prompt = QLabel("Which face is older?")
        self.prompt.setObjectName("comparisonPrompt")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel()
        self.caption.setObjectName("comparisonCaption")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)  # a long caption wraps rather than widening the window
        self.left_view = FaceView()
        self.right_view = FaceView()
        # A line under each face: what is known of its gender (set by the labelling page, "" hides it).
        self.left_note, self.right_note = QLabel(), QLabel()
        for note in (self.left_note, self.right_note):
            note.setObjectName("hint")
            note.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.buttons: dict[str, QPushButton] = {}
        for key, action, text in KEY_BINDINGS:
            button = QPushButton(f"{text.split(':')[0]}  ({_KEY_GLYPHS[key]})")
            button.setToolTip(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows must never move between buttons
            button.clicked.connect(lambda _=False, a=action: self._trigger(a))
            self.buttons[action] = button
            key_shortcut(self, key, "Label", text, lambda a=action: self._trigger(a))

        faces = QHBoxLayout()
        for view, note in ((self.left_view, self.left_note), (self.right_view, self.right_note)):
            column = QVBoxLayout()
            column.addWidget(view, stretch=1)
            column.addWidget(note)
            faces.addLayout(column)
        answers = QHBoxLayout()
        answers.addWidget(self.buttons[LEFT])
        answers.addWidget(self.buttons[UNSURE])
        answers.addWidget(self.buttons[RIGHT])
        undo_row = QHBoxLayout()
        undo_row.addStretch(1)
        undo_row.addWidget(self.buttons[SKIP])
        undo_row.addWidget(self.buttons[GENDER])
        undo_row.addWidget(self.buttons["undo"])
        undo_row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.caption)
        layout.addLayout(faces, stretch=1)
        layout.addLayout(answers)
        layout.addLayout(undo_row)
        self._set_answer_buttons_enabled(False)

    def show_pair(self, left_crop: np.ndarray, right_crop: np.ndarray, caption: str = "") -> None:
        """Show two crops (112x96 BGR uint8) and take the keyboard focus so that the keys work at once."""
        self.left_view.set_crop(left_crop)
        self.right_view.set_crop(right_crop)
        self.caption.setText(caption)
        self.set_face_notes("", "")
        self._awaiting_answer = True
        self._set_answer_buttons_enabled(True)
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def clear(self, message: str = "") -> None:
        """No pair on screen (e.g. the queue is empty); answers are ignored until the next pair."""
        self.left_view.set_crop(None)
        self.right_view.set_crop(None)
        self.caption.setText(message)
        self.set_face_notes("", "")
        self._awaiting_answer = False
        self._set_answer_buttons_enabled(False)

    def set_face_notes(self, left: str, right: str) -> None:
        """A short line under each face (its gender, say); "" leaves the line empty."""
        self.left_note.setText(left)
        self.right_note.setText(right)

    def set_undo_enabled(self, enabled: bool) -> None:
        """The labelling page says whether there is anything to undo (the key then does nothing)."""
        self.buttons["undo"].setEnabled(enabled)

    def is_awaiting_answer(self) -> bool:
        return self._awaiting_answer

    def mousePressEvent(self, event) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)  # a click on a face gives the keys back
        super().mousePressEvent(event)

    def _trigger(self, action: str) -> None:
        if action == "undo":
            if self.buttons["undo"].isEnabled():
                self.undo_requested.emit()
            return
        if not self._awaiting_answer:
            return
        if action == GENDER:  # not an answer: the pair stays, and so does the wait for its answer
            self.gender_requested.emit()
            return
        self._awaiting_answer = False
        self._set_answer_buttons_enabled(False)
        if action == SKIP:
            self.skip_requested.emit()
        else:
            self.answered.emit(action)

    def _set_answer_buttons_enabled(self, enabled: bool) -> None:
        for action in (LEFT, RIGHT, UNSURE, SKIP, GENDER):
            self.buttons[action].setEnabled(enabled)
