"""The researcher's loop in the window: a run's recorded curves come back after reopening, the runs table shows
calibrated figures and which calibration (method, faces) its checkpoint carries, a double-click activates
nothing, a Pause pressed while the last batch's validation runs holds the run, and Runs ▸ Evaluate… shows the
figures `python -m trainer evaluate` gives on the same faces, with the reliability diagram and error by age."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ageapp.core.calibration import Calibration
from ageapp.resources import resource_path
from ageapp.store.db import open_project
from ageapp.store.runs import add_epoch, finish_run, start_run
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.train.curves import ReadableAxis, TrainingCurves
from ageapp.ui.train.evaluation_dialog import ROWS, EvaluationDialog
from ageapp.ui.train.page import PAGE_NAME, install_train_page
from ageapp.ui.train.policy import PAUSED
from ageapp.ui.train.runs_dialog import COLUMNS, RunsDialog
from tests.conftest import write_untrained_checkpoint
from tests.factories import make_project
from tests.ui.test_train_page import RUN_TIMEOUT_MS, choose_tiny, project, window  # noqa: F401 (fixtures)
from trainer.checkpoint import load_checkpoint, save_checkpoint

EPOCHS = [{"epoch": 1, "train_loss": 3.1, "val_loss": 3.0, "val_mae": 13.5583, "val_ca3": 10.0, "val_ca5": 20.0,
           "val_coverage90": 16.7, "val_nll": 4.9},
          {"epoch": 2, "train_loss": 2.9, "val_loss": 2.8, "val_mae": 12.0, "val_ca3": 15.0, "val_ca5": 30.0,
           "val_coverage90": 40.0, "val_nll": 4.5}]


def _column(name: str) -> int:
    return [header for header, *_ in COLUMNS].index(name)


def _recorded_run(db, folder: Path, calibration: Calibration | None) -> int:
    """A finished run recorded as the Train page records one, its best.pt carrying `calibration`."""
    folder.mkdir(parents=True)
    best = write_untrained_checkpoint(folder / "best.pt", net="tiny", age_max=40, size=48)
    if calibration is not None:
        checkpoint = load_checkpoint(best)
        checkpoint["calibration"] = calibration.to_dict()
        save_checkpoint(checkpoint, best)
    run_id = start_run(db, {"out": str(folder), "net": "tiny", "epochs": 2, "data": "x.ageproj"})
    for metrics in EPOCHS:
        add_epoch(db, run_id, metrics)
    finish_run(db, run_id, "finished", checkpoint_path=str(best),
               evaluation={"best_epoch": 2, "epochs_done": 2, "mae": 12.0, "coverage90": 40.0, "nll": 4.5})
    return run_id


def test_the_runs_table_names_the_calibration_and_keeps_curves_after_reopening(qtbot, tmp_path):
    path = tmp_path / "p.ageproj"
    db, *_ = make_project(path, references=3, queries=1)
    after = {"coverage50": 49.0, "coverage80": 79.5, "coverage90": 89.7, "coverage95": 94.0, "nll": 3.2}
    calibrated = _recorded_run(db, tmp_path / "runs" / "a", Calibration(method="temperature", temperature=1.3, n=31,
                                                                          after=after))
    raw = _recorded_run(db, tmp_path / "runs" / "b", None)
    db.close()

    db = open_project(path)  # reopened: everything below comes from the project and the run folders
    try:
        dialog = RunsDialog(db)
        qtbot.addWidget(dialog)
        rows = {dialog.model.run_at(r)["id"]: r for r in range(dialog.model.rowCount())}
        text = lambda run_id, name: dialog.model.index(rows[run_id], _column(name)).data()  # noqa: E731
        assert text(calibrated, "Calibration") == "temperature on 31 faces"
        assert text(calibrated, "Cov. 90 %") == "89.7 *"  # on its calibration faces until evaluated
        assert text(calibrated, "NLL") == "3.200 *"
        assert text(raw, "Calibration") == "none (uncalibrated)" and text(raw, "Cov. 90 %") == "40.0 (raw)"
        tip = dialog.model.index(rows[raw], _column("Cov. 90 %")).data(Qt.ItemDataRole.ToolTipRole)
        assert "before calibration" in tip

        dialog.select_run(calibrated)
        assert "calibration: temperature on 31 faces" in dialog.status.text()
        assert dialog.curves.epochs == EPOCHS and dialog.curves.best_epoch["epoch"] == 2  # the curves are back
        mae_x, mae_y = dialog.curves.mae_curve.getData()
        assert list(mae_x) == [1, 2] and list(mae_y) == [13.5583, 12.0]

        dialog.table.doubleClicked.emit(dialog.proxy.index(0, 0))  # a double-click activates nothing
        assert not any(dialog.model.run_at(r).get("active") for r in range(dialog.model.rowCount()))

        # A held-out evaluation kept in the run's folder is what the table shows then, unmarked.
        (tmp_path / "runs" / "a" / "evaluation.json").write_text(json.dumps(
            {"kind": "ageapp-run-evaluation", "version": 1, "metrics": {"coverage90": 88.4, "nll": 3.31}}))
        dialog.refresh()
        assert text(calibrated, "Cov. 90 %") == "88.4" and text(calibrated, "NLL") == "3.310"
    finally:
        db.close()


def test_ticks_read_as_numbers_and_one_epoch_spans_a_readable_range(qtbot):
    axis = ReadableAxis("left")
    assert axis.tickStrings([13.55830000000004, 13.6], 1.0, 0.1) == ["13.6", "13.6"]
    assert axis.tickStrings([12.0, 14.0], 1.0, 2.0) == ["12", "14"]
    assert axis.tickStrings([0.25, 0.5], 1.0, 0.05) == ["0.25", "0.50"]
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    epochs = ReadableAxis("bottom", integer=True)  # epochs are whole: no "0.5" on their axis
    assert all(float(v).is_integer() for _, values in epochs.tickValues(0.0, 2.0, 400) for v in values)
    curves.add_epoch(EPOCHS[0])  # one epoch: one point
    low, high = curves.mae_plot.viewRange()[1]
    assert high - low == pytest.approx(1.0) and low < 13.5583 < high
    low, high = curves.ca_plot.viewRange()[1]
    assert high - low == pytest.approx(10.0)


def test_a_pause_during_the_last_validation_holds_the_run(qtbot, window, monkeypatch):  # noqa: F811
    import trainer.loop

    page = window.page(PAGE_NAME)
    choose_tiny(page, epochs=1)
    validating, pressed = threading.Event(), threading.Event()
    real = trainer.loop.Trainer.validate

    def validate(self):  # the user presses Pause while the last batch's validation runs
        validating.set()
        pressed.wait(30)
        return real(self)

    monkeypatch.setattr(trainer.loop.Trainer, "validate", validate)
    ended = []
    page.run_ended.connect(ended.append)
    assert page.start_training()
    worker = page.worker
    qtbot.waitUntil(validating.is_set, timeout=RUN_TIMEOUT_MS)
    page.toggle_pause()
    assert page.state == PAUSED
    pressed.set()
    qtbot.waitUntil(lambda: worker.held_after_epoch == 1, timeout=RUN_TIMEOUT_MS)
    assert not ended and worker.isRunning()  # held before the calibration that would end it
    with qtbot.waitSignal(page.run_ended, timeout=RUN_TIMEOUT_MS) as blocker:
        page.toggle_pause()
    assert blocker.args == ["finished"] and worker.held_after_epoch is None
    assert "1 epoch," in page.banner_text() and "calibration:" in page.banner_text()


def test_the_evaluation_dialog_shows_what_the_trainer_cli_says(qtbot, tmp_path, utkface_images, yunet_model, capsys,
                                                                monkeypatch):
    from trainer.__main__ import main as trainer_main

    monkeypatch.setenv("AGEAPP_CACHE_DIR", str(tmp_path / "cache"))
    faces = tmp_path / "faces"
    faces.mkdir()
    for name in sorted(utkface_images.iterdir())[::800][:24]:
        shutil.copy(name, faces / name.name)
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    model = run_folder / "best.pt"
    shutil.copy(resource_path("models/default.pt"), model)  # a calibrated model (mondrian: quality and age bands)

    assert trainer_main(["evaluate", "--data", str(faces), "--aligned", "--model", str(model), "--detector",
                         str(yunet_model), "--device", "cpu", "--quiet"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli["n"] == 24 and cli["calibration"] == "mondrian"

    run = {"id": 7, "config": {"out": str(run_folder), "net": "mobilefacenet", "detector": str(yunet_model)},
           "evaluation": None, "epochs": []}
    dialog = EvaluationDialog(run)
    qtbot.addWidget(dialog)
    assert not dialog.held_out_radio.isEnabled()  # no split file: a chosen folder only
    dialog.folder_edit.setText(str(faces))
    dialog.aligned_check.setChecked(True)
    stages = []
    assert dialog.start()
    dialog.worker.progress.connect(lambda stage, done, total, left: stages.append((stage, done, total)))
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=120_000)
    assert dialog.result is not None, dialog.status.text()
    shown = json.loads(json.dumps(dialog.result.metrics, default=str))
    assert shown == cli  # the same figures, to the last digit
    figures = dialog.figures()
    for _, key, fmt in ROWS:
        if key in cli:
            assert figures[key][0] == fmt.format(cli[key]), key
        if key in cli.get("uncalibrated", {}):
            assert figures[key][1] == fmt.format(cli["uncalibrated"][key]), key
    assert figures["coverage90"][1] != "—" and figures["ca5"][1] == "—"  # raw figures where the CLI gives them
    assert "24 faces" in dialog.faces_label.text() and "mondrian" in dialog.faces_label.text()
    assert any(stage == "predict" for stage, _, _ in stages) or dialog.progress_bar.format() == "Done"

    # The plots: the reliability diagram (calibrated, and raw dashed) and the error by age, from the same faces.
    nominal, observed = dialog.plots.calibrated_curve.getData()
    # (the CLI rounds a percentage to 3 decimals: within 5e-6 as a fraction)
    assert len(nominal) == 19 and observed[-1] == pytest.approx(cli["coverage95"] / 100, abs=5e-6)
    assert observed[nominal.tolist().index(0.9)] == pytest.approx(cli["coverage90"] / 100, abs=5e-6)
    raw_x, raw_y = dialog.plots.raw_curve.getData()
    assert raw_y[nominal.tolist().index(0.9)] == pytest.approx(cli["uncalibrated"]["coverage90"] / 100, abs=5e-6)
    counts = [int(label.toPlainText()) for label in dialog.plots.count_labels if label.isVisible()]
    assert sum(counts) == 24
    assert not (run_folder / "evaluation.json").exists()  # a chosen folder's figures are shown, not kept
    dialog.shutdown()


def test_an_evaluation_can_be_cancelled_and_a_held_out_one_is_kept(qtbot, window, project,  # noqa: F811
                                                                   monkeypatch):
    import threading

    import trainer.evaluate

    page = window.page(PAGE_NAME)
    choose_tiny(page, epochs=1)
    with qtbot.waitSignal(page.run_ended, timeout=RUN_TIMEOUT_MS):
        assert page.start_training()
    runs = page.show_runs()
    run = runs.selected_run()
    dialog = runs.evaluate()
    qtbot.addWidget(dialog)
    assert dialog.held_out_radio.isChecked()
    # the first evaluation waits, before its predictions, until Cancel has been pressed: a tiny project cannot
    # finish before the cancel is seen
    cancelled, real = threading.Event(), trainer.evaluate.evaluate_model
    calls = []

    def held(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            assert cancelled.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer.evaluate, "evaluate_model", held)
    assert dialog.start()
    dialog.cancel()
    cancelled.set()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert dialog.result is None and dialog.status.text() == "Cancelled: nothing was kept."
    assert not (Path(run["config"]["out"]) / "evaluation.json").exists()
    with qtbot.waitSignal(dialog.evaluated, timeout=60_000):
        dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert calls  # the evaluation after the cancelled one ran the model
    kept = json.loads((Path(run["config"]["out"]) / "evaluation.json").read_text())
    assert kept["metrics"]["n"] == dialog.result.metrics["n"] > 0
    row = runs.model.row_of(run["id"])
    coverage = runs.model.index(row, _column("Cov. 90 %")).data()
    assert coverage == f"{dialog.result.metrics['coverage90']:.1f}"  # the held-out figure, unmarked
    assert np.isfinite(dialog.result.metrics["nll"])
    dialog.shutdown()


def test_progress_reports_time_left_and_a_cancel_stops_at_once():
    from ageapp.ui.train.run_details import EvaluationCancelled, progress_reporter

    reports, now, stop = [], [0.0], [False]
    progress = progress_reporter(lambda *args: reports.append(args), lambda: stop[0], clock=lambda: now[0])
    seen = []
    for item in progress(range(4), total=4, desc="predict"):
        seen.append(item)
        now[0] += 2.0  # two seconds an item
    assert seen == [0, 1, 2, 3]
    assert reports == [("predict", 0, 4, -1.0), ("predict", 1, 4, 6.0), ("predict", 2, 4, 4.0),
                       ("predict", 3, 4, 2.0), ("predict", 4, 4, 0.0)]
    stop[0] = True
    with pytest.raises(EvaluationCancelled):
        list(progress(range(100), total=100, desc="face crops"))


def test_activating_a_run_switches_the_estimate_pages_model_and_reruns_its_photos(qtbot, tmp_path, fgnet_images,
                                                                                  monkeypatch):
    from ageapp.ui.estimate import engine as estimation_engine
    from ageapp.ui.estimate.page import EstimatePage, install_estimate_page
    from tests.estimation.conftest import NoisyAgeModel

    default = tmp_path / "default.onnx"
    default.write_bytes(b"weights")
    monkeypatch.setattr(estimation_engine, "default_model_path", lambda: default)

    def load(path):
        model = NoisyAgeModel()
        model.path, model.summary = path, f"noisy age network ({path.name})"
        return model

    path = tmp_path / "p.ageproj"
    db, *_ = make_project(path, references=3, queries=1)
    run_id = _recorded_run(db, tmp_path / "runs" / "a", None)
    db.close()
    window = MainWindow()
    qtbot.addWidget(window)
    estimate = install_estimate_page(window, page=EstimatePage(
        engine=estimation_engine.EstimationEngine(load_model=load)))
    train = install_train_page(window)
    assert window.open_project_path(path)
    try:
        panel = estimate.photos
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            estimate.drop_paths([str(fgnet_images / "009A14.JPG")])
        assert panel.results[0].model == str(default)
        runs = train.show_runs()
        runs.select_run(run_id)
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            runs.activate_button.click()  # Train ▸ Runs… ▸ Make active model
        best = tmp_path / "runs" / "a" / "best.pt"
        assert panel.results[0].model == str(best) and estimate.engine.source.path == best
        assert "labelling and estimation use it" in runs.status.text()
    finally:
        estimate.shutdown()
        train.shutdown()
