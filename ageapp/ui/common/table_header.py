"""The one headerData of the app's table models: a column's title, and its explanation as the tooltip."""

from __future__ import annotations

from PySide6.QtCore import Qt


def column_header(columns: list[tuple], section: int, orientation: Qt.Orientation, role: int, tip: int):
    """headerData for `columns`, rows whose [0] is the title and whose [tip] is the tooltip; None elsewhere."""
    if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(columns):
        return None
    if role == Qt.ItemDataRole.DisplayRole:
        return columns[section][0]
    if role == Qt.ItemDataRole.ToolTipRole:
        return columns[section][tip]
    return None
