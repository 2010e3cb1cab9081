"""The rough estimate from the model the resolver picks (the shipped default without an active model, else the
active one): the posterior mean of the query's stored crop (the same number the model gives directly), cached,
and refreshed when another model is made active; and the paper protocol then centres its references on it."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.rough_estimate import ModelRoughEstimate
from ageapp.annotation.session import AnnotationSession
from ageapp.core.selection import Protocol
from ageapp.faces.alignment import decode_crop
from ageapp.model import default_model_path, open_model
from ageapp.model.crops import crop_for_model
from ageapp.store.runs import activate_model, add_model
from tests.conftest import write_untrained_checkpoint
from tests.factories import make_project


@pytest.fixture
def checkpoints(tmp_path):
    """Two tiny models with different random weights, so a change of active model shows in the estimates."""
    return [write_untrained_checkpoint(tmp_path / f"model{seed}.pt", net="tiny", age_max=70, size=56, seed=seed)
            for seed in (0, 1)]


def test_estimates_come_from_the_active_model_and_are_cached(tmp_path, checkpoints):
    db, refs, queries, _ = make_project(tmp_path / "p.ageproj", references=30, queries=3)
    loads = []
    rough = ModelRoughEstimate(db, load=lambda path: loads.append(path) or CentredAt(40.0))
    assert rough(queries[0]) == pytest.approx(40.0, abs=0.01) and loads == [default_model_path()]

    activate_model(db, add_model(db, "first", str(checkpoints[0])))
    rough = ModelRoughEstimate(db, load=lambda path: loads.append(path) or open_model(path))
    estimate = rough(queries[0])
    crop = decode_crop(db.execute("SELECT crop FROM faces WHERE image_id = ?", [queries[0]]).fetchone()[0])
    posterior = open_model(checkpoints[0]).predict_crops([crop])[0][0]
    # float32 network: its posterior sums to 1 only within ~1e-7, by the CPU's kernels, and the estimate divides
    # by that sum (1.7e-6 apart on another CPU): 1e-4 of the age
    assert estimate == pytest.approx(float(posterior @ np.arange(71)), rel=1e-4) and 0 <= estimate <= 70
    assert rough(queries[0]) == estimate and loads[1:] == [checkpoints[0]]  # cached, loaded once
    rough(queries[1])
    assert loads[1:] == [checkpoints[0]]

    activate_model(db, add_model(db, "second", str(checkpoints[1])))
    other = rough(queries[0])
    assert loads[1:] == [checkpoints[0], checkpoints[1]] and other != estimate
    db.close()


class CentredAt:
    """Stands in for a loaded model: every face gets a narrow posterior around `age`."""

    template = "chip"

    def __init__(self, age: float):
        self.age = age

    def predict_crops(self, crops):
        ages = np.arange(71)
        p = np.exp(-0.5 * ((ages - self.age) / 1.5) ** 2)
        return np.array([p / p.sum()] * len(crops)), np.full(len(crops), 0.5)


def test_the_paper_protocol_centres_its_references_on_the_rough_estimate(tmp_path, checkpoints):
    db, refs, queries, _ = make_project(tmp_path / "p.ageproj", references=70, queries=2)
    activate_model(db, add_model(db, "m", str(checkpoints[0])))
    rough = ModelRoughEstimate(db, load=lambda path: CentredAt(12.0))
    session = AnnotationSession(db, "ann", Protocol("paper", comparisons=6), gold_rate=0.0, seed=1,
                                rough_estimate=rough)
    ages, query = [], None
    while len(ages) < 6:
        task = session.next_task()
        query = query or task.query_image_id
        assert task.kind == "query" and task.query_image_id == query
        ages.append(db.execute("SELECT age FROM images WHERE id = ?", [task.reference_image_id]).fetchone()[0])
        session.answer(task, "unsure")
    assert rough(query) == pytest.approx(12.0, abs=0.01)
    # half the references younger than the model's estimate, half older (the references' median is 34.5)
    assert sum(a < 12 for a in ages) == 3 and sum(a > 12 for a in ages) == 3, ages
    db.close()


def test_a_missing_active_model_gives_way_to_the_default_and_says_why(tmp_path):
    db, refs, queries, _ = make_project(tmp_path / "p.ageproj", references=5, queries=1)
    activate_model(db, add_model(db, "gone", str(tmp_path / "nowhere.pt")))
    rough = ModelRoughEstimate(db)
    default = open_model(default_model_path())
    stored, template = db.execute("SELECT crop, template FROM faces WHERE image_id = ?", [queries[0]]).fetchone()
    posterior = default.predict_crops([crop_for_model(stored, template, default.template)])[0][0]
    assert rough(queries[0]) == pytest.approx(float(posterior @ np.arange(len(posterior))), rel=1e-4)  # float32
    assert "the project's active model gone cannot be used" in rough.notice and "not found" in rough.notice
    assert rough.problem == ""
    db.close()


def test_without_any_usable_model_the_estimate_is_none_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr("ageapp.model.resolve.default_model_path", lambda backend="auto": tmp_path / "absent.onnx")
    db, refs, queries, _ = make_project(tmp_path / "p.ageproj", references=5, queries=1)
    activate_model(db, add_model(db, "gone", str(tmp_path / "nowhere.pt")))
    rough = ModelRoughEstimate(db)
    assert rough(queries[0]) is None and "could not be loaded" in rough.problem
    db.close()
