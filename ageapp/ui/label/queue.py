"""The queue dock: every query of the project with its answers, mode, interval width, flag, status, gender and
file name (queue_model.py), filters, a search by number or file name, and "Send flagged back".

It renders the project summary's changes (ageapp.annotation.summary): a changed query's row is read again; under
a filter or a search the list is counted again, so it lists what the dock counts. Picking a row (a click, also on
the current row; the arrow keys in the table; Enter in the search box) shows that query.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ageapp.annotation.gender import LABEL, NEXT_GENDER_WORDS, next_gender
from ageapp.annotation.queue import REQUEUE_OPEN, QueueFilter, QueueRow
from ageapp.core.selection import Protocol
from ageapp.ui.common.keys import document_key, key_shortcut
from ageapp.ui.label.queue_model import (  # noqa: F401  (the model's names, read through here too)
    COLUMN_WIDTHS,
    COLUMNS,
    CONTEXT_MENU_WORDS,
    FILE_COLUMN,
    FLAG_TIP,
    GENDER_CHOICES,
    GENDER_COLUMN,
    QUERY_ID_ROLE,
    SEND_BACK_WORDS,
    QueueModel,
)

SEARCH_DELAY_MS = 250  # typing in the search box: the list follows once the labeller pauses
ARROW_ROOM = 18  # pixels the sorted column's header needs for its arrow


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
        if changed is None or self.model.queue_filter().active():
            if summary.on_key_path:  # counted again once the next pair is painted
                self._refresh_timer.start()
            else:
                self.model.refresh()
            return
        for query_image_id in changed:
            self.model.update_query(query_image_id)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = QueueModel(self)
        self.flagged_only = QCheckBox("Flagged only")
        self.flagged_only.setToolTip(FLAG_TIP)
        self.unfinished_only = QCheckBox("Unfinished only")
        self.beyond_only = QCheckBox("Beyond the references")
        self.beyond_only.setToolTip("Finished queries older (younger) than every reference they can be shown: "
                                    "older (younger) references would resolve them")
        self.count_label = QLabel()
        self.count_label.setObjectName("hint")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find: #number or file name")
        self.search.setToolTip("A query's number (1141 or #1141) or a part of its file name; Enter shows the first "
                               "one found. Esc clears it.")
        self.search.setClearButtonEnabled(True)
        self.search.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # the arrow keys stay with the pair until a click
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self._pick_first_found)
        self._refresh_timer = QTimer(self)  # a filtered list counted again after an answer (show_summary)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.model.refresh)
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
        header.sortIndicatorChanged.connect(lambda _column, _order: self._fit_columns())
        self._fit_columns()
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
        actions.addWidget(self.search, stretch=1)
        actions.addWidget(self.send_back_button)
        actions.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(filters)
        layout.addLayout(actions)
        layout.addWidget(self.view, stretch=1)
        layout.addWidget(hint)
        self._update_count()

    def sizeHint(self) -> QSize:
        return QSize(500, 330)

    def _fit_columns(self) -> None:
        """Each column as wide as its header's words (the sorted one with room for its arrow too), the file name
        taking what is left: every header whole, and the names in sight, in a dock beside the pair."""
        header = self.view.horizontalHeader()
        metrics = header.fontMetrics()
        for column, (title, _key, _tip) in enumerate(COLUMNS[:-1]):
            arrow = ARROW_ROOM if column == header.sortIndicatorSection() else 0
            self.view.setColumnWidth(column, max(COLUMN_WIDTHS[column], metrics.horizontalAdvance(title) + 14 + arrow))

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
        self._search_timer.stop()
        self.model.set_filter(QueueFilter(self.flagged_only.isChecked(), self.unfinished_only.isChecked(),
                                          self.beyond_only.isChecked(), self.search.text().strip()))

    def find(self, text: str) -> int:
        """Search now (what typing does after a short pause); returns how many queries are listed."""
        self.search.setText(text)
        self._apply_filter()
        return self.model.rowCount()

    def _pick_first_found(self) -> None:
        self._apply_filter()
        if self.model.rowCount():
            self.select_row(0)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.search.hasFocus():
            self.search.clear()
            self._apply_filter()
            return
        super().keyPressEvent(event)

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
