"""The top of the label page: who is labelling and under which protocol, each with the button that changes it;
and under them a banner for a problem that stops the labelling (no annotator, no references) with what to do.

It shows what the page tells it; the page connects `change_annotator_requested` and `protocol_requested`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class LabellingHeader(QWidget):
    change_annotator_requested = Signal()  # "Change…", or the banner's button
    protocol_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.annotator_label = QLabel()
        self.annotator_label.setObjectName("annotatorName")
        self.change_annotator_button = _header_button("Change…", "Someone else is labelling")
        self.change_annotator_button.clicked.connect(self.change_annotator_requested)
        self.protocol_label = QLabel()
        self.protocol_label.setObjectName("hint")
        self.protocol_label.setWordWrap(True)  # a long description must not widen the page
        self.protocol_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.protocol_button = _header_button("Protocol…", "Reference choice, stopping rule, gold checks")
        self.protocol_button.clicked.connect(self.protocol_requested)
        header = QHBoxLayout()
        header.addWidget(self.annotator_label)
        header.addWidget(self.change_annotator_button)
        header.addSpacing(16)
        header.addWidget(self.protocol_label, stretch=1)
        header.addWidget(self.protocol_button)

        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner_button = QPushButton()
        self.banner_button.setVisible(False)
        self.banner_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.banner_button.clicked.connect(self.change_annotator_requested)
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.banner, stretch=1)
        banner_row.addWidget(self.banner_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addLayout(banner_row)

    def set_project_open(self, is_open: bool) -> None:
        for widget in (self.change_annotator_button, self.protocol_button):
            widget.setEnabled(is_open)
        if not is_open:
            self.annotator_label.setText("")
            self.protocol_label.setText("")

    def show_annotator(self, name: str) -> None:
        self.annotator_label.setText(f"Labelling as <b>{_escape(name)}</b>")

    def show_protocol(self, description: str) -> None:
        self.protocol_label.setText(description)

    def show_problem(self, text: str, button: str = "") -> None:
        """A problem that stops the labelling ('' hides it), with a button to fix it where there is one."""
        self.banner.setText(text)
        self.banner.setVisible(bool(text))
        self.banner_button.setText(button)
        self.banner_button.setVisible(bool(button))


def _header_button(text: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tooltip)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrow keys stay with the pair
    return button


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
