"""The heads on the 128-d feature, and the whole age network (method.md section 3).

- OrdinalHead: FC to K = A outputs; f_k = sigmoid(w_k . phi + b_k) = "older than k", k = 1..A.
- PosteriorModule: parameter-free; the frozen linear layer W[k, a] = beta (a - k), bias c_a, built by
  `ageapp.core.posterior.ordinal_posterior_layer` (THE likelihood), then log-softmax over ages 0..A.
- ConcentrationHead (the project's extension, `--head concentration`): a learned per-image positive scale
  on the posterior logits, so that the network can widen or narrow its posterior per image (the paper's
  module cannot: its logits depend on f only through sum_k f_k).
- GenderHead: two-way logits (0 male, 1 female).

AgeNet takes face crops as they come from ageapp.faces.alignment: float N x 3 x H x W, BGR channel order, values
0..255; it converts to RGB and normalises for its backbone itself, so exported models need no preprocessing.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from ageapp.core.model_description import HEADS
from ageapp.core.posterior import BETA_DEFAULT, ordinal_posterior_layer
from trainer.nets import build_backbone

HEAD_MODES = HEADS  # the one list, in the model description


class OrdinalHead(nn.Module):
    """Logits of the K = age_max events "older than k", k = 1..K. Shape: (N, D) -> (N, K)."""

    def __init__(self, feature_dim: int, age_max: int):
        super().__init__()
        self.fc = nn.Linear(feature_dim, age_max)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return self.fc(feature)

    @torch.no_grad()
    def init_from_targets(self, targets: torch.Tensor) -> None:
        """Start at the training set's age distribution: b_k = logit(share of the mass older than k), so the
        first prediction is the population's, not a posterior centred on A / 2."""
        older = 1.0 - targets.float().mean(dim=0).cumsum(dim=0)[:-1]  # P(age > k), k = 0..A-1 -> use k = 1..A
        older = torch.cat([older[1:], older.new_zeros(1)])
        self.fc.bias.copy_(torch.logit(older.clamp(0.01, 0.99)))


class PosteriorModule(nn.Module):
    """log P(a | I) over a = 0..age_max from the ordinal outputs f (N, K), with no trainable parameter.

    logits_a = sum_k f_k beta (a - k) + c_a, then log-softmax. An optional positive scale (N, 1) multiplies
    the logits (the concentration extension). Example:
        >>> module = PosteriorModule(age_max=70)
        >>> module(torch.ones(1, 70)).exp().argmax().item()
        70
    """

    def __init__(self, age_max: int, beta: float = BETA_DEFAULT, dtype: torch.dtype = torch.float32):
        super().__init__()
        weight, bias = ordinal_posterior_layer(age_max, beta)
        self.age_max = age_max
        self.beta = beta
        # float32 keeps about 1e-4 relative precision on P(a|I) at A = 100 (|c_a| reaches beta A^2 / 2);
        # dtype=torch.float64 gives the exact layer (tests).
        self.register_buffer("weight", torch.as_tensor(weight, dtype=dtype))  # (K, A + 1)
        self.register_buffer("bias", torch.as_tensor(bias, dtype=dtype))  # (A + 1,)

    def logits(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.weight + self.bias

    def forward(self, f: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.logits(f)
        if scale is not None:
            logits = logits * scale
        return F.log_softmax(logits, dim=-1)


class ConcentrationHead(nn.Module):
    """A positive per-image scale (N, 1) = softplus(v . phi + b) + 0.05, starting at exactly 1."""

    MINIMUM = 0.05

    def __init__(self, feature_dim: int):
        super().__init__()
        self.fc = nn.Linear(feature_dim, 1)
        nn.init.zeros_(self.fc.weight)
        start = 1.0 - self.MINIMUM
        nn.init.constant_(self.fc.bias, math.log(math.expm1(start)))  # softplus^-1(start)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.fc(feature)) + self.MINIMUM


class GenderHead(nn.Module):
    def __init__(self, feature_dim: int):
        super().__init__()
        self.fc = nn.Linear(feature_dim, 2)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return self.fc(feature)


class AgeNet(nn.Module):
    """Backbone + ordinal head + posterior module (+ concentration) + gender head.

    forward(crops) -> dict with
      "ordinal_logits" (N, K), "f" (N, K) in (0, 1), "log_posterior" (N, A + 1), "gender_logits" (N, 2),
      and "concentration" (N, 1) in concentration mode.
    The heads run in float32 even under autocast: the posterior logits reach about -beta * A^2 / 2.
    """

    def __init__(self, net: str = "mobilefacenet", age_max: int = 100, head: str = "paper",
                 beta: float = BETA_DEFAULT, pretrained: bool = True):
        super().__init__()
        if head not in HEAD_MODES:
            raise ValueError(f"unknown head {head!r}: choose one of {', '.join(HEAD_MODES)}")
        self.net_name, self.age_max, self.head_mode = net, age_max, head
        self.backbone = build_backbone(net, pretrained=pretrained)
        dim = self.backbone.feature_dim
        mean = torch.tensor(self.backbone.input_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.backbone.input_std, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("input_mean", mean, persistent=False)
        self.register_buffer("input_std", std, persistent=False)
        self.ordinal = OrdinalHead(dim, age_max)
        self.posterior = PosteriorModule(age_max, beta)
        self.concentration = ConcentrationHead(dim) if head == "concentration" else None
        self.gender = GenderHead(dim)

    def normalise(self, crops_bgr: torch.Tensor) -> torch.Tensor:
        """BGR 0..255 -> RGB normalised for the backbone."""
        return (crops_bgr.flip(1) - self.input_mean) / self.input_std

    def forward(self, crops_bgr: torch.Tensor) -> dict[str, torch.Tensor]:
        feature = self.backbone(self.normalise(crops_bgr))
        with torch.autocast(device_type=feature.device.type, enabled=False):
            feature = feature.float()
            ordinal_logits = self.ordinal(feature)
            f = torch.sigmoid(ordinal_logits)
            out = {"ordinal_logits": ordinal_logits, "f": f, "gender_logits": self.gender(feature)}
            scale = None
            if self.concentration is not None:
                scale = out["concentration"] = self.concentration(feature)
            out["log_posterior"] = self.posterior(f, scale)
        return out


def aggregate_ordinal(f: torch.Tensor) -> torch.Tensor:
    """The paper's rule without the posterior module: age = sum_k 1[f_k > 0.5]. Shape (N, K) -> (N,)."""
    return (f > 0.5).sum(dim=-1)
