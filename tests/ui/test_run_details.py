"""A run's kept held-out evaluation (evaluation.json) is shown only while it is its model's: once the run is resumed
or trained again (a newer best.pt), the runs table falls back to what else it knows."""

from __future__ import annotations

import os

from ageapp.ui.train.run_details import (
    EVALUATION_FILE,
    EvaluationRequest,
    EvaluationResult,
    calibrated_figure,
    run_evaluation_record,
    save_run_evaluation,
)


def test_a_kept_evaluation_counts_only_while_its_model_is_the_runs(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    best = out / "best.pt"
    best.write_bytes(b"weights")
    run = {"id": 3, "config": {"out": str(out)}, "evaluation": {"coverage90": 71.5}, "epochs": []}
    monkeypatch.setattr("ageapp.ui.train.run_details.run_calibration", lambda run: None)  # no checkpoint to read
    saved = save_run_evaluation(run, EvaluationRequest(model=str(best), data="faces", held_out=True),
                                EvaluationResult({"coverage90": 90.4}))
    assert saved == out / EVALUATION_FILE
    made = saved.stat().st_mtime
    os.utime(best, (made - 60, made - 60))  # trained, then evaluated
    assert run_evaluation_record(run)["metrics"] == {"coverage90": 90.4}
    assert calibrated_figure(run, "coverage90") == (90.4, "held-out")
    os.utime(best, (made + 60, made + 60))  # resumed since: a new best.pt
    assert run_evaluation_record(run) is None
    assert calibrated_figure(run, "coverage90") == (71.5, "raw")  # the record's own figure, marked raw
    best.unlink()  # the model is gone: what was measured stays
    assert calibrated_figure(run, "coverage90") == (90.4, "held-out")
