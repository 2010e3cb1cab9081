"""The loop: a step lowers the loss, stop within one batch, checkpoint + resume gives the same weights."""

import pytest
import torch

from trainer.checkpoint import load_checkpoint
from trainer.batches import Augment, BatchLoader, genders_tensor, targets_tensor
from trainer.samples import Sample
from trainer.heads import AgeNet
from trainer.config import TrainConfig
from trainer.loop import Trainer

A = 20


def synthetic(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    ages = torch.randint(1, A, (n,), generator=g)
    crops = (torch.rand(n, 112, 96, 3, generator=g) * 80 + ages.view(n, 1, 1, 1) * 8).clamp(0, 255).to(torch.uint8)
    samples = [Sample(f"k{i}", f"p{i}", age=float(a), gender=int(a) % 2) for i, a in enumerate(ages)]
    return crops, samples


def make_trainer(tmp_path, epochs=2, seed=0, lr=3e-3, **overrides):
    torch.manual_seed(seed)
    config = TrainConfig(out=str(tmp_path), net="tiny", age_max=A, epochs=epochs, batch=4, lr=lr, size=56,
                         warmup_epochs=0, seed=seed, **overrides)
    crops, samples = synthetic()
    loader = BatchLoader(crops[:16], targets_tensor(samples[:16], A), genders_tensor(samples[:16]), 4, shuffle=True,
                         augment=Augment(), size=56, seed=seed, drop_last=True)
    val = BatchLoader(crops[16:], targets_tensor(samples[16:], A), genders_tensor(samples[16:]), 8, size=56)
    model = AgeNet("tiny", age_max=A, head=config.head)
    return Trainer(config, model, loader, val, samples[16:], progress=False, log=lambda *a: None)


def test_one_step_lowers_the_loss_on_a_fixed_batch(tmp_path):
    trainer = make_trainer(tmp_path, lr=1e-2)
    images, targets, genders, _ = next(iter(trainer.train_loader))
    def loss_now():
        trainer.model.eval()
        with torch.no_grad():
            return float(trainer.loss_fn(trainer.model(images), targets, genders)[0])
    before = loss_now()
    trainer.train_step(images, targets, genders)
    assert loss_now() < before


def test_consistency_adds_the_weighted_js_divergence_of_the_two_views(tmp_path):
    """With --consistency W on paired batches, the step's loss is the task loss over both views plus W times
    the Jensen-Shannon divergence between the clean and degraded halves, recomputed here from the same weights."""
    from trainer.degrade import Degrade
    from trainer.losses import js_divergence

    trainer = make_trainer(tmp_path, consistency=2.0)
    crops, samples = synthetic()
    trainer.train_loader = BatchLoader(crops[:16], targets_tensor(samples[:16], A), genders_tensor(samples[:16]), 4,
                                       size=56, drop_last=True, degrade=Degrade(probability=0.5), paired=True)
    images, targets, genders, _ = next(iter(trainer.train_loader))
    trainer.model.train()
    with torch.no_grad():  # the same train-mode forward the step will make, before its update
        outputs = trainer.model(images)
        task, _ = trainer.loss_fn(outputs, targets, genders)
        js = js_divergence(outputs["log_posterior"][:4], outputs["log_posterior"][4:])
    value, parts = trainer.train_step(images, targets, genders)
    assert float(js) > 0
    assert abs(parts["consistency"] - float(js)) <= 1e-4 * float(js) + 1e-7
    assert abs(value - (float(task) + 2.0 * float(js))) <= 1e-4 * value


def test_consistency_without_degradation_is_refused(tmp_path):
    from trainer.train import train

    with pytest.raises(ValueError, match="--degrade above 0"):
        train(TrainConfig(out=str(tmp_path), consistency=1.0, degrade=0.0))


def test_stop_is_honoured_within_one_batch_and_checkpointed(tmp_path):
    trainer = make_trainer(tmp_path)
    seen = []
    trainer.add_callback("on_batch_end", lambda t, info: (seen.append(info["step"]), info["step"] == 2 and t.request_stop()))
    result = trainer.run()
    assert result["stopped"] and seen == [1, 2]
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 2 and saved["epoch"] == 0
    assert set(saved) >= {"format", "version", "model", "optimizer", "scheduler", "config", "epoch", "history", "seed"}


def test_epochs_write_last_and_best_and_report(tmp_path):
    trainer = make_trainer(tmp_path, epochs=2)
    epochs = []
    trainer.add_callback("on_epoch_end", lambda t, metrics: epochs.append(metrics))
    trainer.run()
    assert [m["epoch"] for m in epochs] == [1, 2] and "val_mae" in epochs[0]
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_mae"] == min(m["val_mae"] for m in epochs)


def test_resume_mid_epoch_gives_the_same_weights(tmp_path):
    straight = make_trainer(tmp_path / "a")
    straight.run()
    interrupted = make_trainer(tmp_path / "b")
    interrupted.add_callback("on_batch_end", lambda t, info: info["step"] == 3 and t.request_stop())
    interrupted.run()
    resumed = make_trainer(tmp_path / "b", seed=0)
    torch.manual_seed(123)  # a different fresh init: everything must come from the checkpoint
    resumed.restore(load_checkpoint(tmp_path / "b" / "last.pt"))
    resumed.run()
    assert resumed.step == straight.step == 8
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name  # float32 weights; a lost optimizer state moves them 1e-4+


def test_onecycle_and_concentration_checkpoint_loads_weights_only(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, schedule="onecycle", head="concentration")
    trainer.run()
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["config"]["schedule"] == "onecycle" and saved["scheduler"]["total_steps"] == 4
    again = make_trainer(tmp_path / "again", epochs=1, schedule="onecycle", head="concentration")
    again.restore(saved)
    assert again.step == 4
