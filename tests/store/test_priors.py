"""store.priors and migration 6: the model_priors table, a posterior's prior label and likelihood-only posterior."""

from __future__ import annotations

import numpy as np
import pytest
import sqlite_utils

from ageapp.core.posterior import summarize
from ageapp.store import schema
from ageapp.store.db import open_project
from ageapp.store.posteriors import load_posterior, save_posterior
from ageapp.store.priors import (
    PriorChoice,
    model_priors,
    prior_choice,
    prior_of_query,
    query_prior,
    save_model_prior,
)
from ageapp.store.settings import set_setting
from tests.factories import make_project


def test_migration_6_keeps_old_posteriors_as_uniform_ones(tmp_path):
    path = tmp_path / "old.ageproj"
    old = sqlite_utils.Database(path)
    schema.migrate(old, target=5)
    old.execute("INSERT INTO roots (id, path) VALUES (1, ?)", [str(tmp_path)])
    old.execute("INSERT INTO images (id, root_id, relative_path, sha1, size_bytes, source_format, role)"
                " VALUES (1, 1, 'q.jpg', 'aa', 1, 'synthetic', 'query')")
    p = np.full(71, 1 / 71, dtype="<f4")
    old.execute("INSERT INTO posteriors (query_image_id, age_max, probabilities, mode, mean, ci_low, ci_high, flagged,"
                " n_comparisons) VALUES (1, 70, ?, 0, 35, 3, 67, 1, 0)", [p.tobytes()])
    old.conn.commit()
    old.close()
    db = open_project(path)
    row = load_posterior(db, 1)
    assert row["prior"] == "uniform"
    np.testing.assert_array_equal(row["likelihood"], row["probabilities"])  # NULL reads as the posterior itself
    assert "model_priors" in db.table_names()
    db.close()


def test_model_priors_are_stored_and_read_back(tmp_path):
    db, _, queries, _ = make_project(tmp_path / "p.ageproj", references=3, queries=2)
    save_model_prior(db, queries[0], "m.onnx", [0.25, 0.25, 0.5])
    assert list(model_priors(db)) == [queries[0]]
    name, p = model_priors(db, [queries[0]])[queries[0]]
    assert name == "m.onnx"
    np.testing.assert_allclose(p, [0.25, 0.25, 0.5])
    for bad in ([1.0], [np.nan, 1.0], [0.0, 0.0]):
        with pytest.raises(ValueError, match="finite distribution"):
            save_model_prior(db, queries[1], "m.onnx", bad)
    with pytest.raises(ValueError, match="same ages"):
        save_posterior(db, queries[0], np.full(3, 1 / 3), summarize(np.full(3, 1 / 3)), 0, "uniform", np.ones(4))
    db.close()


def test_the_projects_prior_and_its_fallbacks(tmp_path):
    db, _, queries, _ = make_project(tmp_path / "p.ageproj", references=3, queries=2, age_max=2)
    assert prior_choice(db) == PriorChoice("uniform", 0.75)
    save_model_prior(db, queries[0], "m.onnx", [0.2, 0.3, 0.5])
    assert prior_of_query(db, queries[0], 2).log_prior is None  # the project's prior is still uniform
    set_setting(db, "prior", "model")
    set_setting(db, "prior_power", 1.0)
    prior = prior_of_query(db, queries[0], 2)
    assert prior.label == "model m.onnx ^1"
    np.testing.assert_allclose(prior.probabilities, [0.2, 0.3, 0.5], rtol=1e-6)
    assert prior_of_query(db, queries[1], 2).label == "uniform"  # no stored model posterior: uniform
    assert query_prior(PriorChoice("model", 0.0), ("m", np.array([0.2, 0.3, 0.5])), 2).log_prior is None
    set_setting(db, "prior_power", 3)  # nonsense stored by hand: the uniform prior, not a crash
    assert prior_choice(db) == PriorChoice("uniform", 0.75)
    set_setting(db, "prior_power", 0.5)
    set_setting(db, "prior", "oracle")
    assert prior_choice(db).kind == "uniform"
    db.close()
