"""The study's first view: what the two tests are, who takes them, how many faces and pairs, Start and Results.

It holds no state of its own; the page reads the fields and connects the buttons.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ageapp.annotation.study import MIN_PAIRS_FOR_BETA, PAPER_BETA, PAPER_WITHIN_3, WITHIN_YEARS


class StudySetupView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        title = QLabel("User study: guessing ages against comparing them")
        title.setObjectName("comparisonPrompt")
        text = QLabel(
            "Test I shows one reference face at a time: type the age you guess and press Enter. Test II shows two "
            "faces: press ← or → for the one you think is older. No age is ever shown. The paper's volunteers "
            f"guessed {PAPER_WITHIN_3:.1%} of ages within ±{WITHIN_YEARS} years, but picked the older face 85% of "
            f"the time at a 5-year gap (β = {PAPER_BETA}). Your β can then weigh your labelling answers.")
        text.setWordWrap(True)
        self.person_edit = QLineEdit()
        self.person_edit.setPlaceholderText("your name (as when labelling)")
        self.guesses_spin = QSpinBox()
        self.guesses_spin.setRange(0, 500)
        self.guesses_spin.setValue(20)
        self.pairs_spin = QSpinBox()
        self.pairs_spin.setRange(0, 1000)
        self.pairs_spin.setValue(40)
        self.pairs_spin.setToolTip(f"β is fitted from {MIN_PAIRS_FOR_BETA} pairs or more")
        form = QFormLayout()
        form.addRow("Who takes the study", self.person_edit)
        form.addRow("Test I: faces to guess", self.guesses_spin)
        form.addRow("Test II: pairs to compare", self.pairs_spin)
        self.start_button = QPushButton("Start the study")
        self.start_button.setDefault(True)
        self.results_button = QPushButton("Results…")
        self.message = QLabel()
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.results_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addStretch(1)
