"""The queue's Qt model: every query of the project with its answers, mode, interval width, flag, status, gender
and file name, over ageapp.annotation.queue.

`QueueModel` adapts ageapp.annotation.queue to Qt without copying the table: rowCount is one COUNT, and
rows come in windows of PAGE_SIZE through LIMIT/OFFSET, of which the model keeps the MAX_PAGES most
recently used. Sorting (a click on a header) and the filters are the SQL's ORDER BY and WHERE; both reset
the model. After an answer only that query's row is re-read (`update_query`), so a labeller's key press
never waits for the queue; the order catches up at the next `refresh()`. Hovering a row shows the face.
"""

from __future__ import annotations

import base64
from collections import OrderedDict

from PySide6.QtCore import QAbstractTableModel, QBuffer, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from ageapp.annotation.gender import FEMALE, LABEL, MALE
from ageapp.annotation.queue import (
    BEYOND,
    FINISHED,
    FLAGGED,
    IN_PROGRESS,
    REQUEUE_EXHAUSTED,
    REQUEUE_RESOLVED,
    SENT_BACK,
    QueueOrder,
    QueueRow,
    count_queue,
    query_thumbnail,
    queue_row,
    queue_rows,
)
from ageapp.core.names import shown_name
from ageapp.core.posterior import OUTLIER_WIDTH
from ageapp.annotation.queue import QueueFilter
from ageapp.core.selection import Protocol
from ageapp.ui.common.image_convert import crop_to_qimage
from ageapp.ui.common.table_header import column_header

COLUMN_WIDTHS = (56, 40, 40, 40, 96, 48)  # the least widths of the columns before File (which stretches)
PAGE_SIZE = 256
MAX_PAGES = 8  # at most 2,048 rows held, whatever the project's size
QUERY_ID_ROLE = Qt.ItemDataRole.UserRole

# (header, sort key in ageapp.annotation.queue.SORT_KEYS, tooltip)
COLUMNS: list[tuple[str, str, str]] = [
    ("Query", "id", "The query's number in this project (hover a row for its file)"),
    ("Answers", "comparisons", "Comparisons answered for this query (can't-tell included)"),
    ("Mode", "mode", "The most probable age so far"),
    ("Width", "width", "Width of the 90% credible interval, in years"),
    ("Status", "status", "new, in progress or finished under the protocol; flagged: finished with a 90% "
                         f"interval wider than {OUTLIER_WIDTH} years, worth more comparisons (“again” once sent back "
                         "and still wide; ✓: narrow enough after it was sent back); beyond the references: older "
                         "(younger) than every reference it can be shown, which older (younger) references would "
                         "resolve; sent back: served again"),
    ("Gender", "gender", "The query's gender: a label (F / M), or the model's prediction with its probability "
                         "(“?” below the project's confidence: not used). G or right-click changes it"),
    ("File", "", "The image's file name, with the age a dataset's name carries masked (··); hover for the face. "
                 "Not sortable: names like UTKFace's would sort by age"),
]
QUERY_COLUMN, ANSWERS_COLUMN, MODE_COLUMN, WIDTH_COLUMN, STATUS_COLUMN, GENDER_COLUMN, FILE_COLUMN = range(7)
FLAG_TIP = f"Finished with a 90% interval wider than {OUTLIER_WIDTH} years: worth more comparisons"
THUMBNAIL_CACHE = 64  # tooltips of the last faces hovered, kept
GENDER_CHOICES = (("Male", MALE), ("Female", FEMALE), ("Can't tell (unknown)", None))  # the context menu's
SEND_BACK_WORDS = "Send back for more comparisons"
CONTEXT_MENU_WORDS = [f"Gender: {text}" for text, _ in GENDER_CHOICES] + [SEND_BACK_WORDS]
_MUTED_COLOUR = QColor("#8c959d")
_STATUS_COLOURS = {FINISHED: QColor("#2e7d4f"), IN_PROGRESS: QColor("#1d4a63"), SENT_BACK: QColor("#8a5a00"),
                   FLAGGED: QColor("#b3261e"), BEYOND: QColor("#6a3d9a")}
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_CENTRE = int(Qt.AlignmentFlag.AlignCenter)


class QueueModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._db = None
        self._protocol = Protocol()
        self._filter = QueueFilter()
        self._order = QueueOrder()
        self._count = 0
        self._pages: OrderedDict[int, list[QueueRow]] = OrderedDict()
        self._thumbnails: OrderedDict[int, str] = OrderedDict()  # query id -> its tooltip (the face, its name)
        self.queries_run = 0  # SQL window fetches so far (tests check the caching)

    # Configuration -------------------------------------------------------------------------------------

    def set_project(self, db, protocol: Protocol | None = None) -> None:
        self._reset(db=db, protocol=protocol or self._protocol)

    def set_protocol(self, protocol: Protocol) -> None:
        self._reset(protocol=protocol)

    def set_filter(self, queue_filter: QueueFilter) -> None:
        self._reset(queue_filter=queue_filter)

    def queue_filter(self) -> QueueFilter:
        return self._filter

    def order(self) -> QueueOrder:
        return self._order

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS) or not COLUMNS[column][1]:
            return
        self._reset(order=QueueOrder(COLUMNS[column][1], order == Qt.SortOrder.DescendingOrder))

    def refresh(self) -> None:
        """Re-count and re-read: rows move to their sorted place and leave or join the filtered list."""
        self._reset()

    def update_query(self, query_image_id: int) -> None:
        """Re-read one query's row where it is held (after an answer or an undo); cheap, keeps the order."""
        if self._db is None:
            return
        for page_index, rows in self._pages.items():
            for offset, row in enumerate(rows):
                if row.query_image_id == query_image_id:
                    fresh = queue_row(self._db, self._protocol, query_image_id)
                    if fresh is not None:
                        rows[offset] = fresh
                        number = page_index * PAGE_SIZE + offset
                        self.dataChanged.emit(self.index(number, 0), self.index(number, len(COLUMNS) - 1))
                    return

    def _reset(self, *, db=..., protocol=None, queue_filter=None, order=None) -> None:
        self.beginResetModel()
        if db is not ...:
            self._db = db
            self._thumbnails.clear()
        self._protocol = protocol or self._protocol
        self._filter = queue_filter or self._filter
        self._order = order or self._order
        self._pages.clear()
        self._count = 0 if self._db is None else count_queue(self._db, self._protocol, self._filter)
        self.endResetModel()

    # Reading ---------------------------------------------------------------------------------------------

    def row_at(self, number: int) -> QueueRow | None:
        if not 0 <= number < self._count or self._db is None:
            return None
        page_index, offset = divmod(number, PAGE_SIZE)
        rows = self._pages.get(page_index)
        if rows is None:
            rows = queue_rows(self._db, self._protocol, self._filter, self._order,
                              offset=page_index * PAGE_SIZE, limit=PAGE_SIZE)
            self.queries_run += 1
            self._pages[page_index] = rows
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_index)
        return rows[offset] if offset < len(rows) else None

    def rows_held(self) -> int:
        return sum(len(rows) for rows in self._pages.values())

    def row_of_query(self, query_image_id: int) -> int | None:
        """Where a query sits among the rows held (None if not held)."""
        for page_index, rows in self._pages.items():
            for offset, row in enumerate(rows):
                if row.query_image_id == query_image_id:
                    return page_index * PAGE_SIZE + offset
        return None

    # Qt model interface -------------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        return column_header(COLUMNS, section, orientation, role, tip=2)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.parent().isValid():
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(row, column)
        if role == QUERY_ID_ROLE:
            return row.query_image_id
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == GENDER_COLUMN:
                return f"{row.gender.describe()} · G or right-click to change"
            if column == STATUS_COLUMN and row.beyond:
                return (f"Beyond the references: {row.beyond}. Import {row.beyond.split()[0]} references to "
                        "resolve it; its posterior keeps the ages its answers allow")
            if column == STATUS_COLUMN and row.requeue == REQUEUE_RESOLVED:
                return f"Sent back and resolved: its 90% interval is now at most {OUTLIER_WIDTH} years"
            return self.face_tooltip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column in (QUERY_COLUMN, ANSWERS_COLUMN, MODE_COLUMN, WIDTH_COLUMN) else _CENTRE
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == GENDER_COLUMN and row.gender.source != LABEL:
                return QBrush(_MUTED_COLOUR)
            if column == STATUS_COLUMN and row.status in _STATUS_COLOURS:
                return QBrush(_STATUS_COLOURS[row.status])
            if column in (MODE_COLUMN, WIDTH_COLUMN) and row.n_comparisons == 0:
                return QBrush(_MUTED_COLOUR)
        return None

    def face_tooltip(self, row: QueueRow) -> str:
        """The query's face (a thumbnail) and its file name, as rich text; made once per query hovered."""
        tooltip = self._thumbnails.get(row.query_image_id)
        if tooltip is None:
            crop = None if self._db is None else query_thumbnail(self._db, row.query_image_id)
            picture = "" if crop is None else f'<img src="data:image/png;base64,{_png_base64(crop)}"><br>'
            tooltip = f"{picture}#{row.query_image_id} · {_escape(shown_name(row.path))}"
            self._thumbnails[row.query_image_id] = tooltip
            while len(self._thumbnails) > THUMBNAIL_CACHE:
                self._thumbnails.popitem(last=False)
        return tooltip


def _png_base64(crop) -> str:
    buffer = QBuffer()
    buffer.open(QBuffer.OpenModeFlag.WriteOnly)
    crop_to_qimage(crop).save(buffer, "PNG")
    return base64.b64encode(bytes(buffer.data())).decode("ascii")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _display(row: QueueRow, column: int) -> str:
    if column == FILE_COLUMN:
        return shown_name(row.path)
    if column == QUERY_COLUMN:
        return f"#{row.query_image_id}"
    if column == ANSWERS_COLUMN:
        return str(row.n_comparisons)
    if column == MODE_COLUMN:
        return "—" if row.mode is None else str(row.mode)
    if column == WIDTH_COLUMN:
        return "—" if row.ci_width is None else f"{row.ci_width} y"
    if column == GENDER_COLUMN:
        return row.gender.short()
    if row.status == BEYOND and row.beyond:  # "beyond (> 69)": the whole words are the tooltip's
        return f"beyond ({'>' if row.beyond.startswith('older') else '<'} {row.beyond.split()[-1]})"
    if row.status == FLAGGED and row.requeue == REQUEUE_EXHAUSTED:
        return "⚑ flagged again"
    if row.status == FLAGGED:
        return "⚑ flagged"
    if row.requeue == REQUEUE_RESOLVED:
        return f"{row.status} ✓"
    return row.status
