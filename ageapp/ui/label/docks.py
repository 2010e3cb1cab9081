"""The label page's docks (the queue and the statistics) belong to it: shown there (unless the labeller closed
them), hidden on the other pages."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget


class DockSwitcher:
    """Shows `docks` on the page `page_name` and hides them elsewhere, remembering which ones the labeller
    closed there. Docks the labeller has never placed get their preferred sizes the first time they show (a
    hidden dock cannot be resized)."""

    def __init__(self, window, docks: list[QDockWidget], placed: bool, page_name: str):
        self.window = window
        self.docks = docks
        self.page_name = page_name
        self.wanted = {dock: True for dock in docks}
        self._needs_sizing = not placed
        self._switching = False
        for dock in docks:
            dock.visibilityChanged.connect(lambda visible, d=dock: self._remember(d, visible))
        self.on_label_page = True

    def _remember(self, dock: QDockWidget, visible: bool) -> None:
        if not self._switching and self.on_label_page:
            self.wanted[dock] = visible

    def page_changed(self, name: str) -> None:
        self.on_label_page = name == self.page_name
        self._switching = True
        try:
            for dock in self.docks:
                dock.setVisible(self.on_label_page and self.wanted[dock])
        finally:
            self._switching = False
        if self.on_label_page and self._needs_sizing:
            self._needs_sizing = False
            QTimer.singleShot(0, self.window, self._size_docks)

    def _size_docks(self) -> None:
        hints = [dock.widget().sizeHint() for dock in self.docks]
        self.window.resizeDocks(self.docks, [h.width() for h in hints], Qt.Orientation.Horizontal)
        self.window.resizeDocks(self.docks, [h.height() for h in hints], Qt.Orientation.Vertical)
