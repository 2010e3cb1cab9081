"""The study's two trial views: Test I (one face; type its age, Enter submits) and Test II (two faces; ← or →
for the older). Neither ever shows an age nor stores anything: they show what the page gives them and report
the answer (the age edit's returnPressed, `CompareView.side_chosen`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from ageapp.annotation.study import LEFT, RIGHT
from ageapp.ui.common.face_view import FaceView
from ageapp.ui.common.keys import key_shortcut

STOP_HINT = "Esc stops the study (the answers so far are kept)"


class GuessView(QWidget):
    """Test I: a face and the age typed for it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.header = _header()
        prompt = _centred("How old is this person? Type the age in years and press Enter.", "comparisonPrompt")
        self.face = FaceView()
        self.age_edit = QLineEdit()
        self.age_edit.setMaxLength(3)
        self.age_edit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.age_edit.setFixedWidth(90)
        self.error = _centred("", "hint")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.age_edit)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(prompt)
        layout.addWidget(self.face, stretch=1)
        layout.addLayout(row)
        layout.addWidget(self.error)
        layout.addWidget(_centred(STOP_HINT, "hint"))

    def show_face(self, header: str, crop: np.ndarray) -> None:
        self.header.setText(header)
        self.face.set_crop(crop)
        self.age_edit.clear()
        self.error.setText("")


class CompareView(QWidget):
    """Test II: two faces; ← or → picks the older (`side_chosen('left' | 'right')`)."""

    side_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.header = _header()
        prompt = _centred("Which face is older?  ← left · right →", "comparisonPrompt")
        self.left_face, self.right_face = FaceView(), FaceView()
        self.error = _centred("", "hint")
        faces = QHBoxLayout()
        faces.addWidget(self.left_face)
        faces.addWidget(self.right_face)
        for key, side in ((Qt.Key.Key_Left, LEFT), (Qt.Key.Key_Right, RIGHT)):
            key_shortcut(self, key, "Study", f"Test II: the {side} face is older",
                         lambda s=side: self.side_chosen.emit(s))
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(prompt)
        layout.addLayout(faces, stretch=1)
        layout.addWidget(self.error)
        layout.addWidget(_centred(STOP_HINT, "hint"))

    def show_pair(self, header: str, left: np.ndarray, right: np.ndarray) -> None:
        self.header.setText(header)
        self.left_face.set_crop(left)
        self.right_face.set_crop(right)
        self.error.setText("")


def _header() -> QLabel:
    return _centred("", "comparisonCaption")


def _centred(text: str, object_name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label
