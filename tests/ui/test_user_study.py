"""The study page driven by key presses: Test I typed ages + Enter, Test II ← / →; what is stored, and the
results view (plots, β, adopting it, export)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ageapp.annotation.simulated_person import SimulatedPerson
from ageapp.annotation.study import new_sitting, plan_study, record_answer, study_results
from ageapp.ui.study import page as study_module
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from ageapp.ui.study.page import STUDY, install_study_page
from tests.factories import make_project


def new_project(folder: Path, references: int = 71) -> Path:
    path = folder / "study.ageproj"
    make_project(path, references=references, queries=2)[0].close()
    return path


@pytest.fixture
def study(qtbot, tmp_path):
    AppSettings().set_annotator("hana")
    window = MainWindow()
    page = install_study_page(window)
    qtbot.addWidget(window)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    assert window.open_project_path(new_project(tmp_path))
    window.show_page(STUDY)
    return window, page


def stored(page) -> list[dict]:
    return [dict(r) for r in page.db.query("SELECT * FROM study_answers ORDER BY id")]


def test_the_page_is_a_mode_and_knows_the_references(study):
    window, page = study
    assert window.mode_action(STUDY).isEnabled() and window.current_page_name() == STUDY
    assert page.setup_view.person_edit.text() == "hana"  # who labels on this computer
    assert page.setup_view.message.text().startswith("71 reference faces")


def test_both_tests_driven_by_keys_store_every_answer(study, qtbot):
    window, page = study
    page.setup_view.guesses_spin.setValue(3)
    page.setup_view.pairs_spin.setValue(4)
    qtbot.mouseClick(page.setup_view.start_button, Qt.MouseButton.LeftButton)
    assert page.stack.currentWidget() is page.guess_view and page.guess_view.age_edit.hasFocus()
    assert page.guess_view.header.text() == "hana · Test I of II: face 1 of 3"
    typed = ["25", "7", "61"]
    for age in typed:
        qtbot.wait(20)  # a measurable response time
        qtbot.keyClicks(page.guess_view.age_edit, age)
        with qtbot.waitSignal(page.answer_saved, timeout=2000):
            qtbot.keyClick(page.guess_view.age_edit, Qt.Key.Key_Return)
    assert page.stack.currentWidget() is page.compare_view
    assert page.compare_view.header.text() == "hana · Test II: pair 1 of 4"
    keys = [Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Left]
    pairs = []
    for key in keys:
        pairs.append(page.current_trial())
        qtbot.wait(20)
        with qtbot.waitSignal(page.answer_saved, timeout=2000):
            qtbot.keyClick(page.compare_view, key)
    assert page.stack.currentWidget() is page.results_view

    rows = stored(page)
    assert [r["test"] for r in rows] == ["guess"] * 3 + ["compare"] * 4
    assert [r["answer"] for r in rows[:3]] == [25.0, 7.0, 61.0]
    assert [r["answer"] for r in rows[3:]] == [1.0, 0.0, 0.0, 1.0]  # 1: the left face judged older
    ages = dict(page.db.execute("SELECT id, age FROM images").fetchall())
    for row, trial in zip(rows[3:], pairs):
        assert (row["image_id"], row["second_image_id"]) == trial.image_ids
        assert (row["true_age"], row["second_true_age"]) == (ages[trial.image_ids[0]], ages[trial.image_ids[1]])
    for row in rows[:3]:
        assert row["true_age"] == ages[row["image_id"]]
    assert all(r["response_ms"] >= 15 and r["person"] == "hana" for r in rows)
    assert len({r["sitting"] for r in rows}) == 1

    # The results view: the guesses against the true ages, the pairs binned by gap.
    x, y = page.results_view.guess_points.getData()
    np.testing.assert_array_equal(x, [r["true_age"] for r in rows[:3]])
    np.testing.assert_array_equal(y, [25, 7, 61])
    within = np.mean(np.abs(np.array([25, 7, 61]) - x) <= 3)
    assert f"{within:.1%} of 3 guesses within ±3 years" in page.results_view.guess_plot.getPlotItem().titleLabel.text
    results = study_results(page.db, "hana")
    bins = results.compare.bins()
    px, py = page.results_view.compare_points.getData()
    np.testing.assert_allclose(px, bins.centres)
    np.testing.assert_allclose(py, bins.share_correct)
    assert "β needs 20" in page.results_view.compare_plot.getPlotItem().titleLabel.text  # only 4 pairs
    assert not page.results_view.adopt_button.isEnabled()


def test_a_bad_guess_is_explained_and_not_stored(study, qtbot):
    _, page = study
    assert page.start(guesses=2, pairs=0, seed=3)
    qtbot.keyClick(page.guess_view.age_edit, Qt.Key.Key_Return)
    assert page.guess_view.error.text() == "Type the age you guess, in years, then press Enter."
    qtbot.keyClicks(page.guess_view.age_edit, "abc")
    qtbot.keyClick(page.guess_view.age_edit, Qt.Key.Key_Return)
    assert "is not an age: type a whole number" in page.guess_view.error.text()
    assert stored(page) == [] and page.index == 0
    page.guess_view.age_edit.clear()
    qtbot.keyClicks(page.guess_view.age_edit, "30")
    qtbot.keyClick(page.guess_view.age_edit, Qt.Key.Key_Return)
    assert len(stored(page)) == 1 and page.index == 1 and page.guess_view.error.text() == ""


def test_escape_stops_and_keeps_the_answers(study, qtbot):
    _, page = study
    assert page.start(guesses=0, pairs=5, seed=2)
    qtbot.keyClick(page.compare_view, Qt.Key.Key_Left)
    qtbot.keyClick(page.compare_view, Qt.Key.Key_Escape)
    assert page.stack.currentWidget() is page.results_view and len(stored(page)) == 1
    qtbot.keyClick(page.compare_view, Qt.Key.Key_Left)  # no study running: nothing more is stored
    assert len(stored(page)) == 1


def test_a_refused_answer_stays_on_screen_with_what_to_do(study, qtbot, monkeypatch):
    _, page = study
    assert page.start(guesses=0, pairs=2, seed=2)

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(study_module, "record_answer", refuse)
    qtbot.keyClick(page.compare_view, Qt.Key.Key_Right)
    assert page.index == 0 and page.stack.currentWidget() is page.compare_view
    error = page.compare_view.error.text()
    assert "not saved" in error and "Open the project for writing" in error


def test_starting_needs_a_name_and_references(study, tmp_path, qtbot):
    window, page = study
    page.setup_view.person_edit.setText("  ")
    assert not page.start()
    assert "name of the person" in page.setup_view.message.text()
    path = tmp_path / "empty"
    path.mkdir()
    assert window.open_project_path(new_project(path, references=0))
    window.show_page(STUDY)
    assert "no reference faces" in page.setup_view.message.text()
    assert not page.start(person="hana", guesses=3, pairs=3)
    assert "ageapp import PROJECT FOLDER --role reference" in page.setup_view.message.text()


def simulate(page, person: str, pairs: int, beta: float, seed: int) -> None:
    plan = plan_study(page.db, guesses=20, comparisons=pairs, seed=seed)
    someone, sitting = SimulatedPerson(beta=beta, seed=seed), new_sitting()
    with page.db.atomic():
        for trial in plan.trials:
            record_answer(page.db, person, sitting, trial, someone.answer(trial), 800)


@pytest.fixture
def dialogs(monkeypatch):
    """Records each AdoptBetaDialog's words and answers it: `dialogs.accept` (True by default) or cancel."""
    from PySide6.QtWidgets import QDialog

    from ageapp.ui.study.adopt_dialog import AdoptBetaDialog

    class Recorder(list):
        accept = True

    shown = Recorder()

    def run(dialog):
        shown.append((dialog.text.text(), dialog.use_button.text()))
        return QDialog.DialogCode.Accepted if shown.accept else QDialog.DialogCode.Rejected

    monkeypatch.setattr(AdoptBetaDialog, "exec", run)
    return shown


def test_results_fit_beta_and_adopt_it_for_labelling(study, message_boxes, dialogs):
    _, page = study
    simulate(page, "ivan", 300, 0.36, seed=5)
    simulate(page, "hana", 10, 0.36, seed=6)
    page.show_results("ivan")
    model = study_results(page.db, "ivan").compare.model
    fitted, (low, high) = model.beta, model.interval
    assert fitted == pytest.approx(0.36, abs=0.12) and low < fitted < high
    view = page.results_view
    assert [view.person_combo.itemText(i) for i in range(view.person_combo.count())] == ["hana", "ivan", "Everyone"]
    assert (f"β = {fitted:.2f} (95%: {low:.2f}–{high:.2f}) from 300 pairs"
            in view.compare_plot.getPlotItem().titleLabel.text)
    gaps, curve = view.fitted_curve.getData()
    np.testing.assert_allclose(curve, 1 / (1 + np.exp(-fitted * gaps)), atol=1e-9)
    _, band_low = view.band_edges[0].getData()
    np.testing.assert_allclose(band_low, 1 / (1 + np.exp(-low * gaps)), atol=1e-9)
    assert "95% interval" in view.results_text.text()
    assert view.adopt_button.isEnabled() and view.adopt_button.text() == f"Use β = {fitted:.2f} for ivan's labelling…"
    # Cancelled: nothing changes.
    dialogs.accept = False
    assert not page.adopt_fitted_beta()
    assert page.db.execute("SELECT count(*) FROM annotators WHERE name = 'ivan'").fetchone()[0] == 0
    assert not view.undo_button.isVisible()
    dialogs.accept = True
    assert page.adopt_fitted_beta()
    text, button = dialogs[-1]
    assert "ivan</b> now: β = 0.36 (default: no gold answers yet)" in text
    assert f"β = {fitted:.2f} (95%: {low:.2f}–{high:.2f}, 300 pairs, study)" in text
    assert "answered no query yet" in text and button == f"Use β = {fitted:.2f}"
    assert page.db.execute("SELECT beta FROM annotators WHERE name = 'ivan'").fetchone()[0] == pytest.approx(fitted)
    assert message_boxes[-1][0] == "β adopted"
    # Undone: the default back.
    assert view.undo_button.isVisible() and view.undo_button.text() == "Undo: ivan back to β = 0.36"
    view.undo_button.click()
    assert page.db.execute("SELECT beta, beta_source FROM annotators WHERE name = 'ivan'").fetchone() == (
        pytest.approx(0.36), "default")
    assert message_boxes[-1][0] == "β put back" and not view.undo_button.isVisible()
    # Everyone pooled: shown, but no single person's β to adopt.
    view.person_combo.setCurrentText("Everyone")
    assert page.results.person is None and not view.adopt_button.isEnabled()
    view.person_combo.setCurrentText("hana")  # 10 pairs: no β
    assert not view.adopt_button.isEnabled() and not page.adopt_fitted_beta()
    assert "10 pairs (β needs 20)" in view.compare_plot.getPlotItem().titleLabel.text


def test_export_from_the_results_view(study, message_boxes, tmp_path):
    _, page = study
    simulate(page, "ivan", 25, 0.36, seed=1)
    page.show_results("ivan")
    answers, fit = page.export_to(tmp_path / "out.csv")
    assert answers.read_text().count("\n") == 1 + 45 and "ivan" in fit.read_text()
    assert message_boxes[-1][0] == "Study exported"
    assert page.export_to(tmp_path / "missing" / "out.csv") is None
    assert message_boxes[-1][0] == "The study was not exported" and "Choose another folder" in message_boxes[-1][1]
