"""The F1 sheet lists every shortcut of every page, read from the live shortcuts; the answer keys keep working
whatever widget of the label page was clicked last."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication

from ageapp.annotation.gender import FEMALE, MALE, UNKNOWN, GenderInfo, info_from, next_gender
from ageapp.annotation.gender import NEXT_GENDER_WORDS
from ageapp.ui.estimate.page import install_estimate_page
from ageapp.ui.label.page import install_label_page
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from ageapp.ui.study.page import install_study_page
from ageapp.ui.train.page import install_train_page
from tests.factories import make_project


@pytest.fixture
def window(qtbot):
    AppSettings().set_annotator("alice")
    main = MainWindow()
    install_label_page(main)
    install_estimate_page(main)
    install_train_page(main)
    install_study_page(main)
    qtbot.addWidget(main)
    return main


def native(sequence: QKeySequence) -> str:
    return sequence.toString(QKeySequence.SequenceFormat.NativeText)


def test_every_shortcut_of_every_page_is_on_the_sheet_with_words(window):
    rows = window.show_shortcuts().rows()
    listed = {(keys, what) for _, keys, what in rows}
    shortcuts = window.findChildren(QShortcut)
    assert len(shortcuts) >= 10
    for shortcut in shortcuts:  # none without words, none left off
        assert shortcut.whatsThis(), f"{native(shortcut.key())} has no words for the sheet"
        assert (native(shortcut.key()), shortcut.whatsThis()) in listed
    for action in window.findChildren(QAction):
        if not action.shortcut().isEmpty() and action.isVisible():
            assert native(action.shortcut()) in {keys for _, keys, _ in rows}, action.text()
    where = {(w, k) for w, k, _ in rows}
    for expected in [("Label", "Left"), ("Label", "Backspace"), ("Label", "G"), ("Queue", "G"),
                     ("Queue", "Right-click"), ("Study", "Left"), ("Study", "Right"), ("Study", "Esc"),
                     ("Study", "Return"), ("Mode", "Ctrl+1")]:
        assert expected in where, expected
    menu_words = next(what for w, k, what in rows if (w, k) == ("Queue", "Right-click"))
    assert "Gender: Female" in menu_words and "Send back for more comparisons" in menu_words


def test_the_gender_key_is_described_as_it_behaves():
    # follow next_gender from a male label round the cycle (a label is stored, "can't tell" as none, and read
    # back as info_from reads it), and a prediction to its opposite
    names = {MALE: "male", FEMALE: "female", None: "can't tell"}
    info, cycle = info_from(MALE, None, None, 0.9), ["male"]
    for _ in range(3):
        gender = next_gender(info)
        cycle.append(names[gender])
        info = info_from(gender, None, None, 0.9)
    assert " → ".join(cycle) in NEXT_GENDER_WORDS
    assert next_gender(GenderInfo("predicted", FEMALE, 0.7)) == MALE and "prediction becomes the other" in NEXT_GENDER_WORDS
    assert next_gender(GenderInfo(UNKNOWN, None)) == MALE


def test_answer_keys_work_after_clicking_the_statistics_table(window, qtbot, tmp_path):
    path = tmp_path / "p.ageproj"
    make_project(path, references=71, queries=3)[0].close()
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    assert window.open_project_path(path)
    page = window.page("label")
    table = page.statistics_panel.annotators
    for widget in (table.viewport(), page.statistics_panel.width_plot, page.plot):
        before = page.db.execute("SELECT count(*) FROM comparisons").fetchone()[0]
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)
        focused = QApplication.focusWidget()
        assert focused is not None
        qtbot.keyClick(focused, Qt.Key.Key_Left)  # where the key really goes: the focused widget
        assert page.db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == before + 1, widget
