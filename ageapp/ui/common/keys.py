"""Keys with their words: every keyboard shortcut of a page is made here, carrying where it works and what it
does, so the F1 sheet (ageapp.ui.shell.shortcuts) is read from the live shortcuts themselves and cannot drift.

`key_shortcut` makes a QShortcut and labels it; `document_key` labels a key (or a click) that a widget handles
on its own (a line edit's Enter, a table's context menu), where a QShortcut would fight the widget."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

WHERE = "keysWhere"  # the QShortcut property naming the page or panel it works on
DOCUMENTED = "keysDocumented"  # a widget's own keys: "where\tkeys\twhat" strings
CONTEXT = Qt.ShortcutContext


def key_shortcut(parent: QWidget, key, where: str, text: str, slot: Callable[[], None], *,
                 context: Qt.ShortcutContext = CONTEXT.WidgetWithChildrenShortcut,
                 auto_repeat: bool = False) -> QShortcut:
    """A shortcut on `parent` (a Qt.Key, a QKeySequence or its text) that calls `slot`, listed in the F1 sheet
    as (where, the key, text)."""
    shortcut = QShortcut(key if isinstance(key, QKeySequence) else QKeySequence(key), parent)
    shortcut.setContext(context)
    shortcut.setAutoRepeat(auto_repeat)
    shortcut.setWhatsThis(text)
    shortcut.setProperty(WHERE, where)
    shortcut.activated.connect(slot)
    return shortcut


def document_key(widget: QWidget, keys: str, where: str, text: str) -> None:
    """List a key or a click that `widget` handles itself in the F1 sheet."""
    documented = list(widget.property(DOCUMENTED) or [])
    documented.append(f"{where}\t{keys}\t{text}")
    widget.setProperty(DOCUMENTED, documented)


def key_rows(root: QObject) -> list[tuple[str, str, str]]:
    """(where, keys, what) of every labelled shortcut and documented key under `root`, in creation order,
    without repeats."""
    rows: list[tuple[str, str, str]] = []
    for shortcut in root.findChildren(QShortcut):
        where = shortcut.property(WHERE)
        if where and shortcut.whatsThis():
            keys = shortcut.key().toString(QKeySequence.SequenceFormat.NativeText)
            rows.append((str(where), keys, shortcut.whatsThis()))
    for widget in root.findChildren(QWidget):
        for entry in widget.property(DOCUMENTED) or []:
            where, keys, text = str(entry).split("\t", 2)
            rows.append((where, keys, text))
    return list(dict.fromkeys(rows))
