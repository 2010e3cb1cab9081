"""The loop's hooks for the app: a pause between batches (ended by resume or by a stop), and a NaN loss that
stops the run before the weights are spoilt, with a checkpoint of the weights from just before."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.trainer.test_loop import make_trainer
from trainer.checkpoint import load_checkpoint
from trainer.runtime import NonFiniteLoss


def test_pause_waits_between_batches_until_resumed(tmp_path):
    pause = threading.Event()
    trainer = make_trainer(tmp_path, epochs=1)
    trainer.pause_event = pause
    resumed = threading.Event()
    seen = {}

    def resume():
        resumed.set()  # before the pause ends: a batch seen after it is one that waited for the resume
        pause.clear()

    def on_batch(t, info):
        seen[info["step"]] = resumed.is_set()
        if info["step"] == 2:
            pause.set()
            threading.Timer(0.4, resume).start()

    trainer.add_callback("on_batch_end", on_batch)
    result = trainer.run()
    assert sorted(seen) == [1, 2, 3, 4] and not result["stopped"]
    assert seen == {1: False, 2: False, 3: True, 4: True}  # batch 3 ran only after the resume


def test_a_stop_during_a_pause_ends_the_run_with_a_checkpoint(tmp_path):
    pause, stop = threading.Event(), threading.Event()
    trainer = make_trainer(tmp_path, epochs=2)
    trainer.pause_event, trainer.stop_event = pause, stop
    steps = []

    def on_batch(t, info):
        steps.append(info["step"])
        if info["step"] == 2:
            pause.set()
            threading.Timer(0.2, stop.set).start()

    trainer.add_callback("on_batch_end", on_batch)
    result = trainer.run()
    assert result["stopped"] and steps == [1, 2] and pause.is_set()
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2


def test_a_nan_loss_stops_before_the_step_and_keeps_the_weights_from_before(tmp_path):
    trainer = make_trainer(tmp_path, epochs=2)
    real = trainer.loss_fn.forward
    calls = []

    def poisoned(outputs, targets, genders):
        loss, parts = real(outputs, targets, genders)
        calls.append(1)
        return (loss * float("nan"), parts) if len(calls) == 3 else (loss, parts)

    trainer.loss_fn.forward = poisoned
    with pytest.raises(NonFiniteLoss, match=r"became nan.*epoch 1, batch 3: lower the learning rate \(it was 0.003\)"):
        trainer.run()
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 2 and saved["epoch"] == 0
    for name, value in trainer.model.state_dict().items():
        assert torch.isfinite(value.float()).all(), name
        assert torch.equal(value, saved["model"][name]), name
