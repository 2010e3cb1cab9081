"""Menus that pages share and make on first use (the window's own menus are main_window.py's)."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu


def tools_menu(window) -> QMenu:
    """The window's Tools menu, made (before Help) on first use."""
    bar = window.menuBar()
    for action in bar.actions():
        if action.menu() is not None and action.menu().objectName() == "toolsMenu":
            return action.menu()
    menu = QMenu("T&ools", bar)  # Alt+O: Alt+T is the Train menu's
    menu.setObjectName("toolsMenu")
    help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_action is not None:
        bar.insertMenu(help_action, menu)
    else:
        bar.addMenu(menu)
    return menu
