"""Look closer: Space held (or a click on a face) shows both faces large; the answer keys work while it is shown
and after, and what they record is what they record without it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from ageapp.ui.common.image_convert import crop_to_pixmap
from tests.ui.test_label_page import BACK, DOWN, LEFT, RIGHT, expected_answer, rows

SPACE = Qt.Key.Key_Space


def space(page, kind: QEvent.Type, repeat: bool = False) -> None:
    QApplication.sendEvent(page.panel, QKeyEvent(kind, SPACE, Qt.KeyboardModifier.NoModifier, "", repeat))


def answer_and_check(page, key) -> None:
    """Press an answer key; the row it records is the one the key means for the pair that was on screen."""
    task, before = page.task, len(rows(page))
    QTest.keyClick(page.panel, key)
    after = rows(page)
    assert len(after) == before + 1 and after[-1]["answer"] == expected_answer(task, key)
    assert after[-1]["query_image_id"] == task.query_image_id


def shown_images(view) -> list:
    return [pixmap.toImage() for pixmap in view.pixmaps]


def test_space_held_shows_the_faces_large_and_the_keys_still_answer(labelling):
    window, page = labelling
    closer = page.closer
    assert not closer.is_open()
    space(page, QEvent.Type.KeyPress)
    # over the whole window (the docks too), between the menu bar and the status bar
    assert closer.is_open() and closer.view.parentWidget() is window
    assert closer.view.width() == window.width() and closer.view.geometry().top() == window.menuBar().height()
    panel_faces = [page.panel.left_view.pixmap().toImage(), page.panel.right_view.pixmap().toImage()]
    assert shown_images(closer.view) == panel_faces  # first the crops on screen (the synthetic faces have no photo)
    left_rect, right_rect = closer.view.face_rects()
    assert left_rect.width() > 2 * page.panel.left_view.image_rect().width()  # large: over twice the panel's size
    assert left_rect.right() < right_rect.left()  # side by side, left stays left

    answer_and_check(page, LEFT)  # while held: an answer, and the next pair comes up large
    assert closer.is_open() and shown_images(closer.view) == [page.panel.left_view.pixmap().toImage(),
                                                             page.panel.right_view.pixmap().toImage()]
    space(page, QEvent.Type.KeyRelease, repeat=True)  # the key's auto-repeat: still held
    space(page, QEvent.Type.KeyPress, repeat=True)
    assert closer.is_open()
    answer_and_check(page, DOWN)
    space(page, QEvent.Type.KeyRelease)
    assert not closer.is_open()
    answer_and_check(page, RIGHT)  # after: as before
    count = len(rows(page))
    QTest.keyClick(page.panel, BACK)
    assert len(page.db.execute("SELECT * FROM undone").fetchall()) == 1 and len(rows(page)) == count


def test_a_click_on_a_face_keeps_it_open_until_a_click_esc_or_space(labelling):
    window, page = labelling
    closer = page.closer
    QTest.mouseClick(page.panel.right_view, Qt.MouseButton.LeftButton)
    assert closer.is_open() and closer.sticky and page.panel.hasFocus()
    answer_and_check(page, RIGHT)
    answer_and_check(page, LEFT)
    assert closer.is_open()
    QTest.mouseClick(closer.view, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert not closer.is_open()
    QTest.mouseClick(page.panel.left_view, Qt.MouseButton.LeftButton)
    QTest.keyClick(page.panel, Qt.Key.Key_Escape)
    assert not closer.is_open()
    answer_and_check(page, DOWN)


def test_the_photos_closer_crops_replace_the_small_ones_once_the_pair_is_painted(labelling, qtbot):
    window, page = labelling
    asked = []

    def closer_crop(db, image_id):
        asked.append(image_id)
        return np.full((336, 288, 3), 40 + len(asked), np.uint8)

    page.closer.detail = closer_crop
    space(page, QEvent.Type.KeyPress)
    task = page.task
    qtbot.waitUntil(lambda: len(asked) == 2)
    left, right = ((task.query_image_id, task.reference_image_id) if task.query_side == "left"
                   else (task.reference_image_id, task.query_image_id))
    assert asked == [left, right]
    assert page.closer.view.pixmaps[0].size().width() == 288
    assert shown_images(page.closer.view)[1] == crop_to_pixmap(np.full((336, 288, 3), 42, np.uint8)).toImage()
    space(page, QEvent.Type.KeyRelease)
    space(page, QEvent.Type.KeyPress)  # the same pair again: from the cache, not from the photos
    qtbot.wait(20)
    assert len(asked) == 2
    space(page, QEvent.Type.KeyRelease)


def test_nothing_opens_without_a_pair(make_window):
    window, page = make_window()
    space(page, QEvent.Type.KeyPress)
    assert not page.closer.is_open()
