"""The labelling page with a broken active model: it gives way to the shipped default, the page says so, and
the first pair is shown (it once raised KeyError and showed nothing)."""

from __future__ import annotations

import torch

from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.core.selection import Protocol
from ageapp.store.runs import activate_model, add_model
from ageapp.ui.label.page import install_label_page
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from tests.factories import make_project


def test_a_broken_active_model_gives_way_to_the_default_and_the_page_says_so(qtbot, tmp_path):
    broken = tmp_path / "broken.pt"
    torch.save({"format": "ageapp-age-net", "version": 2, "model_args": {"age_max": "abc"}, "model": {}}, broken)
    path = tmp_path / "study.ageproj"
    db = make_project(path, references=40, queries=4)[0]
    save_labelling_settings(db, LabellingSettings(Protocol("paper", comparisons=3), gold_rate=0.0))
    activate_model(db, add_model(db, "broken run", str(broken)))
    db.close()
    AppSettings().set_annotator("alice")
    window = MainWindow()
    page = install_label_page(window)
    qtbot.addWidget(window)
    assert window.open_project_path(path)
    assert page.task is not None and page.task.kind == "query"  # a pair is on screen
    notice = page.notice.text()
    assert "the project's active model broken run cannot be used" in notice
    assert "age range (age_max) is 'abc'" in notice and "using the default model (default.onnx) instead" in notice
