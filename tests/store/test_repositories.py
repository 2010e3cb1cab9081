"""Images and roots, faces, posteriors, runs and models, settings, and the project counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ageapp.core.posterior import PosteriorSummary
from ageapp.store.annotators import annotator_id_for, list_annotators, set_beta
from ageapp.store.comparisons import record_comparison, undo_comparison
from ageapp.store.db import open_project
from ageapp.store.faces import add_face, count_faces, faces_of_image, set_gender_prediction
from ageapp.store.images import add_image, get_image, image_path, list_images, relink_root, root_id_for
from ageapp.store.posteriors import count_posteriors, load_posterior, save_posterior
from ageapp.store.runs import activate_model, active_model, add_epoch, add_model, finish_run, get_run, start_run
from ageapp.store.settings import get_setting, set_setting
from ageapp.store.stats import project_stats


@pytest.fixture
def db(tmp_path):
    return open_project(tmp_path / "p.ageproj", create=True)


def new_image(db, root, name, role="query", **labels):
    return add_image(db, root_id=root, relative_path=name, sha1=f"hash-{name}", size_bytes=10,
                     source_format="test", role=role, **labels)


def test_exact_age_fills_the_range_and_a_range_leaves_age_empty(db, tmp_path):
    root = root_id_for(db, tmp_path)
    exact = get_image(db, new_image(db, root, "a.jpg", "reference", age=7))
    ranged = get_image(db, new_image(db, root, "b.jpg", age_min=25, age_max=32))
    assert (exact["age"], exact["age_min"], exact["age_max"]) == (7, 7, 7)
    assert (ranged["age"], ranged["age_min"], ranged["age_max"]) == (None, 25, 32)


@pytest.mark.parametrize("labels", [{"age_min": 30, "age_max": 20}, {"age_min": 3}, {"age": -1}, {"gender": 2}])
def test_inconsistent_labels_are_refused_by_the_schema(db, tmp_path, labels):
    with pytest.raises(sqlite3.IntegrityError):
        new_image(db, root_id_for(db, tmp_path), "a.jpg", **labels)
    assert list_images(db) == []


def test_the_same_content_cannot_be_stored_twice(db, tmp_path):
    root = root_id_for(db, tmp_path)
    add_image(db, root_id=root, relative_path="a.jpg", sha1="same", size_bytes=1, source_format="t", role="query")
    with pytest.raises(sqlite3.IntegrityError, match="sha1"):
        add_image(db, root_id=root, relative_path="b.jpg", sha1="same", size_bytes=1, source_format="t",
                  role="query")
    with pytest.raises(ValueError, match="role"):
        new_image(db, root, "c.jpg", role="training")


def test_relinking_a_root_moves_every_image_of_it(db, tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    new.mkdir()
    root = root_id_for(db, old)
    assert root_id_for(db, old) == root  # the same folder is one root
    image = new_image(db, root, "sub/a.jpg")
    assert image_path(db, image) == old / "sub" / "a.jpg"
    relink_root(db, root, new)
    assert image_path(db, image) == new / "sub" / "a.jpg"
    with pytest.raises(ValueError, match="not a folder"):
        relink_root(db, root, tmp_path / "missing")


def test_faces_round_trip_largest_first(db, tmp_path):
    image = new_image(db, root_id_for(db, tmp_path), "a.jpg")
    landmarks = np.arange(10, dtype=np.float32).reshape(5, 2) + 0.25
    small = add_face(db, image, box=(0, 0, 10, 10), landmarks=landmarks, score=0.9, detector="yunet", crop=b"s", template="chip")
    large = add_face(db, image, box=(5, 6, 50, 60), landmarks=landmarks, score=0.8, detector="yunet", crop=b"L", template="chip")
    set_gender_prediction(db, small, 1, 0.75)
    faces = faces_of_image(db, image)
    assert [face["id"] for face in faces] == [large, small]
    assert faces[0]["box"] == (5, 6, 50, 60) and faces[0]["crop"] == b"L"
    np.testing.assert_array_equal(faces[0]["landmarks"], landmarks)
    assert (faces[1]["gender_predicted"], faces[1]["gender_probability"]) == (1, 0.75)
    assert count_faces(db) == 2


def test_posterior_round_trips_and_is_replaced(db, tmp_path):
    query = new_image(db, root_id_for(db, tmp_path), "q.jpg")
    vector = np.full(71, 1 / 71)
    save_posterior(db, query, vector, PosteriorSummary(35, 35.0, 35, 3, 67, True), n_comparisons=4)
    stored = load_posterior(db, query)
    np.testing.assert_allclose(stored["probabilities"], vector, rtol=1e-7)
    assert (stored["age_max"], stored["mode"], stored["ci_low"], stored["ci_high"], stored["flagged"],
            stored["n_comparisons"]) == (70, 35, 3, 67, True, 4)
    peaked = np.zeros(71)
    peaked[20] = 1
    save_posterior(db, query, peaked, PosteriorSummary(20, 20.0, 20, 20, 20, False), n_comparisons=9)
    assert load_posterior(db, query)["mode"] == 20
    assert (count_posteriors(db), count_posteriors(db, flagged_only=True)) == (1, 0)
    assert load_posterior(db, query + 1) is None


def test_a_run_collects_epochs_in_order_and_one_model_is_active(db):
    run = start_run(db, {"epochs": 2, "lr": 0.01})
    add_epoch(db, run, {"epoch": 1, "loss": 2.5})
    add_epoch(db, run, {"epoch": 2, "loss": 1.25})
    finish_run(db, run, "finished", checkpoint_path="runs/1.pt", evaluation={"mae": 4.5})
    stored = get_run(db, run)
    assert stored["config"] == {"epochs": 2, "lr": 0.01}
    assert stored["epochs"] == [{"epoch": 1, "loss": 2.5}, {"epoch": 2, "loss": 1.25}]
    assert (stored["status"], stored["evaluation"], stored["checkpoint_path"]) == ("finished", {"mae": 4.5},
                                                                                   "runs/1.pt")
    first, second = add_model(db, "first", "runs/1.pt", run), add_model(db, "second", "runs/2.pt")
    assert active_model(db) is None
    activate_model(db, first)
    activate_model(db, second)
    assert active_model(db)["id"] == second
    with pytest.raises(sqlite3.IntegrityError):  # the schema itself allows one active model
        db.execute("UPDATE models SET active = 1 WHERE id = ?", [first])
    with pytest.raises(ValueError):
        finish_run(db, run, "exploded")


def test_settings_fall_back_to_defaults_and_refuse_unknown_keys(db):
    assert get_setting(db, "age_max") == 100  # a new project covers 0-100
    assert get_setting(db, "detector_path") is None
    set_setting(db, "age_max", 80)
    set_setting(db, "detector_path", "/models/yunet.onnx")
    assert (get_setting(db, "age_max"), get_setting(db, "detector_path")) == (80, "/models/yunet.onnx")
    with pytest.raises(KeyError, match="known: age_max"):
        get_setting(db, "agemax")


def test_annotators_are_unique_by_name_with_the_default_beta(db):
    alice = annotator_id_for(db, "alice")
    assert annotator_id_for(db, " alice ") == alice
    set_beta(db, alice, 0.2)
    assert [(row["name"], row["beta"]) for row in list_annotators(db)] == [("alice", 0.2)]
    assert annotator_id_for(db, "bob") != alice
    assert list_annotators(db)[1]["beta"] == 0.36
    with pytest.raises(ValueError):
        set_beta(db, alice, 0)


def test_project_stats_count_what_was_written(db, tmp_path):
    root = root_id_for(db, tmp_path)
    references = [new_image(db, root, f"r{i}.jpg", "reference", age=10 * i) for i in range(3)]
    queries = [new_image(db, root, f"q{i}.jpg") for i in range(2)]
    for image in references + queries[:1]:
        add_face(db, image, box=(0, 0, 1, 1), landmarks=np.zeros((5, 2)), score=1, detector="t", crop=b"c", template="chip")
    alice = annotator_id_for(db, "alice")
    kept = [record_comparison(db, query_image_id=queries[0], reference_image_id=r, answer="older",
                              annotator_id=alice) for r in references]
    undo_comparison(db, kept[0])
    save_posterior(db, queries[0], np.full(71, 1 / 71), PosteriorSummary(1, 1.0, 1, 0, 70, True), 2)
    assert project_stats(db) == {"images": 5, "references": 3, "queries": 2, "faces": 4, "comparisons": 2,
                                 "posteriors": 1, "flagged": 1, "runs": 0}


def test_image_paths_are_stored_relative_with_forward_slashes(db, tmp_path):
    root = root_id_for(db, tmp_path)
    image = new_image(db, root, Path("sub") / "x.jpg")
    assert get_image(db, image)["relative_path"] == "sub/x.jpg"
