"""The annotator and protocol dialogs."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from ageapp.annotation.labelling_settings import LabellingSettings
from ageapp.core.selection import Protocol
from ageapp.ui.label.dialogs import AnnotatorDialog, ProtocolDialog


def test_the_annotator_dialog_needs_a_name(qtbot):
    dialog = AnnotatorDialog(["alice", "bo"], "")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    dialog.names.setCurrentText("   ")
    assert not ok.isEnabled()
    dialog.names.setCurrentText(" cy ")
    assert ok.isEnabled() and dialog.name() == "cy"
    assert [dialog.names.itemText(i) for i in range(dialog.names.count())] == ["alice", "bo"]


def test_the_annotator_dialog_offers_the_remembered_name(qtbot):
    dialog = AnnotatorDialog(["alice", "bo"], "bo")
    qtbot.addWidget(dialog)
    assert dialog.name() == "bo" and dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_the_protocol_dialog_round_trips_and_restores_defaults(qtbot):
    start = LabellingSettings(Protocol("paper", comparisons=8, target_width=5, max_comparisons=20), gold_rate=0.25,
                              hide_posterior=True)
    dialog = ProtocolDialog(start)
    qtbot.addWidget(dialog)
    assert dialog.values() == start
    assert dialog.policy_pages.currentIndex() == 1  # the paper protocol's numbers
    dialog.gold_every.setValue(dialog.gold_every.minimum())
    assert dialog.gold_every.text() == "never" and dialog.values().gold_rate == 0.0
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog.values() == LabellingSettings()
    assert dialog.policy_pages.currentIndex() == 0 and dialog.gold_every.text() == "1 in 10 pairs"


@pytest.mark.parametrize(("every", "rate"), [(2, 0.5), (10, 0.1), (100, 0.01)])
def test_gold_every_n_pairs_is_a_rate(qtbot, every, rate):
    dialog = ProtocolDialog(LabellingSettings())
    qtbot.addWidget(dialog)
    dialog.gold_every.setValue(every)
    assert dialog.values().gold_rate == pytest.approx(rate)
