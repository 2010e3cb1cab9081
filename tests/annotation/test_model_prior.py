"""The model as the prior in a project: stored posteriors are prior × likelihoods and say which prior they used,
the likelihood-only posterior is kept beside them (and is what training reads by default), export gives both."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ageapp.annotation.exchange import export_project
from ageapp.annotation.labelling_settings import (
    LabellingSettings,
    load_labelling_settings,
    save_labelling_settings,
)
from ageapp.annotation.model_prior import ModelPrior
from ageapp.annotation.session import AnnotationSession
from ageapp.core.prior import PRIOR_FLOOR
from ageapp.core.selection import Protocol
from ageapp.store.comparisons import active_comparisons, posterior_of_comparisons
from ageapp.store.posteriors import load_posterior
from ageapp.store.priors import has_model_prior, save_model_prior
from ageapp.store.training_data import labelled_faces
from tests.factories import make_project

A = 70


def gaussian(centre: float, sd: float, age_max: int) -> np.ndarray:
    ages = np.arange(age_max + 1)
    p = np.exp(-0.5 * ((ages - centre) / sd) ** 2)
    return p / p.sum()


@pytest.fixture
def project(tmp_path):
    db, references, queries, ages = make_project(tmp_path / "p.ageproj", references=71, queries=3, age_max=A)
    yield db, queries
    db.close()


def answer_some(db, n: int = 4, seed: int = 1) -> int:
    """Answer n pairs of the first query ('left' each time); its id."""
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=n), gold_rate=0.0, seed=seed)
    for _ in range(n):
        task = session.next_task()
        session.answer(task, "left")
    return task.query_image_id


def stored(db, query):
    row = load_posterior(db, query)
    return row["probabilities"], row["likelihood"], row["prior"]


def f32(p):
    return np.asarray(p, dtype="<f4").astype(np.float64)


def test_the_uniform_prior_reproduces_todays_posteriors_exactly(project):
    db, queries = project
    save_model_prior(db, queries[0], "fake.onnx", gaussian(30, 4, 100))  # stored, but the project's prior is uniform
    query = answer_some(db)
    probabilities, likelihood, prior = stored(db, query)
    today = posterior_of_comparisons(active_comparisons(db, query), A)
    np.testing.assert_array_equal(probabilities, f32(today))
    np.testing.assert_array_equal(likelihood, probabilities)
    assert prior == "uniform"
    assert db.execute("SELECT likelihood FROM posteriors WHERE query_image_id = ?", [query]).fetchone()[0] is None


def test_model_prior_times_likelihood_and_the_likelihood_only_posterior_is_unchanged(project):
    db, queries = project
    model = gaussian(30, 4, 100)  # the model's range is 0-100, the project's 0-70: ages above fold into 70
    save_model_prior(db, queries[0], "fake.onnx", model)
    query = answer_some(db)
    uniform, _, _ = stored(db, query)
    save_labelling_settings(db, LabellingSettings(prior="model", prior_power=0.5))
    probabilities, likelihood, prior = stored(db, query)
    assert prior == "model fake.onnx ^0.5"
    on_range = np.append(f32(model)[:A], f32(model)[A:].sum())
    floored = np.maximum(on_range / on_range.sum(), PRIOR_FLOOR)  # no age ruled out by the model alone
    expected = np.sqrt(floored) * posterior_of_comparisons(active_comparisons(db, query), A)
    np.testing.assert_allclose(probabilities, expected / expected.sum(), atol=2e-7)
    np.testing.assert_array_equal(likelihood, uniform)  # the same answers under the uniform prior
    save_labelling_settings(db, LabellingSettings(prior="model", prior_power=1.0))
    stronger, likelihood_again, prior = stored(db, query)
    assert prior == "model fake.onnx ^1" and not np.allclose(stronger, probabilities)
    np.testing.assert_array_equal(likelihood_again, uniform)
    # Power 0 is the uniform prior: today's posterior, labelled uniform.
    save_labelling_settings(db, LabellingSettings(prior="model", prior_power=0.0))
    zero, _, prior = stored(db, query)
    np.testing.assert_array_equal(zero, uniform)
    assert prior == "uniform"
    assert load_labelling_settings(db).prior == "model" and load_labelling_settings(db).prior_power == 0.0


def test_export_carries_the_prior_and_both_posteriors(project, tmp_path):
    db, queries = project
    save_model_prior(db, queries[0], "fake.onnx", gaussian(30, 4, 100))
    query = answer_some(db)
    save_labelling_settings(db, LabellingSettings(prior="model", prior_power=1.0))
    probabilities, likelihood, _ = stored(db, query)
    assert export_project(db, tmp_path / "out.json") == 1
    row = json.loads((tmp_path / "out.json").read_text())[0]
    assert row["prior"] == "model fake.onnx ^1"
    np.testing.assert_allclose(row["posterior"], probabilities, atol=1e-6)
    np.testing.assert_allclose(row["likelihood_posterior"], likelihood, atol=1e-6)
    export_project(db, tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="") as handle:
        line = next(csv.DictReader(handle))
    assert line["prior"] == "model fake.onnx ^1"
    np.testing.assert_allclose([float(v) for v in line["likelihood_posterior"].split()], likelihood, atol=1e-6)


def test_training_reads_the_likelihood_only_posterior_unless_told(project):
    db, queries = project
    save_model_prior(db, queries[0], "fake.onnx", gaussian(30, 4, 100))
    query = answer_some(db)
    save_labelling_settings(db, LabellingSettings(prior="model", prior_power=1.0))
    probabilities, likelihood, _ = stored(db, query)
    default = {face.image_id: face for face in labelled_faces(db).faces}
    with_prior = {face.image_id: face for face in labelled_faces(db, "prior").faces}
    np.testing.assert_array_equal(default[query].posterior, likelihood)
    np.testing.assert_array_equal(with_prior[query].posterior, probabilities)
    assert labelled_faces(db).digest != labelled_faces(db, "prior").digest
    with pytest.raises(ValueError, match="posterior must be"):
        labelled_faces(db, "model")


class FakeEstimate:
    """Stands in for ModelRoughEstimate: a model whose posterior is known."""

    model_name = "fake.onnx"

    def __init__(self):
        self.calls = []

    def posterior(self, query):
        self.calls.append(query)
        return gaussian(40, 2, 100)

    def prepare(self):
        return ""


def test_the_session_stores_the_models_posterior_once_and_chooses_under_it(project):
    db, queries = project
    fake = FakeEstimate()
    prior_source = ModelPrior(db, fake)
    assert prior_source(queries[0]) is False and fake.calls == []  # the project's prior is uniform: no model run
    save_labelling_settings(db, LabellingSettings(prior="model", prior_power=1.0))
    session = AnnotationSession(db, "ann", Protocol("active"), gold_rate=0.0, seed=0, prior_source=prior_source)
    task = session.next_task()
    assert has_model_prior(db, task.query_image_id) and fake.calls == [task.query_image_id]
    reference_age = db.execute("SELECT age FROM images WHERE id = ?", [task.reference_image_id]).fetchone()[0]
    assert abs(reference_age - 40) <= 2  # the most informative reference under a prior sure of about 40
    state = session.answer(task, task.query_side)
    assert state.prior_label == "model fake.onnx ^1" and state.prior is not None
    # The prior's 90% interval (sd 2) is narrow enough: one comparison (the labeller's word) finishes the query.
    following = session.next_task()
    assert following.query_image_id != task.query_image_id
    assert prior_source(task.query_image_id) is False  # stored: not run again
    assert fake.calls == [task.query_image_id, following.query_image_id]
