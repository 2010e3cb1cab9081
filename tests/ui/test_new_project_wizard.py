"""File ▸ New project…: the wizard end to end on a small folder this test writes: the pages, one progress over the
import and the gender step, Cancel, running it again (nothing twice), the summary, and the project opened."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtWidgets import QWizard

import ageapp.ui.project.wizard as wizard_module
from ageapp.store.db import open_project
from ageapp.store.settings import get_setting
from ageapp.ui.project.fields import start_folder
from ageapp.ui.project.task import Eta
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from tests.data.test_importers import write_image

REFERENCE_AGES = [3, 12, 25, 38, 47, 60]


class HalfFemale:
    template = "chip"

    def predict_crops(self, crops):
        return np.zeros((len(crops), 101)), np.array([0.97, 0.02] * len(crops))[: len(crops)]


@pytest.fixture
def folders(tmp_path):
    references, queries = tmp_path / "refs", tmp_path / "queries"
    for index, age in enumerate(REFERENCE_AGES):
        write_image(references / f"{age}_{index % 2}_0_20170109{index:05d}.jpg.chip.jpg", index, size=48)
    for index in range(8):
        write_image(queries / f"face{index}.jpg", 50 + index, size=48)
    return references, queries


def fill_in(wizard, path, references, queries, age_max=90):
    """The pages as a user fills them; stops on the detector page (the commit point)."""
    wizard.project.file.set_path(path)
    wizard.project.age_max.setValue(age_max)
    wizard.next()
    wizard.references.fields.set_source(references, "utkface", aligned=True)
    wizard.next()
    wizard.queries.fields.set_source(queries, "folder", aligned=True)
    wizard.next()
    wizard.detector.detector.set_path(None)
    assert wizard.currentPage() is wizard.detector and "Haar cascade" in wizard.detector.notice.text()


def test_the_wizard_imports_with_one_progress_cancels_runs_again_and_opens_the_project(qtbot, tmp_path, folders,
                                                                                       monkeypatch):
    references, queries = folders
    window = MainWindow(AppSettings())
    qtbot.addWidget(window)
    wizard = window.new_project()
    wizard.load_model = lambda path: HalfFemale()
    path = tmp_path / "study"  # the suffix is added
    fill_in(wizard, path, references, queries)

    # The worker waits for the window to have shown its 3rd image before going on, so that Cancel (clicked on
    # seeing it) lands in the middle of the references: deterministic, without timing.
    shown, seen = threading.Event(), []
    real_import = wizard_module.import_sources

    def paced_import(db, sources, on_progress, **kwargs):
        def progress(done, total, step):
            on_progress(done, total, step)
            if step.startswith("finding faces") and done == 3 and not shown.is_set():
                shown.wait(10)
        return real_import(db, sources, on_progress=progress, **kwargs)

    def watch(done, total, step):
        seen.append((done, total, step))
        if step.startswith("finding faces") and done == 3 and not shown.is_set():
            page.progress.cancel_button.click()
            shown.set()

    monkeypatch.setattr(wizard_module, "import_sources", paced_import)
    page = wizard.importing
    page.progress.show_progress = watch  # the worker's signal is connected when it starts, below
    wizard.next()  # "Create and import"
    assert wizard.currentPage() is page and wizard.created == tmp_path / "study.ageproj"
    qtbot.waitUntil(lambda: page.worker is None, timeout=20000)
    assert page.report.interrupted and page.again.isVisible() and not page.failure
    assert "cancelled" in page.summary.toPlainText()
    with open_project(wizard.created, read_only=True) as db:
        kept = db.execute("SELECT count(*) FROM images").fetchone()[0]
        assert get_setting(db, "age_max") == 90
    # the 3 images committed before the Cancel; the total counts 6 + 8 images and 8 faces without a gender label
    assert kept == 3 and all(total == 6 + 8 + 8 for _, total, _ in seen[1:])

    shown.set()
    page.progress.show_progress = lambda *args: seen.append(args)
    page.again.click()
    qtbot.waitUntil(lambda: page.worker is None, timeout=20000)
    report = page.report.as_dict()
    assert not page.report.interrupted and not page.again.isVisible()
    assert (report["imported"], report["skipped"], report["duplicates"], report["faces_found"]) == (
        14 - kept, kept, 0, 14 - kept)
    assert page.report.genders["predicted"] == 8  # the queries: the references' names carry their gender
    assert seen[-1][:2] == (seen[-1][1], 14 + 8) and seen[-1][2] == "predicting genders"
    text = page.summary.toPlainText()
    assert "imported 3 reference images" in text and "imported 8 query images" in text
    assert "skipped (already in the project): 3" in text
    assert page.warning.isVisible() and "span 3-60 but the project's range is 0-90" in page.warning.text()
    with open_project(wizard.created, read_only=True) as db:
        assert db.execute("SELECT count(*), count(DISTINCT sha1) FROM images").fetchone() == (14, 14)
        assert db.execute("SELECT count(*) FROM faces WHERE gender_predicted IS NOT NULL").fetchone()[0] == 8

    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    wizard.accept()
    assert window.session.path == (tmp_path / "study.ageproj").resolve()


def test_the_wizard_refuses_an_existing_file_and_a_missing_folder_with_what_to_do(qtbot, tmp_path, folders):
    window = MainWindow(AppSettings())
    qtbot.addWidget(window)
    wizard = window.new_project()
    (tmp_path / "taken.ageproj").write_bytes(b"")
    wizard.project.file.set_path(tmp_path / "taken.ageproj")
    wizard.next()
    assert wizard.currentPage() is wizard.project and "already exists" in wizard.project.problem.text()
    wizard.project.file.set_path(tmp_path / "fresh.ageproj")
    wizard.next()
    wizard.references.fields.set_source(tmp_path / "nowhere")
    wizard.next()
    assert wizard.currentPage() is wizard.references and "does not exist" in wizard.references.problem.text()
    wizard.references.fields.set_source(folders[0], "utkface", aligned=True)
    wizard.next()
    wizard.next()
    wizard.detector.detector.set_path(tmp_path / "yunet.onnx")
    wizard.next()
    assert wizard.currentPage() is wizard.detector and "does not exist" in wizard.detector.problem.text()
    assert not (tmp_path / "fresh.ageproj").exists()  # nothing is created before the commit page
    wizard.reject()
    assert window.session.path is None


def test_an_empty_project_is_made_and_opened_when_no_folder_is_given(qtbot, tmp_path):
    window = MainWindow(AppSettings())
    qtbot.addWidget(window)
    wizard = window.new_project()
    wizard.project.file.set_path(tmp_path / "empty.ageproj")
    for _ in range(3):
        wizard.next()
    wizard.next()
    qtbot.waitUntil(lambda: wizard.importing.worker is None, timeout=10000)
    assert "the project was created empty; import faces with File ▸ Import…" in wizard.importing.summary.toPlainText()
    assert "no references of known age" in wizard.importing.warning.text()
    wizard.accept()
    assert window.session.path == (tmp_path / "empty.ageproj").resolve()
    assert get_setting(window.session.db, "age_max") == 100


def test_file_dialogs_start_in_the_last_folder_used_else_the_projects(tmp_path):
    settings = AppSettings()
    assert start_folder(settings, "images", tmp_path / "p.ageproj") == str(tmp_path)
    (tmp_path / "photos").mkdir()
    settings.set_last_folder("images", tmp_path / "photos")
    assert start_folder(settings, "images", tmp_path / "p.ageproj") == str(tmp_path / "photos")
    assert start_folder(settings, "exports", tmp_path / "p.ageproj") == str(tmp_path)


def test_the_time_left_is_measured_afresh_for_each_step():
    now = [0.0]
    eta = Eta(lambda: now[0])
    assert eta.update(0, 100, "faces") is None  # a new step: nothing measured yet
    now[0] = 2.0
    assert eta.update(10, 100, "faces") == pytest.approx(90 * 0.2)  # 10 items in 2 s
    now[0] = 3.0
    assert eta.update(60, 100, "genders") is None
    now[0] = 5.0
    assert eta.update(80, 100, "genders") == pytest.approx(20 * 0.1)  # 20 faces in 2 s
