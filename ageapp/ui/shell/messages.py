"""Message boxes for errors a user can cause: what happened, then what to do about it."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger("ageapp.messages")


def show_warning(parent: QWidget | None, title: str, text: str, informative: str = "", logged: bool = False) -> None:
    """A modal warning; returns when the user has read it (the app keeps running). Logged too (unless the caller
    `logged` it already): what went wrong is in the log file a report attaches."""
    if not logged:
        log.warning("%s: %s %s", title, text, informative)
    _show(parent, QMessageBox.Icon.Warning, title, text, informative)


def show_information(parent: QWidget | None, title: str, text: str, informative: str = "") -> None:
    _show(parent, QMessageBox.Icon.Information, title, text, informative)


def _show(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str, informative: str) -> None:
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    if informative:
        box.setInformativeText(informative)
    box.exec()
