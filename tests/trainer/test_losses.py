"""Hand-computed values for the losses (coral-pytorch style)."""

import math

import torch

from trainer.losses import AgeLoss, gender_loss, hyper_loss, kl_loss, ordinal_cost


def test_truncated_cost_by_hand():
    # a_gt = 5, K = 9, L = 3: cost 0 where |5 - k| < 3, i.e. k = 3..7
    assert ordinal_cost(torch.tensor([5]), 9).tolist() == [[1, 1, 0, 0, 0, 0, 0, 1, 1]]


def test_hyper_loss_by_hand():
    # K = 6, a_gt = 3, L = 3: costed k are 6 only (|3-k| >= 3), where 1[3 > 6] = 0, so loss = f_6^2.
    f = torch.tensor([[0.9, 0.9, 0.5, 0.5, 0.2, 0.3]])
    assert math.isclose(hyper_loss(f, torch.tensor([3])).item(), 0.09, rel_tol=1e-6)
    # L = 1: every k with k != a_gt counts: targets [1, 1, 0, 0, 0, 0] (a_gt > k), k = 3 excluded
    expected = 0.1**2 + 0.1**2 + 0.5**2 + 0.2**2 + 0.3**2
    assert math.isclose(hyper_loss(f, torch.tensor([3]), margin=1).item(), expected, rel_tol=1e-6)
    # batch mean
    two = hyper_loss(torch.cat([f, torch.zeros(1, 6)]), torch.tensor([3, 3]))
    assert math.isclose(two.item(), 0.045, rel_tol=1e-6)


def test_hyper_doc_example():
    assert hyper_loss(torch.full((1, 20), 0.5), torch.tensor([10])).item() == 3.75


def test_kl_by_hand():
    target = torch.tensor([[0.5, 0.5, 0.0]])
    predicted = torch.tensor([[0.25, 0.25, 0.5]])
    # 0.5 log(0.5/0.25) * 2 = log 2; the zero-mass age adds nothing
    assert math.isclose(kl_loss(predicted.log(), target).item(), math.log(2), rel_tol=1e-6)
    assert abs(kl_loss(target.clamp_min(1e-30).log(), target).item()) < 1e-6


def test_gender_loss_masks_unknowns():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [5.0, -5.0]])
    expected = -torch.log_softmax(logits[0], 0)[1].item()
    assert math.isclose(gender_loss(logits, torch.tensor([1, -1, -1])).item(), expected, rel_tol=1e-6)
    assert gender_loss(logits, torch.tensor([-1, -1, -1])).item() == 0.0


def test_joint_is_kl_plus_lambda_hyper():
    torch.manual_seed(0)
    f = torch.rand(2, 10)
    log_post = torch.log_softmax(torch.randn(2, 11), -1)
    target = torch.softmax(torch.randn(2, 11), -1)
    outputs = {"f": f, "log_posterior": log_post, "gender_logits": torch.zeros(2, 2)}
    genders = torch.tensor([-1, -1])
    total, parts = AgeLoss("joint", lam=0.5)(outputs, target, genders)
    mode = target.argmax(-1)
    assert math.isclose(total.item(), kl_loss(log_post, target).item() + 0.5 * hyper_loss(f, mode).item(), rel_tol=1e-6)
    assert set(parts) == {"kl", "hyper", "gender"}
    assert set(AgeLoss("kl")(outputs, target, genders)[1]) == {"kl", "gender"}
    assert set(AgeLoss("hyper", gender_weight=0)(outputs, target, genders)[1]) == {"hyper"}


def test_js_divergence_matches_a_float64_reference_and_its_bounds():
    import numpy as np

    from trainer.losses import js_divergence

    g = torch.Generator().manual_seed(3)
    p = torch.softmax(torch.randn(5, 11, generator=g) * 2, dim=-1)
    q = torch.softmax(torch.randn(5, 11, generator=g) * 2, dim=-1)
    a, b = p.double().numpy(), q.double().numpy()
    m = (a + b) / 2
    reference = np.mean(0.5 * (a * np.log(a / m)).sum(1) + 0.5 * (b * np.log(b / m)).sum(1))
    value = float(js_divergence(p.log(), q.log()))
    assert abs(value - reference) <= 1e-4 * reference  # float32 exp / log differ by an ulp or two between CPUs
    assert abs(value - float(js_divergence(q.log(), p.log()))) <= 1e-6 * value  # symmetric
    assert abs(float(js_divergence(p.log(), p.log()))) < 1e-5  # zero for equal posteriors (float32 rounding)
    one_hot = torch.eye(11)[:2]  # disjoint rows (with exact zeros elsewhere): log 2, no NaN from 0 log 0
    assert abs(float(js_divergence(one_hot[:1].log(), one_hot[1:].log())) - math.log(2)) < 1e-5
    # peaked float32 posteriors whose tails underflow: finite (e^-103.3 is the smallest float32, and half of it rounds to 0)
    log_a = torch.full((1, 11), -828.0)
    log_a[0, 3] = 0.0
    log_b = torch.full((1, 11), -103.3)
    log_b[0, 3] = 0.0
    log_a.requires_grad_(True)
    log_b.requires_grad_(True)
    divergence = js_divergence(log_a, log_b)
    value = float(divergence.detach())
    assert math.isfinite(value) and 0.0 <= value < 1e-30
    divergence.backward()  # and so are its gradients: training steps through it
    assert bool(torch.isfinite(log_a.grad).all()) and bool(torch.isfinite(log_b.grad).all())
