"""One aligned face crop, scaled smoothly to the space it has (the label page's pair, the study's faces)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QSizePolicy, QWidget

from ageapp.ui.common.image_convert import crop_to_pixmap

CROP_SIZE = QSize(96, 112)  # width x height of an aligned crop
DISPLAY_SCALE = 3


class FaceView(QFrame):
    """Shows one crop scaled smoothly to the space it has, aspect kept, at least 2x and ideally 3x."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("faceFrame")
        self._pixmap: QPixmap | None = None
        self.setMinimumSize(CROP_SIZE * 2)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return CROP_SIZE * DISPLAY_SCALE + QSize(12, 12)

    def set_crop(self, crop: np.ndarray | None) -> None:
        self._pixmap = None if crop is None else crop_to_pixmap(crop)
        self.update()

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def image_rect(self) -> QRectF:
        """Where the face is drawn: the largest rectangle of the crop's aspect inside the margins."""
        area = QRectF(self.contentsRect()).adjusted(6, 6, -6, -6)
        if self._pixmap is None or self._pixmap.isNull() or area.isEmpty():
            return QRectF()
        size = self._pixmap.size().toSizeF().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        rect = QRectF(0, 0, size.width(), size.height())
        rect.moveCenter(area.center())
        return rect

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._pixmap is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(self.image_rect(), self._pixmap, QRectF(self._pixmap.rect()))
        painter.end()
