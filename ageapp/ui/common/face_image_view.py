"""A photo or video frame with a box and a label over each face; a click on a face selects it.

The graphics items are made once and reused frame after frame (only their geometry and text change), so a
live view at 30 frames a second costs one pixmap copy and a few setRect calls. Labels keep their screen size
whatever the zoom, and each goes where it covers no other face and no other label when such a place exists
(above its box, below it, inside its top edge: `place_labels`). Hovering a face shows its mark's tooltip. `render_image()` gives the frame with its overlay at the frame's own resolution (the
snapshot); a message (no camera, nothing opened yet) is painted over the view but never into a snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QSizePolicy,
    QWidget,
)

from ageapp.ui.common.image_convert import crop_to_pixmap

BACKGROUND = QColor("#2b2f33")
SELECTED_COLOUR = QColor("#ffd23f")
POOR_COLOUR = QColor("#8c959d")  # a face too poor to judge: grey, none of the palette's colours
# Colours told apart at a glance on photos; track ids cycle through them.
PALETTE = [QColor(c) for c in ("#4aa3df", "#e8684a", "#5ac18e", "#b07ad9", "#f29b38", "#3fc1c9", "#e36fa8")]


@dataclass
class FaceMark:
    box: tuple[float, float, float, float]  # x, y, width, height in the shown image's pixels
    text: str
    colour: QColor
    selected: bool = False
    tooltip: str = ""  # shown when the pointer rests on the face or its label


def _overlap(a: tuple, b: tuple) -> float:
    """Area shared by two (x, y, width, height) rectangles."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)


def place_labels(boxes: list[tuple], sizes: list[tuple[float, float]], bounds: tuple[float, float]
                 ) -> list[tuple[float, float]]:
    """Top-left corners for labels of the given sizes (width, height), one per box, all in image pixels:
    each tries above its box, below it, inside its top edge, each from the box's left edge, its right edge and its
    middle, and takes the first that covers no other box and no label placed before it (else the one covering
    least).
    Labels stay inside `bounds` (image width, height) where they fit. Larger boxes are placed first."""
    width_max, height_max = bounds
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][2] * boxes[i][3], reverse=True)
    placed: dict[int, tuple] = {}
    for i in order:
        x, y, w, h = boxes[i]
        tw, th = sizes[i]
        candidates = []
        for left in (x, x + w - tw, x + (w - tw) / 2):
            left = min(max(0.0, left), max(0.0, width_max - tw))
            for top in (y - th, y + h, y):
                if top >= 0 and top + th <= height_max or top == y:
                    candidates.append((left, top, tw, th))
        best, best_cost = candidates[0], None
        for candidate in candidates:
            cost = sum(_overlap(candidate, boxes[j]) for j in range(len(boxes)) if j != i)
            cost += 2 * sum(_overlap(candidate, other) for other in placed.values())
            if best_cost is None or cost < best_cost:
                best, best_cost = candidate, cost
            if cost == 0:
                break
        placed[i] = best
    return [placed[i][:2] for i in range(len(boxes))]


def palette_colour(key: int | None) -> QColor:
    return PALETTE[(key or 0) % len(PALETTE)]


class TagItem(QGraphicsItem):
    """A filled, rounded label of constant screen size; drawn above its position, or below it (`below`)."""

    PADDING = 4.0

    def __init__(self, point_size: float = 10.0, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(10)
        self._font = QFont()
        self._font.setPointSizeF(point_size)
        self._font.setBold(True)
        self._text = ""
        self._fill = QColor("#000000")
        self._rect = QRectF()
        self._below = False

    def set_text(self, text: str, fill: QColor, below: bool = False) -> None:
        if text == self._text and fill == self._fill and below == self._below:
            return
        self.prepareGeometryChange()
        metrics = QFontMetricsF(self._font)
        width = metrics.horizontalAdvance(text) + 2 * self.PADDING
        height = metrics.height() + self.PADDING
        self._text, self._fill, self._below = text, QColor(fill), below
        self._rect = QRectF(0, 0 if below else -height, width, height)
        self.update()

    def text(self) -> str:
        return self._text

    def height(self) -> float:
        return self._rect.height()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: ARG002 (Qt's signature)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._fill)
        painter.drawRoundedRect(self._rect, 3, 3)
        light = self._fill.lightnessF() > 0.6
        painter.setPen(QColor("#111111") if light else QColor("#ffffff"))
        painter.setFont(self._font)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self._text)


class FaceImageView(QGraphicsView):
    face_clicked = Signal(int)  # index into the marks last given to set_faces

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QBrush(BACKGROUND))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)  # small enough for a 1280-pixel screen beside the docks
        self.setAcceptDrops(False)  # files dropped here go to the page
        self._pixmap_item = QGraphicsPixmapItem()
        self._pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._pixmap_item)
        self._boxes: list[QGraphicsRectItem] = []
        self._tags: list[TagItem] = []
        self._marks: list[FaceMark] = []
        self._corner = TagItem(point_size=11)
        self._corner.setZValue(12)
        self._corner.setVisible(False)
        self.scene().addItem(self._corner)
        self._image_size = QSize()
        self._message = ""

    # Content -----------------------------------------------------------------------------------------------

    def set_image(self, image: np.ndarray | QPixmap | None) -> None:
        """A BGR array (or a pixmap), or None for an empty view."""
        pixmap = QPixmap() if image is None else image if isinstance(image, QPixmap) else crop_to_pixmap(image)
        self._pixmap_item.setPixmap(pixmap)
        if pixmap.size() != self._image_size:
            self._image_size = pixmap.size()
            self.scene().setSceneRect(QRectF(0, 0, pixmap.width(), pixmap.height()))
            self._fit()

    def has_image(self) -> bool:
        return not self._pixmap_item.pixmap().isNull()

    def set_faces(self, marks: list[FaceMark]) -> None:
        self._marks = list(marks)
        while len(self._boxes) < len(marks):
            box = QGraphicsRectItem()
            box.setZValue(5)
            tag = TagItem()
            self.scene().addItem(box)
            self.scene().addItem(tag)
            self._boxes.append(box)
            self._tags.append(tag)
        for index, (box, tag) in enumerate(zip(self._boxes, self._tags)):
            visible = index < len(marks)
            box.setVisible(visible)
            tag.setVisible(visible)
            if visible:
                mark = marks[index]
                colour = SELECTED_COLOUR if mark.selected else mark.colour
                pen = QPen(colour, 4 if mark.selected else 2)
                pen.setCosmetic(True)
                box.setPen(pen)
                box.setRect(QRectF(*mark.box))
                box.setZValue(6 if mark.selected else 5)
                box.setToolTip(mark.tooltip)
                tag.setToolTip(mark.tooltip)
                tag.setZValue(11 if mark.selected else 10)
        self._place_tags()

    def marks(self) -> list[FaceMark]:
        return list(self._marks)

    def tag_texts(self) -> list[str]:
        return [tag.text() for tag, _ in zip(self._tags, self._marks)]

    def tag_rects(self) -> list[QRectF]:
        """Each label's rectangle in image pixels, as shown now."""
        scale = self._scale()
        return [QRectF(tag.pos().x(), tag.pos().y(), tag.boundingRect().width() / scale,
                       tag.boundingRect().height() / scale) for tag, _ in zip(self._tags, self._marks)]

    def set_corner_text(self, text: str) -> None:
        """A label in the image's bottom-left corner (the FPS counter: faces are seldom there); "" hides it."""
        self._corner.set_text(text, QColor(0, 0, 0, 170))
        self._corner.setVisible(bool(text))
        self._place_corner()

    def corner_text(self) -> str:
        return self._corner.text() if self._corner.isVisible() else ""

    def set_message(self, text: str) -> None:
        """A sentence painted over the middle of the view (not part of a snapshot); "" removes it."""
        if text != self._message:
            self._message = text
            self.viewport().update()

    def message(self) -> str:
        return self._message

    def render_image(self) -> QImage:
        """The image with boxes, labels and the corner text, at the image's own size."""
        size = self._image_size if self._image_size.isValid() and not self._image_size.isEmpty() else QSize(1, 1)
        image = QImage(size, QImage.Format.Format_RGB32)
        image.fill(BACKGROUND)
        painter = QPainter(image)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self._place_tags(scale=1.0)
        self.scene().render(painter, QRectF(0, 0, size.width(), size.height()), self.scene().sceneRect())
        painter.end()
        self._place_tags()
        return image

    # Geometry ----------------------------------------------------------------------------------------------

    def _scale(self) -> float:
        return self.transform().m11() or 1.0

    def _fit(self) -> None:
        if self.has_image():
            self.fitInView(self._pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)
        self._place_tags()
        self._place_corner()

    def _place_tags(self, scale: float | None = None) -> None:
        """Each label where it covers no neighbouring face or label (place_labels), at its screen size."""
        scale = scale or self._scale()
        tags = list(zip(self._marks, self._tags))
        for mark, tag in tags:
            tag.set_text(mark.text, SELECTED_COLOUR if mark.selected else mark.colour, below=True)
        sizes = [(tag.boundingRect().width() / scale, tag.boundingRect().height() / scale) for _, tag in tags]
        corners = place_labels([mark.box for mark, _ in tags], sizes,
                               (self._image_size.width(), self._image_size.height()))
        for (_, tag), (x, y) in zip(tags, corners):
            tag.setPos(QPointF(x, y))

    def _place_corner(self) -> None:
        self._corner.setPos(QPointF(0, self._image_size.height()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._marks:
            point = self.mapToScene(event.position().toPoint())
            index = self.mark_at(point.x(), point.y())
            if index is not None:
                self.face_clicked.emit(index)
        super().mousePressEvent(event)

    def mark_at(self, x: float, y: float) -> int | None:
        """The smallest box containing the point (image pixels)."""
        hits = [(m.box[2] * m.box[3], i) for i, m in enumerate(self._marks)
                if m.box[0] <= x <= m.box[0] + m.box[2] and m.box[1] <= y <= m.box[1] + m.box[3]]
        return min(hits)[1] if hits else None

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: ARG002 (Qt's signature)
        if not self._message:
            return
        painter.save()
        painter.resetTransform()  # viewport pixels from here on
        area = QRectF(self.viewport().rect())
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        text_rect = metrics.boundingRect(area.adjusted(40, 0, -40, 0), Qt.TextFlag.TextWordWrap, self._message)
        band = QRectF(area.left(), area.center().y() - text_rect.height() / 2 - 14, area.width(),
                      text_rect.height() + 28)
        painter.fillRect(band, QColor(0, 0, 0, 170 if self.has_image() else 0))
        painter.setPen(QColor("#f2f4f5"))
        painter.drawText(band.adjusted(40, 0, -40, 0), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         self._message)
        painter.restore()
