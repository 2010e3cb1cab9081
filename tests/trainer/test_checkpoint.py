"""Checkpoints: one dict, atomic save, weights_only loading, refusals with clear errors."""

import pickle

import pytest
import torch

from trainer.checkpoint import (CheckpointError, load_checkpoint, load_init_weights, make_checkpoint,
                                model_from_checkpoint, safe_load, save_checkpoint)
from trainer.heads import AgeNet


def small_checkpoint(age_max=20, head="paper"):
    model = AgeNet("tiny", age_max=age_max, head=head)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    config = {"net": "tiny", "age_max": age_max, "head": head, "beta": 0.36, "loss": "joint", "size": 56}
    return model, make_checkpoint(model, optimizer, None, config, epoch=2, step=10,
                                  history=[{"epoch": 1, "val_mae": 3.5}], seed=7, best_mae=3.5)


def test_round_trip(tmp_path):
    model, checkpoint = small_checkpoint()
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(checkpoint, path)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left behind
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 2 and loaded["seed"] == 7 and loaded["history"][0]["val_mae"] == 3.5
    rebuilt, _ = model_from_checkpoint(path)
    x = torch.rand(2, 3, 56, 48) * 255
    model.eval()
    assert torch.allclose(rebuilt(x)["log_posterior"], model(x)["log_posterior"])


class Payload:
    """A pickle that would run code (create a file) when unpickled without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_with_code_is_refused_never_executed(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pt"
    torch.save({"format": "ageapp-age-net", "model": Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same for a plain pickle file
    path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError):
        safe_load(path)
    assert not marker.exists()


def test_not_ours_and_wrong_architecture(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not an age-network checkpoint"):
        load_checkpoint(other)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(garbage)
    _, checkpoint = small_checkpoint()
    checkpoint["model_args"]["net"] = "vgg-quarter"  # claims another network
    with pytest.raises(CheckpointError, match="do not fit"):
        model_from_checkpoint(checkpoint)


def test_a_version_1_checkpoint_is_upgraded_with_the_face_verification_template():
    model, checkpoint = small_checkpoint()
    old = {key: value for key, value in checkpoint.items() if key not in ("model_args", "calibration")}
    old["version"] = 1
    loaded, upgraded = model_from_checkpoint(old)
    description = upgraded["description"]
    assert (description.net, description.age_max, description.template) == ("tiny", checkpoint["config"]["age_max"], "mfn")
    assert description.calibration.is_identity
    crops = torch.rand(2, 3, 112, 96) * 255
    with torch.no_grad():
        assert torch.equal(loaded(crops)["log_posterior"], model.eval()(crops)["log_posterior"])


def test_init_from_our_checkpoint_and_backbone_only(tmp_path):
    model, checkpoint = small_checkpoint(age_max=20)
    path = tmp_path / "a.pt"
    save_checkpoint(checkpoint, path)
    same = AgeNet("tiny", age_max=20)
    assert "whole model" in load_init_weights(same, path)
    other_range = AgeNet("tiny", age_max=30)  # heads differ: the backbone is taken
    said = load_init_weights(other_range, path)
    assert "backbone" in said and "(ages 0-30 against its 0-20)" in said
    assert torch.equal(other_range.backbone.project.weight, model.backbone.project.weight)
    with pytest.raises(CheckpointError):
        load_init_weights(AgeNet("vgg-quarter", age_max=20), path)
