"""Losses (method.md section 3): cost-sensitive L_hyper, KL to the target posterior, their joint sum, and the
masked gender cross-entropy. Each is a plain function (batch mean) plus one thin module; coral-pytorch style.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

LOSS_MODES = ("joint", "kl", "hyper")
COST_MARGIN = 3  # L: the truncated cost is 0 where |a_gt - k| < L


def ordinal_cost(age_gt: torch.Tensor, age_max: int, margin: int = COST_MARGIN) -> torch.Tensor:
    """Cost_k(a_gt) for k = 1..K: 0 where |a_gt - k| < margin, else 1. Shape (N,) -> (N, K)."""
    k = torch.arange(1, age_max + 1, device=age_gt.device, dtype=torch.float32)
    return ((age_gt.float()[:, None] - k[None, :]).abs() >= margin).float()


def hyper_loss(f: torch.Tensor, age_gt: torch.Tensor, margin: int = COST_MARGIN) -> torch.Tensor:
    """L_hyper = sum_k Cost_k(a_gt) (f_k - 1[a_gt > k])^2, averaged over the batch.

    f: (N, K) ordinal probabilities; age_gt: (N,) integer ground-truth ages (a posterior's mode).
    Example: f = all 0.5, a_gt = 10, K = 20, L = 3: 15 costed terms of 0.25 -> 3.75.
        >>> hyper_loss(torch.full((1, 20), 0.5), torch.tensor([10])).item()
        3.75
    """
    age_max = f.shape[-1]
    k = torch.arange(1, age_max + 1, device=f.device, dtype=torch.float32)
    older = (age_gt.float()[:, None] > k[None, :]).float()
    cost = ordinal_cost(age_gt, age_max, margin)
    return (cost * (f.float() - older) ** 2).sum(dim=-1).mean()


def kl_loss(log_posterior: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(P_gt || P(.|I)) = sum_a P_gt(a) (log P_gt(a) - log P(a|I)), with 0 log 0 = 0; batch mean.

    log_posterior, target: (N, A + 1); each target row sums to 1.
    """
    target = target.float()
    entropy_part = torch.xlogy(target, target).sum(dim=-1)
    cross = -(target * log_posterior.float()).sum(dim=-1)
    return (entropy_part + cross).mean()


def js_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence between two batches of posteriors given as log-probabilities (N, A + 1), in
    nats (0 for equal rows, log 2 for disjoint ones), batch mean: AugMix's consistency term (Hendrycks et al.,
    ICLR 2020) between a face's clean and degraded views. JS = (KL(P || M) + KL(Q || M)) / 2, M = (P + Q) / 2;
    M is formed in log space (logaddexp): halving two float32 probabilities of e^-103 or less rounds to 0, and a
    log of that zero made the divergence infinite on a real network's peaked posteriors; an age without mass in
    a posterior (p = 0) adds 0. Gradients are finite for finite log-probabilities (a log-softmax's).
    """
    log_p, log_q = log_p.float(), log_q.float()
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)

    def kl_to_m(log_a: torch.Tensor) -> torch.Tensor:
        a = log_a.exp()
        return torch.where(a > 0, a * (log_a - log_m), torch.zeros_like(a)).sum(dim=-1)

    return ((kl_to_m(log_p) + kl_to_m(log_q)) / 2).mean()


def gender_loss(gender_logits: torch.Tensor, gender: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over faces whose gender is known (0 or 1); -1 = unknown is masked out (0 if none)."""
    known = gender >= 0
    if not bool(known.any()):
        return gender_logits.sum() * 0.0
    return F.cross_entropy(gender_logits[known].float(), gender[known].long())


def target_mode(target: torch.Tensor) -> torch.Tensor:
    """The ground-truth age of a posterior target: its mode. (N, A + 1) -> (N,)."""
    return target.argmax(dim=-1)


class AgeLoss(nn.Module):
    """mode 'joint': L_KL + lam * L_hyper; 'kl' or 'hyper' alone; plus gender_weight * gender CE.

    forward(outputs of AgeNet, target (N, A + 1), gender (N,)) -> (total, {name: float}).
    """

    def __init__(self, mode: str = "joint", lam: float = 1.0, gender_weight: float = 1.0,
                 margin: int = COST_MARGIN):
        super().__init__()
        if mode not in LOSS_MODES:
            raise ValueError(f"unknown loss {mode!r}: choose one of {', '.join(LOSS_MODES)}")
        self.mode, self.lam, self.gender_weight, self.margin = mode, lam, gender_weight, margin

    def forward(self, outputs: dict, target: torch.Tensor, gender: torch.Tensor):
        parts = {}
        total = outputs["f"].new_zeros(())
        if self.mode in ("joint", "kl"):
            parts["kl"] = kl_loss(outputs["log_posterior"], target)
            total = total + parts["kl"]
        if self.mode in ("joint", "hyper"):
            parts["hyper"] = hyper_loss(outputs["f"], target_mode(target), self.margin)
            total = total + (self.lam if self.mode == "joint" else 1.0) * parts["hyper"]
        if self.gender_weight > 0:
            parts["gender"] = gender_loss(outputs["gender_logits"], gender)
            total = total + self.gender_weight * parts["gender"]
        return total, {name: float(value.detach()) for name, value in parts.items()}
