"""File ▸ Preferences…, where the file lives, what moves out of QSettings, what each preference changes, and
Help ▸ Open log folder / Show log file path."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from PySide6.QtCore import QSettings, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication

from ageapp.preferences import Preferences, PreferencesStore
from ageapp.store.settings import get_setting
from ageapp.ui.shell import app as app_module
from ageapp.ui.shell import errors
from ageapp.ui.estimate.page import EstimatePage
from ageapp.ui.estimate.engine import DETECTOR_KEY, EstimationEngine
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.preferences import PreferencesDialog, config_directory, default_store, preferences_path
from ageapp.ui.shell.settings import AppSettings


@pytest.fixture
def store(isolated_qt_settings) -> PreferencesStore:
    return default_store()


def test_the_file_is_in_the_config_folder_and_the_env_moves_it(tmp_path, monkeypatch):
    assert preferences_path() == tmp_path / "config" / "preferences.json"  # conftest: AGEAPP_CONFIG_DIR
    monkeypatch.delenv("AGEAPP_CONFIG_DIR")
    assert config_directory().name == "ageapp"  # QStandardPaths.AppConfigLocation (test mode: under ~/.qttest)


def test_dialog_saves_what_was_entered_and_shows_it_again(qtbot, store, tmp_path):
    detector = tmp_path / "yunet.onnx"
    detector.write_bytes(b"onnx")
    dialog = PreferencesDialog(store)
    qtbot.addWidget(dialog)
    dialog.detector_path.setText(str(detector))
    dialog.camera_index.setValue(2)
    dialog.torch_threads.setValue(3)
    dialog.annotator.setText("  hana ")
    dialog.hide_posterior.setChecked(True)
    dialog.backup_minutes.setValue(30)
    dialog.recent_count.setValue(5)
    dialog.log_level.setCurrentText("DEBUG")
    with qtbot.waitSignal(dialog.saved) as saved:
        dialog.accept()
    assert dialog.result() == PreferencesDialog.DialogCode.Accepted
    on_disk = json.loads(store.path.read_text(encoding="utf-8"))
    assert on_disk == {"version": 2, "detector_path": str(detector), "detector_kind": "yunet", "camera_index": 2,
                       "torch_threads": 3, "annotator": "hana", "hide_posterior": True, "backup_minutes": 30,
                       "recent_projects_count": 5, "recent_projects": [], "log_level": "DEBUG", "training": {}}
    assert saved.args[0].annotator == "hana"

    again = PreferencesDialog(PreferencesStore(store.path))
    qtbot.addWidget(again)
    assert (again.camera_index.value(), again.torch_threads.value(), again.annotator.text()) == (2, 3, "hana")
    assert again.hide_posterior.isChecked() and again.log_level.currentText() == "DEBUG"
    assert again.torch_threads.value() == 3 and again.recent_count.value() == 5


def test_a_missing_detector_file_keeps_the_dialog_open_with_what_to_do(qtbot, store, tmp_path):
    dialog = PreferencesDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.detector_path.setText(str(tmp_path / "gone.onnx"))
    dialog.accept()
    assert dialog.isVisible() and not dialog.problem.isHidden()
    assert "does not exist" in dialog.problem.text() and "clear the field" in dialog.problem.text()
    assert not store.path.exists()


def test_restore_defaults_fills_the_form_but_keeps_recent_projects(qtbot, store, tmp_path):
    project = tmp_path / "a.ageproj"
    project.write_bytes(b"")
    store.save(Preferences(camera_index=3, recent_projects=[str(project)]))
    dialog = PreferencesDialog(store)
    qtbot.addWidget(dialog)
    dialog.buttons.button(dialog.buttons.StandardButton.RestoreDefaults).click()
    assert dialog.camera_index.value() == 0
    dialog.accept()
    assert store.load().camera_index == 0 and store.load().recent_projects == [str(project)]


def test_recent_projects_and_annotator_move_out_of_qsettings(store, tmp_path):
    project = tmp_path / "old.ageproj"
    project.write_bytes(b"")
    legacy = QSettings()
    legacy.setValue("recent_projects", [str(project)])
    legacy.setValue("labelling/annotator", "bo")
    legacy.sync()
    settings = AppSettings()
    assert settings.recent_projects() == [project] and settings.annotator() == "bo"
    assert store.load().recent_projects == [str(project)] and store.load().annotator == "bo"
    assert not QSettings().contains("recent_projects") and not QSettings().contains("labelling/annotator")


def test_only_window_geometry_and_docks_stay_in_qsettings(qtbot, tmp_path, isolated_qt_settings):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.create_project_path(tmp_path / "p.ageproj")
    window.settings.set_annotator("kim")
    window.close()
    assert sorted(QSettings().allKeys()) == ["main_window/geometry", "main_window/state"]


def test_the_recent_projects_count_is_a_preference(qtbot, store, tmp_path):
    store.update(recent_projects_count=2)
    window = MainWindow()
    qtbot.addWidget(window)
    for name in ("a", "b", "c"):
        assert window.create_project_path(tmp_path / f"{name}.ageproj")
    assert window.start_page.recent_paths() == [str(tmp_path / "c.ageproj"), str(tmp_path / "b.ageproj")]


def test_saving_preferences_applies_log_level_and_recent_count_at_once(qtbot, store, tmp_path):
    window = MainWindow()
    qtbot.addWidget(window)
    for name in ("a", "b", "c"):
        assert window.create_project_path(tmp_path / f"{name}.ageproj")
    before = logging.getLogger("ageapp").level
    try:
        dialog = window.show_preferences()
        dialog.recent_count.setValue(1)
        dialog.log_level.setCurrentText("ERROR")
        with qtbot.waitSignal(window.preferences_saved):
            dialog.accept()
        assert logging.getLogger("ageapp").level == logging.ERROR
        assert window.start_page.recent_paths() == [str(tmp_path / "c.ageproj")]
    finally:
        logging.getLogger("ageapp").setLevel(before)


def test_new_projects_take_the_labelling_defaults(qtbot, store, tmp_path):
    store.update(hide_posterior=True, backup_minutes=45)
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.create_project_path(tmp_path / "new.ageproj")
    assert get_setting(window.session.db, "hide_posterior") is True
    assert get_setting(window.session.db, "backup_minutes") == 45


def test_the_estimate_page_takes_detector_camera_and_threads_from_preferences(qtbot, store, tmp_path, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    detector = tmp_path / "yunet.onnx"
    detector.write_bytes(b"not a real model")
    store.update(detector_path=str(detector), camera_index=3, torch_threads=1)
    loaded = []
    engine = EstimationEngine(load_model=None)
    monkeypatch.setattr("ageapp.ui.estimate.engine.load_checkpoint_model",
                        lambda path, threads: loaded.append((path, threads)) or object())
    page = EstimatePage(engine=engine)
    qtbot.addWidget(page)
    assert engine.yunet_path == detector  # the file is taken; an unusable one falls back to Haar with a notice
    assert page.camera.camera_spin.value() == 3
    model = tmp_path / "m.pt"
    model.write_bytes(b"x")
    from ageapp.ui.estimate.engine import FILE, ModelSource

    assert engine.load_model(ModelSource(FILE, model))
    assert engine.wait_for_loader(5000)
    qtbot.waitUntil(lambda: loaded == [(model, 1)], timeout=3000)
    page.shutdown()


def test_the_old_qsettings_detector_key_moves_to_the_preferences(store, tmp_path, monkeypatch):
    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    detector = tmp_path / "yunet.onnx"
    detector.write_bytes(b"x")
    QSettings().setValue(DETECTOR_KEY, str(detector))
    engine = EstimationEngine()
    assert engine.yunet_path == detector
    assert store.load().detector_path == str(detector) and not QSettings().contains(DETECTOR_KEY)
    engine.use_haar()
    assert store.load().detector_kind == "haar" and EstimationEngine().detector_kind == "haar"


def test_help_shows_the_log_path_and_opens_its_folder(qtbot, message_boxes, monkeypatch, tmp_path):
    window = MainWindow()
    qtbot.addWidget(window)
    window.log_path = tmp_path / "logs" / "ageapp.log"
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    actions = {a.text(): a for a in help_menu.actions()}
    actions["Open &log folder"].trigger()
    assert [url.toLocalFile() for url in opened] == [str(tmp_path / "logs")]
    assert (tmp_path / "logs").is_dir()
    actions["Show log file &path"].trigger()
    assert message_boxes[-1][0] == "Log file" and str(tmp_path / "logs" / "ageapp.log") in message_boxes[-1][1]
    assert QGuiApplication.clipboard().text() == str(tmp_path / "logs" / "ageapp.log")


def test_a_folder_that_cannot_be_opened_shows_the_path_instead(qtbot, message_boxes, monkeypatch, tmp_path):
    window = MainWindow()
    qtbot.addWidget(window)
    window.log_path = tmp_path / "ageapp.log"
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    assert window.open_log_folder() is False
    assert "No file manager could be opened" in message_boxes[-1][1] and str(tmp_path / "ageapp.log") in message_boxes[-1][1]


def test_run_app_reports_a_corrupt_preferences_file_and_goes_on(qapp, monkeypatch, message_boxes, tmp_path):
    path = preferences_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 2, "annotator": ', encoding="utf-8")
    monkeypatch.setattr(errors, "log_directory", lambda: tmp_path / "data")
    before, hook_before = qapp.styleSheet(), sys.excepthook

    def close_window():
        for window in [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]:
            window.close()

    QTimer.singleShot(100, close_window)
    try:
        assert app_module.run_app(None) == 0
    finally:
        qapp.setStyleSheet(before)
        sys.excepthook = hook_before
    assert [title for title, _ in message_boxes] == ["Preferences reset"]
    assert f"kept as {path}.bak" in message_boxes[0][1] and "File ▸ Preferences" in message_boxes[0][1]
    assert (tmp_path / "config" / "preferences.json.bak").read_text(encoding="utf-8") == '{"version": 2, "annotator": '
    assert "Preferences reset" not in (tmp_path / "data" / "ageapp.log").read_text(encoding="utf-8")
    assert "was not used" in (tmp_path / "data" / "ageapp.log").read_text(encoding="utf-8")


def test_train_choices_are_remembered_in_the_preferences_and_move_out_of_qsettings(store):
    from ageapp.ui.train.choices import TrainChoices

    legacy = QSettings()
    legacy.beginGroup("training")
    legacy.setValue("net", "tiny")
    legacy.setValue("epochs", "7")  # an INI file gives text back
    legacy.setValue("val_split", "0.3")
    legacy.setValue("extra_sources", ["/data/a", "/data/b"])
    legacy.endGroup()
    legacy.sync()
    choices = TrainChoices.load()
    assert (choices.net, choices.epochs, choices.val_split, choices.extra_sources) == (
        "tiny", 7, 0.3, ["/data/a", "/data/b"])
    assert "training" not in QSettings().childGroups()
    assert store.load().training["epochs"] == 7 and store.load().training["net"] == "tiny"

    choices.batch = 16
    choices.save()
    on_disk = json.loads(store.path.read_text(encoding="utf-8"))["training"]
    assert on_disk["batch"] == 16 and on_disk["extra_sources"] == ["/data/a", "/data/b"]
    assert TrainChoices.load().batch == 16
