"""Look closer: hold Space (or click a face) to see both faces large, side by side, over the whole window (its
docks too; the menu and status bars stay).

The answer keys do not change: the overlay never takes the keyboard focus, so ← / → / ↓ / ↑ / Backspace still
go to the comparison panel while it is shown, and the next pair comes up large at once. Releasing Space closes
it; after a click it stays until a click on it, Esc, or Space. The faces are first the panel's own crops scaled
up, then (a moment later, off the key press's path) the same framing cut from the original photos at three
times the pixels (ageapp.annotation.closer), when the photos are where the project says.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QWidget

from ageapp.annotation.closer import detail_crop
from ageapp.ui.common.image_convert import crop_to_pixmap
from ageapp.ui.common.keys import document_key

HINT = "Release Space to go back  ·  ← → older  ·  ↓ can't tell  ·  ↑ skip  ·  Backspace undo"
STICKY_HINT = "Click, Esc or Space to go back  ·  ← → older  ·  ↓ can't tell  ·  ↑ skip  ·  Backspace undo"
DETAIL_CACHE = 16  # photos' closer crops kept (the pair on screen and the last few)
MARGIN, GAP = 24, 24


class CloserView(QWidget):
    """The two faces as large as the page allows, on a dark ground, and a line of keys."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("closerView")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.pixmaps: tuple[QPixmap | None, QPixmap | None] = (None, None)
        self.hint = HINT
        self.hide()

    def set_faces(self, left: QPixmap | None, right: QPixmap | None) -> None:
        self.pixmaps = (left, right)
        self.update()

    def face_rects(self) -> list[QRectF]:
        """Where each face is drawn: two equal halves less the margins, the crop's aspect kept."""
        area = QRectF(self.rect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN - 28)
        half = (area.width() - GAP) / 2
        rects = []
        for index, pixmap in enumerate(self.pixmaps):
            box = QRectF(area.left() + index * (half + GAP), area.top(), half, area.height())
            if pixmap is None or pixmap.isNull() or box.isEmpty():
                rects.append(QRectF())
                continue
            size = pixmap.size().toSizeF().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            rect = QRectF(0, 0, size.width(), size.height())
            rect.moveCenter(box.center())
            rects.append(rect)
        return rects

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1d2329"))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for pixmap, rect in zip(self.pixmaps, self.face_rects()):
            if pixmap is not None and not rect.isEmpty():
                painter.drawPixmap(rect, pixmap, QRectF(pixmap.rect()))
        painter.setPen(QColor("#c9d1d9"))
        painter.drawText(QRectF(self.rect()).adjusted(0, 0, 0, -10), Qt.AlignmentFlag.AlignHCenter
                         | Qt.AlignmentFlag.AlignBottom, self.hint)
        painter.end()


class LookCloser(QObject):
    """Wires the closer view onto a LabelPage: Space held, a click on a face, the pair changing underneath."""

    def __init__(self, page, detail=detail_crop):
        super().__init__(page)
        self.page, self.detail = page, detail
        self.view = CloserView(page)
        self.sticky = False  # opened by a click: stays until closed
        self._cache: OrderedDict[tuple[int, int], QPixmap | None] = OrderedDict()  # by (project, image)
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.timeout.connect(self._show_detail)
        page.panel.installEventFilter(self)
        for face in (page.panel.left_view, page.panel.right_view):
            face.installEventFilter(self)
        self.view.installEventFilter(self)
        page.pair_shown.connect(self._pair_changed)
        document_key(page.panel, "Space (hold), or click a face", "Label",
                     "Look closer: both faces large (the answer keys still work)")

    def is_open(self) -> bool:
        return self.view.isVisible()

    def open(self, sticky: bool = False) -> None:
        if not self.page.panel.is_awaiting_answer():
            return  # no pair on screen
        self.sticky = sticky
        self.view.hint = STICKY_HINT if sticky else HINT
        host = self.page.window()
        if self.view.parentWidget() is not host:
            self.view.setParent(host)  # the window, known once the page is in it
            host.installEventFilter(self)
        self._place()
        self._show_panel_faces()
        self.view.show()
        self.view.raise_()
        self._detail_timer.start(0)

    def _place(self) -> None:
        """Over the host window, between its menu bar and its status bar."""
        host = self.view.parentWidget()
        area = host.rect()
        menu = host.menuBar() if hasattr(host, "menuBar") else None
        status = host.statusBar() if hasattr(host, "statusBar") else None
        if menu is not None and menu.isVisible():
            area.setTop(menu.geometry().bottom() + 1)
        if status is not None and status.isVisible():
            area.setBottom(status.geometry().top() - 1)
        self.view.setGeometry(area)

    def close(self) -> None:
        self.sticky = False
        self._detail_timer.stop()
        self.view.hide()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if watched is self.view.parentWidget() and kind == QEvent.Type.Resize:
            self._place()
        elif watched is self.page.panel and kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return self._key(event)
        elif watched is self.view and kind == QEvent.Type.MouseButtonPress:
            self.close()
            return True
        elif kind == QEvent.Type.MouseButtonPress and watched in (self.page.panel.left_view,
                                                                   self.page.panel.right_view):
            if self.is_open():
                self.close()
            else:
                self.open(sticky=True)
        return False

    def _key(self, event) -> bool:
        key = event.key()
        if key == Qt.Key.Key_Escape and self.is_open() and event.type() == QEvent.Type.KeyPress:
            self.close()
            return True
        if key != Qt.Key.Key_Space:
            return False
        if event.isAutoRepeat():
            return True  # a held key repeats: neither opens nor closes again
        if event.type() == QEvent.Type.KeyPress:
            self.open(sticky=False)
        else:
            self.close()
        return True

    def _pair_changed(self) -> None:
        if not self.is_open():
            return
        if not self.page.panel.is_awaiting_answer():
            self.close()
            return
        self._show_panel_faces()
        self._detail_timer.start(0)  # the closer crops after the new pair is painted, never before it

    def _show_panel_faces(self) -> None:
        panel = self.page.panel
        self.view.set_faces(panel.left_view.pixmap(), panel.right_view.pixmap())

    def _show_detail(self) -> None:
        task, db = self.page.task, self.page.db
        if task is None or db is None or not self.is_open():
            return
        left, right = ((task.query_image_id, task.reference_image_id) if task.query_side == "left"
                       else (task.reference_image_id, task.query_image_id))
        current = self.view.pixmaps
        self.view.set_faces(self._closer(db, left) or current[0], self._closer(db, right) or current[1])

    def _closer(self, db, image_id: int) -> QPixmap | None:
        key = (id(db), image_id)
        if key not in self._cache:
            crop = self.detail(db, image_id)
            self._cache[key] = None if crop is None else crop_to_pixmap(crop)
            while len(self._cache) > DETAIL_CACHE:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return self._cache[key]
