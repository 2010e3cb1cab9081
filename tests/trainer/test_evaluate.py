"""The evaluate command's metrics against hand-worked examples (the metric functions themselves are
ageapp.core.metrics, tested in tests/core)."""

import numpy as np
import pytest
import torch

from trainer.samples import Sample
from trainer.evaluate import compute_metrics, point_estimates, predict_crops
from trainer.heads import AgeNet


def two_faces():
    posterior = np.zeros((2, 11))
    posterior[0, 4] = posterior[0, 6] = 0.5  # mean 5, mode 4, interval 4..6
    posterior[1, 10] = 1.0  # mean 10, interval 10..10
    return {"posterior": posterior, "f": np.zeros((2, 10)), "p_female": np.array([0.9, 0.2])}


def test_compute_metrics_by_hand():
    samples = [Sample("a", "a", age=5, gender=1), Sample("b", "b", age=7, gender=1)]
    m = compute_metrics(two_faces(), samples, no_face=1)
    assert m["n"] == 2 and m["no_face"] == 1
    assert m["mae"] == 1.5 and m["mae_mode"] == 2.0  # |5-5|, |10-7|; |4-5|, |10-7|
    assert m["ca3"] == 50.0 and m["cs3"] == 100.0  # errors 0 and 3: < 3 once, <= 3 twice
    assert m["coverage90"] == 50.0 and m["mean_ci_width"] == 1.0  # widths 2 and 0
    assert m["nll"] == pytest.approx(-np.log(np.finfo(float).tiny))  # both true ages have probability 0
    assert compute_metrics(two_faces(), [Sample("a", "a", age=4), Sample("b", "b", age=10)])["nll"] == \
        pytest.approx(np.log(2) / 2, abs=1e-4)
    assert m["gender_acc"] == 50.0
    assert "adience_exact" not in m


def test_ranges_give_adience_accuracy_and_ages_above_the_grid_clip():
    samples = [Sample("a", "a", age_min=4, age_max=6), Sample("b", "b", age_min=15, age_max=20)]
    m = compute_metrics(two_faces(), samples)  # estimates 5 (group 4-6) and 10 (group 8-13)
    assert (m["adience_exact"], m["adience_1off"]) == (50.0, 100.0)
    assert "gender_acc" not in m
    old = compute_metrics(two_faces(), [Sample("a", "a", age=5), Sample("b", "b", age=40)])
    assert old["mae"] == 15.0  # against the labelled age
    assert old["coverage90"] == 100.0  # 40 clips to the top age 10, inside [10, 10]


def test_hyper_only_uses_the_aggregation_rule():
    prediction = two_faces()
    prediction["f"] = np.array([[0.9] * 3 + [0.1] * 7, [0.9] * 8 + [0.2] * 2])
    assert point_estimates(prediction, hyper_only=True)["mean"].tolist() == [3.0, 8.0]


def test_predict_crops_shapes():
    model = AgeNet("tiny", age_max=30)
    crops = torch.randint(0, 256, (5, 112, 96, 3), dtype=torch.uint8)
    out = predict_crops(model, crops, batch_size=2, size=56)
    assert out["posterior"].shape == (5, 31) and out["f"].shape == (5, 30) and out["p_female"].shape == (5,)
    assert np.allclose(out["posterior"].sum(1), 1)
