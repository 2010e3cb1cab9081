"""The buttons under the Train page's form (Start training, Pause / Resume, Cancel, Runs…) and the line above
them that says why Start is disabled, or that the settings are locked while a run goes.

It only shows the run's state (`show_state`); the page connects the buttons' clicks.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ageapp.ui.train.policy import IDLE, PAUSED, RUNNING

DISABLED_PRIMARY = "QPushButton:disabled { background: #b8c9d3; border-color: #b8c9d3; color: #f2f5f7; }"


class RunControls(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.start_button = QPushButton("Start training")
        self.start_button.setProperty("primary", True)
        self.start_button.setStyleSheet(DISABLED_PRIMARY)  # a primary button must not look clickable while disabled
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; a checkpoint is saved and the run can be resumed")
        self.runs_button = QPushButton("Runs…")
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.runs_button)
        self.form_hint = QLabel()
        self.form_hint.setObjectName("hint")
        self.form_hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.form_hint)
        layout.addLayout(buttons)

    def show_state(self, state: str, start_problem: str, has_project: bool) -> None:
        """The run's state (policy.py), why Start is disabled ('' when it is not), whether a project is open."""
        self.start_button.setEnabled(state == IDLE and start_problem == "")
        self.pause_button.setEnabled(state in (RUNNING, PAUSED))
        self.pause_button.setText("Resume" if state == PAUSED else "Pause")
        self.cancel_button.setEnabled(state in (RUNNING, PAUSED))
        self.runs_button.setEnabled(has_project)
        if state != IDLE:
            self.form_hint.setText("Settings are locked while a run is going.")
        else:
            self.form_hint.setText(start_problem)
