"""The queue dock: every query of the project with its answers, mode, interval width, flag and status.

`QueueModel` adapts ageapp.annotation.queue to Qt without copying the table: rowCount is one COUNT, and
rows come in windows of PAGE_SIZE through LIMIT/OFFSET, of which the model keeps the MAX_PAGES most
recently used. Sorting (a click on a header) and the filters are the SQL's ORDER BY and WHERE; both reset
the model. After an answer only that query's row is re-read (`update_query`), so a labeller's key press
never waits for the queue; the order and the filters catch up at the next `refresh()`.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ageapp.annotation.gender import FEMALE, LABEL, MALE, NEXT_GENDER_WORDS, next_gender
from ageapp.annotation.queue import (
    BEYOND,
    FINISHED,
    FLAGGED,
    IN_PROGRESS,
    REQUEUE_EXHAUSTED,
    REQUEUE_OPEN,
    REQUEUE_RESOLVED,
    SENT_BACK,
    QueueFilter,
    QueueOrder,
    QueueRow,
    count_queue,
    queue_row,
    queue_rows,
)
from ageapp.core.posterior import OUTLIER_WIDTH
from ageapp.core.selection import Protocol
from ageapp.ui.common.keys import document_key, key_shortcut
from ageapp.ui.common.table_header import column_header

PAGE_SIZE = 256
MAX_PAGES = 8  # at most 2,048 rows held, whatever the project's size
QUERY_ID_ROLE = Qt.ItemDataRole.UserRole

# (header, sort key in ageapp.annotation.queue.SORT_KEYS, tooltip)
COLUMNS: list[tuple[str, str, str]] = [
    ("Query", "id", "The query's number in this project (hover a row for its file)"),
    ("Answers", "comparisons", "Comparisons answered for this query (can't-tell included)"),
    ("Mode", "mode", "The most probable age so far"),
    ("90% width", "width", "Width of the 90% credible interval, in years"),
    ("Flag", "flagged", f"Finished with a 90% interval wider than {OUTLIER_WIDTH} years: worth more comparisons"),
    ("Status", "status", "new, in progress or finished under the protocol; flagged: finished with a wide "
                         "interval; beyond the references: older (younger) than every reference it can be shown, "
                         "which older (younger) references would resolve; sent back: served again"),
    ("Gender", "gender", "The query's gender: a label (F / M), or the model's prediction with its probability "
                         "(“?” below the project's confidence: not used). G or right-click changes it"),
]
GENDER_COLUMN = 6
GENDER_CHOICES = (("Male", MALE), ("Female", FEMALE), ("Can't tell (unknown)", None))  # the context menu's
SEND_BACK_WORDS = "Send back for more comparisons"
CONTEXT_MENU_WORDS = [f"Gender: {text}" for text, _ in GENDER_CHOICES] + [SEND_BACK_WORDS]
_FLAG_COLOUR = QColor("#b3261e")
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
        if not 0 <= column < len(COLUMNS):
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
            if column == 5 and row.beyond:
                return (f"Beyond the references: {row.beyond}. Import {row.beyond.split()[0]} references to "
                        "resolve it; its posterior keeps the ages its answers allow")
            return row.path
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column in (0, 1, 2, 3) else _CENTRE
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 4 and row.flagged:
                return QBrush(_FLAG_COLOUR)
            if column == GENDER_COLUMN and row.gender.source != LABEL:
                return QBrush(_MUTED_COLOUR)
            if column == 5 and row.status in _STATUS_COLOURS:
                return QBrush(_STATUS_COLOURS[row.status])
            if column in (2, 3) and row.n_comparisons == 0:
                return QBrush(_MUTED_COLOUR)
        return None


def _display(row: QueueRow, column: int) -> str:
    if column == 0:
        return f"#{row.query_image_id}"
    if column == 1:
        return str(row.n_comparisons)
    if column == 2:
        return "—" if row.mode is None else str(row.mode)
    if column == 3:
        return "—" if row.ci_width is None else f"{row.ci_width} y"
    if column == 4:
        if row.requeue == REQUEUE_RESOLVED:
            return "✓ resolved"
        return ("⚑ flagged" + (" again" if row.requeue == REQUEUE_EXHAUSTED else "")) if row.flagged else ""
    if column == GENDER_COLUMN:
        return row.gender.short()
    return f"beyond: {row.beyond}" if row.status == BEYOND and row.beyond else row.status


class QueuePanel(QWidget):
    """Filters above, the table below; `query_selected(id)` when the labeller picks a row."""

    query_selected = Signal(int)
    gender_change_requested = Signal(int, object)  # query id, 0 / 1 / None (can't tell)
    send_back_requested = Signal(list)  # query ids (flagged) to serve again for more comparisons
    send_flagged_back_requested = Signal()

    def show_summary(self, summary) -> None:
        """The project summary changed (ageapp.annotation.summary): the rows of the queries it names are read
        again (all of them for None); under a filter the list is counted again too, so that a query that
        finished leaves "Unfinished only" and one now beyond the references joins "Beyond the references"."""
        changed = summary.changed
        if changed is not None and not changed:
            return
        if changed is None or self.model.queue_filter() != QueueFilter():
            self.model.refresh()
            return
        for query_image_id in changed:
            self.model.update_query(query_image_id)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = QueueModel(self)
        self.flagged_only = QCheckBox("Flagged only")
        self.flagged_only.setToolTip(COLUMNS[4][2])
        self.unfinished_only = QCheckBox("Unfinished only")
        self.beyond_only = QCheckBox("Beyond the references")
        self.beyond_only.setToolTip("Finished queries older (younger) than every reference they can be shown: "
                                    "older (younger) references would resolve them")
        self.count_label = QLabel()
        self.count_label.setObjectName("hint")
        for box in (self.flagged_only, self.unfinished_only, self.beyond_only):
            box.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrow keys belong to the comparison
            box.toggled.connect(self._apply_filter)
        self.send_back_button = QPushButton("Send flagged back")
        self.send_back_button.setToolTip(
            "Serve every flagged query again, for more comparisons (by another labeller where there is one), "
            "until its 90% interval is at most 15 years or it has had its extra comparisons")
        self.send_back_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.send_back_button.setEnabled(False)
        self.send_back_button.clicked.connect(self.send_flagged_back_requested)

        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setWordWrap(False)
        self.view.setAlternatingRowColors(True)
        self.view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        vertical = self.view.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never asks every row for its size
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((56, 58, 46, 68, 74, 74)):
            self.view.setColumnWidth(column, width)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        key_shortcut(self.view, Qt.Key.Key_G, "Queue", f"Gender of the selected query: {NEXT_GENDER_WORDS}",
                     self._cycle_current_gender, context=Qt.ShortcutContext.WidgetShortcut)
        document_key(self.view, "Right-click", "Queue", "; ".join(CONTEXT_MENU_WORDS))
        self.view.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.view.clicked.connect(self._pick)
        self.model.modelReset.connect(self._update_count)

        hint = QLabel("Select a query to see its posterior and add comparisons to it.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        filters = QHBoxLayout()  # two rows, so that the dock fits beside the pair on a 1280-pixel screen
        filters.addWidget(self.flagged_only)
        filters.addWidget(self.unfinished_only)
        filters.addWidget(self.beyond_only)
        filters.addStretch(1)
        actions = QHBoxLayout()
        actions.addWidget(self.send_back_button)
        actions.addStretch(1)
        actions.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(filters)
        layout.addLayout(actions)
        layout.addWidget(self.view, stretch=1)
        layout.addWidget(hint)
        self._update_count()

    def sizeHint(self) -> QSize:
        return QSize(470, 330)

    def set_project(self, db, protocol: Protocol | None = None) -> None:
        self.model.set_project(db, protocol)
        self.send_back_button.setEnabled(db is not None)

    def current_row(self) -> QueueRow | None:
        index = self.view.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    def _cycle_current_gender(self) -> None:
        row = self.current_row()
        if row is not None:
            self.gender_change_requested.emit(row.query_image_id, next_gender(row.gender))

    def _context_menu(self, position: QPoint) -> None:
        index = self.view.indexAt(position)
        row = self.model.row_at(index.row()) if index.isValid() else None
        if row is None:
            return
        menu = self.context_menu_for(row)
        menu.exec(self.view.viewport().mapToGlobal(position))

    def context_menu_for(self, row: QueueRow) -> QMenu:
        """Gender (labelled from then on) and "Send back" for one query (tests trigger its actions)."""
        menu = QMenu(self)
        current = row.gender.gender if row.gender.source == LABEL else "none"
        for text, gender in GENDER_CHOICES:
            action = menu.addAction(f"Gender: {text}")
            action.setCheckable(True)
            action.setChecked(row.gender.source == LABEL and current == gender)
            action.triggered.connect(
                lambda _checked=False, g=gender, q=row.query_image_id: self.gender_change_requested.emit(q, g))
        menu.addSeparator()
        send = menu.addAction(SEND_BACK_WORDS)
        send.setEnabled(row.flagged and row.requeue != REQUEUE_OPEN)
        send.setToolTip("Flagged queries only; one already sent back is served until it is resolved")
        send.triggered.connect(lambda _checked=False, q=row.query_image_id: self.send_back_requested.emit([q]))
        return menu

    def select_row(self, number: int) -> None:
        """Pick a row as a click would: its query is shown, also when it was the current row already."""
        index = self.model.index(number, 0)
        selection = self.view.selectionModel()
        selection.blockSignals(True)
        self.view.selectRow(number)
        self.view.setCurrentIndex(index)
        selection.blockSignals(False)
        self.view.viewport().update()
        self._pick(index)

    def _apply_filter(self) -> None:
        self.model.set_filter(QueueFilter(self.flagged_only.isChecked(), self.unfinished_only.isChecked(),
                                          self.beyond_only.isChecked()))

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        """The arrow keys in the table move to a row: its query is shown. A mouse click is `clicked`'s."""
        if QApplication.mouseButtons() == Qt.MouseButton.NoButton:
            self._pick(current)

    def _pick(self, index: QModelIndex) -> None:
        """A row chosen (a click, also on the current row; the arrow keys; select_row): show its query."""
        if index.isValid():
            query_id = self.model.data(index, QUERY_ID_ROLE)
            if query_id is not None:
                self.query_selected.emit(int(query_id))

    def _update_count(self) -> None:
        count = self.model.rowCount()
        noun = "query" if count == 1 else "queries"
        self.count_label.setText(f"{count:,} {noun}")
