"""Before a study's β replaces a person's β for labelling: the old and new estimates with their 95% intervals,
how many posteriors would be recomputed and what happens to their median 90% interval; confirm or cancel.

A β fitted from 30 pairs is uncertain (its interval may span a factor of ten), and it scales every answer the
person gave, so the change is shown before it is made (ageapp.annotation.beta.preview_adoption) and can be
undone afterwards (the results view's Undo button)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from ageapp.annotation.beta import Adoption
from ageapp.annotation.summary import describe_model

WIDE = 3.0  # an interval whose high end is this many times its low end is called wide


def adoption_text(adoption: Adoption) -> str:
    """The dialog's words (rich text): what the person has now, what the study says, what would change (the
    posteriors recomputed, their widths, and the finished queries it would reopen or the open ones it would
    finish under the project's protocol)."""
    lines = [f"<b>{adoption.person}</b> now: {describe_model(adoption.old, adoption.gold_answers)}.",
             f"The study's estimate: {adoption.new.describe()}."]
    if adoption.changed and adoption.median_width_before is not None:
        before, after = adoption.median_width_before, adoption.median_width_after
        lines.append(f"{adoption.changed:,} posterior{'' if adoption.changed == 1 else 's'} of "
                     f"{adoption.person}'s answers would be recomputed: their median 90% interval would go from "
                     f"{before:.0f} to {after:.0f} years.")
        effects = []
        if adoption.reopened:
            effects.append(f"{_queries(adoption.reopened)} now finished would need more comparisons again")
        if adoption.finished:
            effects.append(f"{_queries(adoption.finished)} not yet finished would be finished")
        lines.append(("Under the project's protocol, " + " and ".join(effects) + ".") if effects else
                     "No query would change between finished and unfinished.")
    elif adoption.changed:
        lines.append(f"{adoption.person}'s answers have all been undone: no posterior changes now.")
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


def _queries(n: int) -> str:
    return f"{n:,} {'query' if n == 1 else 'queries'}"


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
