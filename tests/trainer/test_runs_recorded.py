"""A run on a project from the command line is recorded in the project (the training domain, trainer.runs):
`ageapp stats` counts it and the app's Runs dialog lists it; resuming it continues the same record."""

from __future__ import annotations

import json

from ageapp.__main__ import main as ageapp_main
from ageapp.store.db import open_project
from ageapp.store.runs import get_run, list_runs
from tests.factories import make_project
from trainer.__main__ import main as trainer_main
from trainer.runs import best_checkpoint, evaluation_of, run_checkpoints


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_cli_run_on_a_project_is_recorded_and_counted(tmp_path, capsys):
    path = tmp_path / "p.ageproj"
    db, *_ = make_project(path, references=60, queries=2)
    db.close()
    out = tmp_path / "run"
    status = trainer_main(["train", "--data", str(path), "--net", "tiny", "--age-max", "70", "--epochs", "1",
                           "--limit", "50", "--batch", "8", "--size", "56", "--out", str(out), "--quiet"])
    summary = last_json(capsys)
    assert status == 0, summary
    assert summary["status"] == "finished" and summary["checkpoint"] == str(best_checkpoint(out))

    assert ageapp_main(["stats", str(path)]) == 0
    assert last_json(capsys)["runs"] == 1
    db = open_project(path, read_only=True)
    try:
        [run] = list_runs(db)
        assert run["id"] == summary["run_id"] and run["status"] == "finished"
        assert run["checkpoint_path"] == str(out / "best.pt") and run_checkpoints(run)[0] == out / "best.pt"
        assert [epoch["epoch"] for epoch in run["epochs"]] == [1]
        assert run["evaluation"] == evaluation_of(run["epochs"], summary) and run["evaluation"]["train"] == 40
    finally:
        db.close()

    status = trainer_main(["train", "--data", str(path), "--net", "tiny", "--age-max", "70", "--epochs", "2",
                           "--limit", "50", "--batch", "8", "--size", "56", "--out", str(out), "--quiet", "--resume"])
    resumed = last_json(capsys)
    assert status == 0 and resumed["run_id"] == summary["run_id"] and resumed["epochs_done"] == 2
    db = open_project(path, read_only=True)
    try:
        run = get_run(db, summary["run_id"])
        assert len(list_runs(db)) == 1 and run["status"] == "finished"
        assert [epoch["epoch"] for epoch in run["epochs"]] == [1, 2]  # the same record, one more epoch
    finally:
        db.close()


def test_a_first_small_project_trains_in_smaller_batches(tmp_path, capsys):
    """The default batch (64) is larger than the 40 training faces of a 50-face run: one batch of 40 an epoch
    instead of a failed run ('no training batch')."""
    path = tmp_path / "p.ageproj"
    db, *_ = make_project(path, references=60, queries=2)
    db.close()
    status = trainer_main(["train", "--data", str(path), "--net", "tiny", "--age-max", "70", "--epochs", "1",
                           "--limit", "50", "--size", "56", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert status == 0 and summary["status"] == "finished" and summary["train"] == 40
    assert "batches of 40 instead" in captured.out + captured.err
