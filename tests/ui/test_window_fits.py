"""The whole window (every page, the style sheet, both docks) fits a 1280×800 screen whatever the label page says,
and the menu bar's Alt letters are each one menu's."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.core.selection import Protocol
from ageapp.ui.shell.settings import AppSettings
from tests.factories import make_project


def styled_window(qtbot, path):
    from ageapp.ui.shell.app import build_window, configure_application

    AppSettings().set_annotator("alice")
    window = build_window()
    qtbot.addWidget(window)
    app = QApplication.instance()
    kept = (app.styleSheet(), app.style().name(), app.organizationName(), app.applicationName())
    configure_application(app)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    assert window.open_project_path(path)
    return window, kept


def restore(kept) -> None:
    app = QApplication.instance()
    app.setStyleSheet(kept[0])
    app.setStyle(kept[1])
    app.setOrganizationName(kept[2])
    app.setApplicationName(kept[3])


def test_a_query_beyond_the_references_keeps_the_window_within_1280_by_800(tmp_path, qtbot):
    # the notice ("… Import older references to resolve it …") was one unwrapped line: the window needed 1,631 px
    path = tmp_path / "old.ageproj"
    db = make_project(path, references=70, queries=3, age_max=100)[0]  # references aged 0..69
    save_labelling_settings(db, LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0))
    db.close()
    window, kept = styled_window(qtbot, path)
    try:
        page = window.page("label")
        for _ in range(3):  # "older" three times: beyond the oldest reference
            task = page.task
            qtbot.keyClick(page.panel, Qt.Key.Key_Left if task.query_side == "left" else Qt.Key.Key_Right)
        assert "Import older references to resolve it" in page.notice.text()
        QApplication.processEvents()
        least = window.minimumSizeHint()
        assert least.width() <= 1280 and least.height() <= 800, least
    finally:
        restore(kept)


def test_every_menu_of_the_menu_bar_has_its_own_alt_letter(tmp_path, qtbot):
    path = tmp_path / "p.ageproj"
    make_project(path, references=10, queries=2)[0].close()
    window, kept = styled_window(qtbot, path)
    try:
        letters = {}
        for action in window.menuBar().actions():
            text = action.text()
            assert "&" in text, f"{text!r} has no Alt letter"
            letter = text[text.index("&") + 1].lower()
            assert letter not in letters, f"Alt+{letter.upper()} is both {letters[letter]!r} and {text!r}"
            letters[letter] = text
        assert {"t", "o"} <= set(letters)  # Train, Tools
    finally:
        restore(kept)
