"""The two small dialogs of the label page: who is labelling, and the labelling protocol."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ageapp.annotation.labelling_settings import MAX_GOLD_RATE, LabellingSettings
from ageapp.core.prior import MODEL, UNIFORM
from ageapp.core.selection import ACTIVE, PAPER, Protocol

NO_GOLD = 1  # the gold spin box's minimum, shown as "never"
_POLICY_TEXT = {
    ACTIVE: "Active: the most informative reference each time",
    PAPER: "Paper: a fixed number of references around a rough estimate",
}
_PRIOR_TEXT = {
    UNIFORM: "Uniform: every age equally likely before the first answer (the paper's)",
    MODEL: "The age model's posterior for the face (the active model, else the default one)",
}


class AnnotatorDialog(QDialog):
    """"Who is labelling?": an editable list of the project's annotators; OK needs a name.

    Each annotator's answers are fitted separately (their own beta from gold pairs), so the name matters.
    """

    def __init__(self, known_names: list[str], current: str = "", parent: QWidget | None = None, note: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Who is labelling?")
        self.note = QLabel(note, self)  # why it is asked now (the project's last answers are someone else's ...)
        self.note.setWordWrap(True)
        self.note.setHidden(not note)
        self.names = QComboBox()
        self.names.setEditable(True)
        self.names.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.names.addItems(known_names)
        self.names.setCurrentText(current)
        self.names.lineEdit().setPlaceholderText("Your name or initials")
        self.names.lineEdit().selectAll()
        explanation = QLabel(
            "Your answers are kept under this name, and your own reliability is estimated from the gold "
            "pairs mixed into the task. Use the same name every time; pick yours from the list if it is there."
        )
        explanation.setObjectName("hint")
        explanation.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start labelling")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.names.editTextChanged.connect(self._update_ok)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(QLabel("Who is labelling?"))
        layout.addWidget(self.names)
        layout.addWidget(explanation)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)
        self._update_ok()

    def name(self) -> str:
        return self.names.currentText().strip()

    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.name()))


class ProtocolDialog(QDialog):
    """Policy and its numbers, the gold rate, the study option that hides the posterior, and the prior."""

    def __init__(self, settings: LabellingSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Labelling protocol")
        protocol = settings.protocol
        self.policy = QComboBox()
        for policy, text in _POLICY_TEXT.items():
            self.policy.addItem(text, policy)
        self.policy.setCurrentIndex(self.policy.findData(protocol.policy))

        self.comparisons = _spin(1, 50, protocol.comparisons, " references")
        self.target_width = _spin(0, 60, protocol.target_width, " years")
        self.max_comparisons = _spin(1, 100, protocol.max_comparisons, " references")
        paper_form, active_form = QFormLayout(), QFormLayout()
        paper_form.addRow("References per query:", self.comparisons)
        active_form.addRow("Stop when the 90% interval is at most:", self.target_width)
        active_form.addRow("…or after at most:", self.max_comparisons)
        self.policy_pages = QStackedWidget()
        for form in (active_form, paper_form):
            page = QWidget()
            page.setLayout(form)
            self.policy_pages.addWidget(page)
        self.policy.currentIndexChanged.connect(self._show_policy_page)

        # "1 in N pairs", N from 2 (MAX_GOLD_RATE); the minimum, 1, reads "never" (no gold pairs).
        self.gold_every = _spin(NO_GOLD, 100, _gold_every(settings.gold_rate), " pairs")
        self.gold_every.setSpecialValueText("never")
        self.gold_every.setPrefix("1 in ")
        self.hide_posterior = QCheckBox("Hide the live posterior while comparing (for studies where it could "
                                        "bias the labeller)")
        self.hide_posterior.setChecked(settings.hide_posterior)
        self.prior = QComboBox()
        for prior, text in _PRIOR_TEXT.items():
            self.prior.addItem(text, prior)
        self.prior_power = QDoubleSpinBox()
        self.prior_power.setRange(0.0, 1.0)
        self.prior_power.setSingleStep(0.05)
        self.prior_power.setDecimals(2)
        self.prior_power.setToolTip("The model's posterior to this power, renormalised: 1 trusts it fully, 0 is "
                                    "the uniform prior; lower values widen an overconfident model's opinion")
        self.prior.currentIndexChanged.connect(
            lambda: self.prior_power.setEnabled(self.prior.currentData() == MODEL))
        prior_hint = QLabel("With the model's prior, fewer comparisons reach the same interval. The labeller "
                            "never sees the model's estimate; the plot shows the prior faintly, and exports keep "
                            "the posterior from the answers alone too.")
        prior_hint.setObjectName("hint")
        prior_hint.setWordWrap(True)
        gold_hint = QLabel("Gold pairs show two faces of known age; your answers to them estimate your own "
                           "reliability (beta), which weighs your answers. You cannot tell them apart.")
        gold_hint.setObjectName("hint")
        gold_hint.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Reference choice:", self.policy)
        form.addRow(self.policy_pages)
        form.addRow("Gold check:", self.gold_every)
        form.addRow(gold_hint)
        form.addRow(self.hide_posterior)
        form.addRow("Prior:", self.prior)
        form.addRow("Trust in the model (power):", self.prior_power)
        form.addRow(prior_hint)
        note = QLabel("Saved with this project. Queries already finished keep their answers; a stricter "
                      "protocol asks the unfinished ones for more.")
        note.setObjectName("hint")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.set_values(LabellingSettings()))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)
        self.set_values(settings)
        self._show_policy_page()

    def set_values(self, settings: LabellingSettings) -> None:
        self.policy.setCurrentIndex(self.policy.findData(settings.protocol.policy))
        self.comparisons.setValue(settings.protocol.comparisons)
        self.target_width.setValue(settings.protocol.target_width)
        self.max_comparisons.setValue(settings.protocol.max_comparisons)
        self.gold_every.setValue(_gold_every(settings.gold_rate))
        self.hide_posterior.setChecked(settings.hide_posterior)
        self.prior.setCurrentIndex(self.prior.findData(settings.prior))
        self.prior_power.setValue(settings.prior_power)
        self.prior_power.setEnabled(settings.prior == MODEL)

    def values(self) -> LabellingSettings:
        every = self.gold_every.value()
        return LabellingSettings(
            Protocol(self.policy.currentData(), self.comparisons.value(), self.target_width.value(),
                     self.max_comparisons.value()),
            gold_rate=0.0 if every == NO_GOLD else min(1.0 / every, MAX_GOLD_RATE),
            hide_posterior=self.hide_posterior.isChecked(),
            prior=self.prior.currentData(),
            prior_power=round(self.prior_power.value(), 2),
        )

    def _show_policy_page(self) -> None:
        self.policy_pages.setCurrentIndex(0 if self.policy.currentData() == ACTIVE else 1)


def _gold_every(rate: float) -> int:
    return NO_GOLD if rate <= 0 else max(2, round(1 / rate))


def _spin(low: int, high: int, value: int, suffix: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin
