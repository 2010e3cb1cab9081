"""Comparisons are append-only facts; undo is a fact of its own; readers see only what still counts."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from ageapp.store.annotators import annotator_id_for, set_beta
from ageapp.store.comparisons import (
    OUTCOME_OF_ANSWER,
    active_comparisons,
    count_comparisons,
    record_comparison,
    record_gold_comparison,
    undo_comparison,
)
from ageapp.store.db import open_project
from ageapp.store.images import add_image, root_id_for


@pytest.fixture
def project(tmp_path):
    """A project with references aged 10 and 40, one reference without an age, and two queries."""
    db = open_project(tmp_path / "p.ageproj", create=True)
    root = root_id_for(db, tmp_path)

    def image(name, role, **ages):
        return add_image(db, root_id=root, relative_path=name, sha1=name, size_bytes=1, source_format="test",
                         role=role, **ages)

    ids = {
        "ref10": image("ref10", "reference", age=10), "ref40": image("ref40", "reference", age=40),
        "ref_range": image("ref_range", "reference", age_min=25, age_max=32),
        "q1": image("q1", "query"), "q2": image("q2", "query"),
    }
    alice = annotator_id_for(db, "alice")
    return db, ids, alice


def answer(db, ids, alice, query, reference, text):
    return record_comparison(db, query_image_id=ids[query], reference_image_id=ids[reference], answer=text,
                             annotator_id=alice, response_ms=900, query_side="left")


def test_a_comparison_gets_a_uuid_and_reads_back_with_reference_age_and_beta(project):
    db, ids, alice = project
    set_beta(db, alice, 0.5)
    comparison_id = answer(db, ids, alice, "q1", "ref40", "younger")
    assert uuid.UUID(comparison_id).version == 4
    [row] = active_comparisons(db, ids["q1"])
    assert (row["id"], row["answer"], row["reference_age"], row["beta"]) == (comparison_id, "younger", 40, 0.5)
    assert (row["response_ms"], row["query_side"], row["is_gold"]) == (900, "left", 0)


def test_update_and_delete_of_a_comparison_are_refused(project):
    db, ids, alice = project
    comparison_id = answer(db, ids, alice, "q1", "ref10", "older")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE comparisons SET answer = 'younger' WHERE id = ?", [comparison_id])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM comparisons WHERE id = ?", [comparison_id])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM comparisons")
    assert [row["answer"] for row in db.query("SELECT answer FROM comparisons")] == ["older"]


def test_undo_hides_a_comparison_without_removing_it_and_cannot_itself_be_removed(project):
    db, ids, alice = project
    first = answer(db, ids, alice, "q1", "ref10", "older")
    second = answer(db, ids, alice, "q1", "ref40", "younger")
    other_query = answer(db, ids, alice, "q2", "ref40", "unsure")
    undo_comparison(db, first)
    assert [row["id"] for row in active_comparisons(db, ids["q1"])] == [second]
    assert [row["id"] for row in active_comparisons(db)] == [second, other_query]
    assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 3
    assert count_comparisons(db) == 2
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM undone")
    with pytest.raises(ValueError, match="already undone"):
        undo_comparison(db, first)
    with pytest.raises(ValueError, match="no comparison"):
        undo_comparison(db, str(uuid.uuid4()))


def test_gold_comparisons_pit_two_references_and_stay_out_of_query_readings(project):
    db, ids, alice = project
    gold = record_gold_comparison(db, shown_as_query_image_id=ids["ref40"], reference_image_id=ids["ref10"],
                                  answer="older", annotator_id=alice)
    answer(db, ids, alice, "q1", "ref10", "older")
    [row] = active_comparisons(db, gold=True)
    assert (row["id"], row["query_image_id"], row["second_reference_image_id"]) == (gold, None, ids["ref40"])
    assert len(active_comparisons(db)) == 1 and count_comparisons(db) == 1


def test_answers_map_to_the_posterior_outcomes():
    assert OUTCOME_OF_ANSWER == {"older": 1, "younger": 0, "unsure": None}


@pytest.mark.parametrize("bad", [
    {"answer": "same"}, {"query_side": "top"}, {"reference": "q2"}, {"reference": "ref_range"},
])
def test_invalid_comparisons_are_refused_and_nothing_is_written(project, bad):
    db, ids, alice = project
    with pytest.raises(ValueError):
        record_comparison(db, query_image_id=ids["q1"], reference_image_id=ids[bad.get("reference", "ref10")],
                          answer=bad.get("answer", "older"), annotator_id=alice,
                          query_side=bad.get("query_side", "left"))
    assert db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0
