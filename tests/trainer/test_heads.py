"""The posterior module against THE likelihood (ageapp.core.posterior), and the heads' shapes."""

import numpy as np
import pytest
import torch

from ageapp.core.posterior import posterior_from_comparisons, posterior_from_ordinal_outputs
from trainer.heads import AgeNet, ConcentrationHead, PosteriorModule, aggregate_ordinal

A = 30


def module_posterior(f, age_max=A, beta=0.36):
    module = PosteriorModule(age_max, beta, dtype=torch.float64)  # the exact layer, to compare at 1e-9
    return module(torch.as_tensor(np.atleast_2d(f), dtype=torch.float64)).exp().numpy()


def test_matches_reference_route_for_random_outputs():
    rng = np.random.default_rng(0)
    for _ in range(5):
        f = rng.uniform(size=A)
        np.testing.assert_allclose(module_posterior(f)[0], posterior_from_ordinal_outputs(f, A), atol=1e-9)


def test_float32_module_is_close_to_reference():
    f = np.random.default_rng(1).uniform(size=A)
    out = PosteriorModule(A)(torch.tensor(f, dtype=torch.float32)[None]).exp()[0].numpy()
    np.testing.assert_allclose(out, posterior_from_ordinal_outputs(f, A), rtol=1e-4, atol=1e-6)


def test_binary_outputs_equal_the_annotation_posterior():
    # f_k in {0, 1} is exactly a set of comparisons against references aged 1..K.
    true_age = 12
    f = (np.arange(1, A + 1) < true_age).astype(float)  # older than k for k < 12
    outcomes = [int(v) for v in f]
    expected = posterior_from_comparisons(list(range(1, A + 1)), outcomes, 0.36, A)
    np.testing.assert_allclose(module_posterior(f)[0], expected, atol=1e-9)


def test_all_ones_puts_the_mass_at_the_top_ages_and_zeros_at_the_bottom():
    top = module_posterior(np.ones(A))[0]
    bottom = module_posterior(np.zeros(A))[0]
    assert top.argmax() == A and top[A - 3:].sum() > 0.9
    assert bottom.argmax() == 0 and bottom[:3].sum() > 0.9


def test_raising_f_moves_the_posterior_up():  # the sign correction of method.md
    ages = np.arange(A + 1)
    means = [module_posterior(np.full(A, v))[0] @ ages for v in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert all(b > a + 1 for a, b in zip(means, means[1:]))


def test_frozen_layer_weights_by_hand():
    module = PosteriorModule(age_max=3, beta=0.5)
    # W[k, a] = beta (a - k), k = 1..3 rows, a = 0..3 columns
    expected = 0.5 * np.array([[-1, 0, 1, 2], [-2, -1, 0, 1], [-3, -2, -1, 0]], dtype=float)
    np.testing.assert_allclose(module.weight.numpy(), expected)
    assert not any(p.requires_grad for p in module.parameters())
    assert list(module.parameters()) == []


def test_concentration_starts_at_one_and_scales_logits():
    head = ConcentrationHead(8)
    assert torch.allclose(head(torch.randn(4, 8)), torch.ones(4, 1), atol=1e-5)
    module = PosteriorModule(A)
    f = torch.full((1, A), 0.4)
    sharp = module(f, torch.tensor([[3.0]])).exp()[0].numpy()
    paper = module(f).exp()[0].numpy()
    ages = np.arange(A + 1)
    var = lambda p: p @ ages**2 - (p @ ages) ** 2  # noqa: E731
    assert var(sharp) < var(paper) / 2


@pytest.mark.parametrize("head", ["paper", "concentration"])
def test_agenet_outputs(head):
    model = AgeNet("tiny", age_max=A, head=head)
    out = model(torch.rand(3, 3, 56, 48) * 255)
    assert out["f"].shape == (3, A) and out["log_posterior"].shape == (3, A + 1)
    assert out["gender_logits"].shape == (3, 2)
    assert torch.allclose(out["log_posterior"].exp().sum(-1), torch.ones(3), atol=1e-5)
    assert ("concentration" in out) == (head == "concentration")


def test_aggregation_rule():
    f = torch.tensor([[0.9, 0.8, 0.6, 0.4, 0.1], [0.1, 0.2, 0.3, 0.2, 0.1]])
    assert aggregate_ordinal(f).tolist() == [3, 0]


def test_ordinal_bias_starts_at_the_training_age_distribution():
    from trainer.targets import exact_age_target

    targets = torch.tensor(np.stack([exact_age_target(a, A) for a in (10, 12, 14)]), dtype=torch.float32)
    model = AgeNet("tiny", age_max=A)
    model.ordinal.init_from_targets(targets)
    torch.nn.init.zeros_(model.ordinal.fc.weight)
    with torch.no_grad():
        p = model(torch.rand(1, 3, 56, 48) * 255)["log_posterior"].exp()[0]
    assert abs(float(p @ torch.arange(A + 1.0)) - 12) < 1.0
