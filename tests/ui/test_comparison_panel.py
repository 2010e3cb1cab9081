"""The comparison panel: the keys and buttons emit the right signals; crops are shown as given."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ageapp.ui.label.comparison import ComparisonPanel
from ageapp.ui.common.image_convert import crop_to_qimage


def make_crop(bgr: tuple[int, int, int]) -> np.ndarray:
    crop = np.empty((112, 96, 3), dtype=np.uint8)
    crop[:] = bgr
    crop[0, 0] = (255, 255, 255)  # a white corner pixel: checks orientation
    return crop


@pytest.fixture
def panel(qtbot) -> ComparisonPanel:
    widget = ComparisonPanel()
    qtbot.addWidget(widget)
    with qtbot.waitActive(widget):
        widget.show()
        widget.activateWindow()
    widget.show_pair(make_crop((0, 0, 200)), make_crop((200, 0, 0)), "query 1 of 10")
    return widget


@pytest.mark.parametrize(
    ("key", "expected"),
    [(Qt.Key.Key_Left, "left"), (Qt.Key.Key_Right, "right"), (Qt.Key.Key_Down, "unsure")],
)
def test_arrow_keys_answer(qtbot, panel, key, expected):
    with qtbot.waitSignal(panel.answered, timeout=1000) as blocker:
        qtbot.keyClick(panel, key)
    assert blocker.args == [expected]


def test_backspace_asks_for_undo(qtbot, panel):
    answers = []
    panel.answered.connect(answers.append)
    with qtbot.waitSignal(panel.undo_requested, timeout=1000):
        qtbot.keyClick(panel, Qt.Key.Key_Backspace)
    assert answers == []


def test_keys_work_when_focus_is_on_a_child(qtbot, panel):
    panel.left_view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    panel.left_view.setFocus()
    with qtbot.waitSignal(panel.answered, timeout=1000) as blocker:
        qtbot.keyClick(panel.left_view, Qt.Key.Key_Right)
    assert blocker.args == ["right"]


def test_one_answer_per_pair(qtbot, panel):
    answers = []
    panel.answered.connect(answers.append)
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    qtbot.keyClick(panel, Qt.Key.Key_Left)  # a double press must not answer a pair not yet shown
    qtbot.mouseClick(panel.buttons["right"], Qt.MouseButton.LeftButton)
    assert answers == ["left"]
    panel.show_pair(make_crop((1, 2, 3)), make_crop((4, 5, 6)), "query 2 of 10")
    qtbot.keyClick(panel, Qt.Key.Key_Down)
    assert answers == ["left", "unsure"]


def test_buttons_answer_and_name_their_keys(qtbot, panel):
    assert "(←)" in panel.buttons["left"].text() and "(→)" in panel.buttons["right"].text()
    assert "(↓)" in panel.buttons["unsure"].text() and "Backspace" in panel.buttons["undo"].text()
    with qtbot.waitSignal(panel.answered, timeout=1000) as blocker:
        qtbot.mouseClick(panel.buttons["unsure"], Qt.MouseButton.LeftButton)
    assert blocker.args == ["unsure"]
    with qtbot.waitSignal(panel.undo_requested, timeout=1000):
        qtbot.mouseClick(panel.buttons["undo"], Qt.MouseButton.LeftButton)


def test_undo_disabled_does_nothing(qtbot, panel):
    undos = []
    panel.undo_requested.connect(lambda: undos.append(1))
    panel.set_undo_enabled(False)
    qtbot.keyClick(panel, Qt.Key.Key_Backspace)
    assert undos == []


def test_cleared_panel_ignores_answers(qtbot, panel):
    answers = []
    panel.answered.connect(answers.append)
    panel.clear("All queries are labelled.")
    qtbot.keyClick(panel, Qt.Key.Key_Left)
    assert answers == [] and panel.caption.text() == "All queries are labelled."
    assert panel.left_view.pixmap() is None


def test_crops_are_shown_as_given_and_scaled_with_their_aspect(panel):
    left, right = panel.left_view.pixmap().toImage(), panel.right_view.pixmap().toImage()
    assert (left.width(), left.height()) == (96, 112)
    assert QColor(left.pixel(5, 5)) == QColor(200, 0, 0)  # BGR (0, 0, 200) is red
    assert QColor(right.pixel(5, 5)) == QColor(0, 0, 200)
    assert QColor(left.pixel(0, 0)) == QColor(255, 255, 255)
    rect = panel.left_view.image_rect()
    assert rect.width() / rect.height() == pytest.approx(96 / 112, rel=1e-6)
    assert rect.width() >= 2 * 96
    assert panel.caption.text() == "query 1 of 10"


def test_crop_to_qimage_shares_the_array_memory():
    crop = make_crop((10, 20, 30))
    image = crop_to_qimage(crop)
    crop[50, 40] = (0, 255, 0)  # written after wrapping: visible through the image, so nothing was copied
    assert QColor(image.pixel(40, 50)) == QColor(0, 255, 0)


def test_a_wrong_crop_is_refused_with_its_shape(panel):
    with pytest.raises(ValueError, match=r"shape \(112, 96\) dtype float64"):
        panel.show_pair(np.zeros((112, 96)), make_crop((0, 0, 0)))
