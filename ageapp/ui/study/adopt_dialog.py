"""Before a study's β replaces a person's β for labelling: the old and new estimates with their 95% intervals,
how many posteriors would be recomputed and what happens to their median 90% interval; confirm or cancel.

A β fitted from 30 pairs is uncertain (its interval may span a factor of ten), and it scales every answer the
person gave, so the change is shown before it is made (ageapp.annotation.beta.preview_adoption) and can be
undone afterwards (the results view's Undo button)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from ageapp.annotation.beta import Adoption

WIDE = 3.0  # an interval whose high end is this many times its low end is called wide


def adoption_text(adoption: Adoption) -> str:
    """The dialog's words (rich text): what the person has now, what the study says, what would change."""
    lines = [f"<b>{adoption.person}</b> now: {adoption.old.describe()}.",
             f"The study's estimate: {adoption.new.describe()}."]
    if adoption.changed:
        before, after = adoption.median_width_before, adoption.median_width_after
        lines.append(f"{adoption.changed:,} posterior{'' if adoption.changed == 1 else 's'} of "
                     f"{adoption.person}'s answers would be recomputed: their median 90% interval would go from "
                     f"{before:.0f} to {after:.0f} years.")
    else:
        lines.append(f"{adoption.person} has answered no query yet: no posterior changes now; their answers "
                     "will be weighed with this β from the first one.")
    interval = adoption.new.interval
    if interval is not None and interval[1] > WIDE * interval[0]:
        lines.append(f"The study's 95% interval is wide ({interval[0]:.2f}–{interval[1]:.2f}): more pairs in the "
                     "study, or gold pairs while labelling, would pin β down. Posteriors take this uncertainty "
                     "into account.")
    lines.append("Gold pairs met while labelling refit β later. You can undo this on the results page.")
    return "<br><br>".join(lines)


class AdoptBetaDialog(QDialog):
    def __init__(self, adoption: Adoption, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Use this β for labelling?")
        self.text = QLabel(adoption_text(adoption))
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setMinimumWidth(460)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = buttons.addButton(f"Use β = {adoption.new.beta:.2f}", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
