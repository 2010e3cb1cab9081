"""Backbones: MobileFaceNet loads the real checkpoint strictly; every net gives a 128-d feature; torchvision
nets fall back to random weights with a notice when ImageNet weights cannot be downloaded."""

import pytest
import torch

from trainer import nets
from trainer.nets import MobileFaceNet, build_backbone, load_mobilefacenet_weights


@pytest.mark.shared
def test_mobilefacenet_loads_the_casia_checkpoint_strictly(mobilefacenet_checkpoint):
    model = MobileFaceNet()
    state = torch.load(mobilefacenet_checkpoint, map_location="cpu", weights_only=True)["net_state_dict"]
    assert len(state) == 333
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in state.items()}
    load_mobilefacenet_weights(model, mobilefacenet_checkpoint)
    model.eval()
    x = (torch.rand(2, 3, 112, 96) * 255 - 127.5) / 128
    with torch.no_grad():
        feature = model(x)
        mirrored = model(x.flip(-1))
    assert feature.shape == (2, 128)
    # a face-verification embedding is nearly mirror-invariant: a sign that the weights landed where they belong
    cosine = torch.nn.functional.cosine_similarity(feature, mirrored)
    assert (cosine > 0.5).all(), cosine


@pytest.mark.parametrize("name", ["mobilefacenet", "vgg-quarter", "tiny"])
def test_feature_shapes_at_other_sizes(name):
    model = build_backbone(name).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 55)).shape == (2, 128)


def test_torchvision_without_internet_falls_back_to_random_with_a_notice(monkeypatch):
    import torchvision.models as tvm

    real = tvm.mobilenet_v3_small

    def offline(weights=None, **kwargs):
        if weights is not None:
            raise OSError("no internet")
        return real(weights=None, **kwargs)

    monkeypatch.setattr(tvm, "mobilenet_v3_small", offline)
    with pytest.warns(UserWarning, match="RANDOM"):
        model = build_backbone("mobilenet_v3_small", pretrained=True)
    assert "RANDOM" in model.notice
    assert model.eval()(torch.randn(1, 3, 56, 48)).shape == (1, 128)


def test_unknown_net_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of"):
        build_backbone("alexnet")
    assert "tiny" in nets.NET_NAMES
