"""Feature extractors (backbones): each maps a normalised N x 3 x H x W image batch to an N x 128 feature.

- `mobilefacenet`: MobileFaceNet (Chen et al., 2018), laid out exactly as the CASIA-WebFace checkpoint in
  ../shared/models (every key and shape matches; strict load). Its 128-d embedding is the feature.
- `vgg-quarter`: the paper's VGG-16 with a quarter of the filters per conv layer and a 128-d feature
  (batch norm added so that it trains from scratch in a few epochs).
- `mobilenet_v3_small`, `resnet18`: torchvision models with ImageNet weights when they can be downloaded,
  else random initialisation with a notice; their pooled feature is projected to 128-d.

Each backbone declares how its input is normalised (`input_mean`, `input_std`, on RGB 0..255 values); the
age network (heads.AgeNet) takes crops as they come (BGR, 0..255) and does the conversion itself.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
import torch.nn.functional as F

from ageapp.core.model_description import NETS

FEATURE_DIM = 128
NET_NAMES = NETS  # the one list, in the model description

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


# ---------------------------------------------------------------------------------------------- MobileFaceNet
class ConvBlock(nn.Module):
    """conv -> BN -> PReLU (or no activation when linear); names match the checkpoint (conv, bn, prelu)."""

    def __init__(self, inp, oup, kernel, stride, padding, depthwise=False, linear=False):
        super().__init__()
        self.linear = linear
        groups = inp if depthwise else 1
        self.conv = nn.Conv2d(inp, oup, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(oup)
        if not linear:
            self.prelu = nn.PReLU(oup)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project (linear); residual when shapes allow."""

    def __init__(self, inp, oup, stride, expansion):
        super().__init__()
        hidden = inp * expansion
        self.connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        return x + self.conv(x) if self.connect else self.conv(x)


# (expansion t, output channels c, repeats n, first stride s), from the MobileFaceNet paper's Table 1.
MOBILEFACENET_SETTING = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


class MobileFaceNet(nn.Module):
    """MobileFaceNet for 112 x 96 (H x W) aligned faces; other sizes are pooled to the 7 x 6 map its global
    depthwise layer expects."""

    input_mean = (127.5, 127.5, 127.5)
    input_std = (128.0, 128.0, 128.0)
    feature_dim = FEATURE_DIM

    def __init__(self):
        super().__init__()
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, depthwise=True)
        blocks, inp = [], 64
        for expansion, channels, repeats, stride in MOBILEFACENET_SETTING:
            for i in range(repeats):
                blocks.append(Bottleneck(inp, channels, stride if i == 0 else 1, expansion))
                inp = channels
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = ConvBlock(128, 512, 1, 1, 0)
        self.linear7 = ConvBlock(512, 512, (7, 6), 1, 0, depthwise=True, linear=True)
        self.linear1 = ConvBlock(512, FEATURE_DIM, 1, 1, 0, linear=True)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")

    def forward(self, x):
        x = self.conv2(self.blocks(self.dw_conv1(self.conv1(x))))
        if x.shape[-2:] != (7, 6):
            x = F.adaptive_avg_pool2d(x, (7, 6))
        return self.linear1(self.linear7(x)).flatten(1)


# ------------------------------------------------------------------------------------------------ VGG quarter
VGG16_QUARTER = (16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128, 128, 128, "M", 128, 128, 128, "M")


class VGGQuarter(nn.Module):
    """VGG-16 with a quarter of the filters (16 ... 128), fc 1024, and a 128-d feature."""

    input_mean = IMAGENET_MEAN
    input_std = IMAGENET_STD
    feature_dim = FEATURE_DIM

    def __init__(self):
        super().__init__()
        layers, inp = [], 3
        for item in VGG16_QUARTER:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out = item
            layers += [nn.Conv2d(inp, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            inp = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((3, 3))
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(inp * 9, 1024), nn.ReLU(inplace=True), nn.Dropout(0.3),
            nn.Linear(1024, FEATURE_DIM), nn.BatchNorm1d(FEATURE_DIM),
        )

    def forward(self, x):
        return self.fc(self.pool(self.features(x)))


# ------------------------------------------------------------------------------------------------ torchvision
class TorchvisionBackbone(nn.Module):
    """A torchvision classifier's pooled features, projected to 128-d."""

    input_mean = IMAGENET_MEAN
    input_std = IMAGENET_STD
    feature_dim = FEATURE_DIM

    def __init__(self, name: str, pretrained: bool = True):
        super().__init__()
        import torchvision.models as tvm

        builders = {
            "mobilenet_v3_small": (tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1),
            "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
        }
        build, weights = builders[name]
        model = None
        self.notice = ""
        if pretrained:
            try:
                model = build(weights=weights)
                self.notice = f"{name}: ImageNet weights"
            except Exception as error:  # no internet, proxy, corrupt download ...
                self.notice = (
                    f"{name}: ImageNet weights could not be downloaded ({type(error).__name__}: {error}); "
                    "starting from RANDOM weights (pass --init CKPT to start from a checkpoint instead)"
                )
                warnings.warn(self.notice, stacklevel=2)
        if model is None:
            model = build(weights=None)
            self.notice = self.notice or f"{name}: random initialisation"
        if name == "resnet18":
            native = model.fc.in_features
            model.fc = nn.Identity()
            self.body = model
        else:
            native = model.classifier[0].in_features
            self.body = nn.Sequential(model.features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.project = nn.Sequential(nn.Linear(native, FEATURE_DIM), nn.BatchNorm1d(FEATURE_DIM))

    def forward(self, x):
        return self.project(self.body(x))


# ------------------------------------------------------------------------------------------------------- tiny
class TinyNet(nn.Module):
    """Two strided convolutions and a projection: for tests and smoke runs only (no batch norm, so that
    data-parallel gradients equal single-process ones exactly)."""

    input_mean = (127.5, 127.5, 127.5)
    input_std = (128.0, 128.0, 128.0)
    feature_dim = FEATURE_DIM

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.project = nn.Linear(16, FEATURE_DIM)

    def forward(self, x):
        return self.project(self.features(x))


def build_backbone(name: str, pretrained: bool = True) -> nn.Module:
    """A backbone by name (see NET_NAMES). `pretrained` only affects the torchvision ones."""
    if name == "mobilefacenet":
        return MobileFaceNet()
    if name == "vgg-quarter":
        return VGGQuarter()
    if name in ("mobilenet_v3_small", "resnet18"):
        return TorchvisionBackbone(name, pretrained=pretrained)
    if name == "tiny":
        return TinyNet()
    raise ValueError(f"unknown network {name!r}: choose one of {', '.join(NET_NAMES)}")


def load_mobilefacenet_weights(model: MobileFaceNet, path) -> None:
    """Load the CASIA checkpoint ({'epoch', 'net_state_dict'}) strictly: every key and shape must match."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("net_state_dict", state)
    model.load_state_dict(state, strict=True)
