"""Export and merge round trips."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np

from ageapp.__main__ import main
from ageapp.annotation.exchange import merge_projects
from ageapp.annotation.session import AnnotationSession
from ageapp.core.selection import Protocol
from ageapp.store.comparisons import count_comparisons
from ageapp.store.db import open_project
from ageapp.store.posteriors import load_posterior
from tests.factories import make_project


def _answer(db, name, count, seed):
    session = AnnotationSession(db, name, Protocol("paper", comparisons=3), gold_rate=0.0, seed=seed)
    for i in range(count):
        session.answer(session.next_task(), "left" if (i + seed) % 3 else "right")
    return session


def test_export_csv_and_json_match_the_stored_posteriors(tmp_path, capsys):
    db, _, query_ids, _ = make_project(tmp_path / "p.ageproj", references=71, queries=3)
    _answer(db, "ann", 7, seed=1)  # two finished queries and one started
    assert main(["export", str(tmp_path / "p.ageproj"), "--out", str(tmp_path / "out.json")]) == 0
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [row["n_comparisons"] for row in rows] == [3, 3, 1]
    stored = load_posterior(db, query_ids[0])
    assert np.allclose(rows[0]["posterior"], stored["probabilities"], atol=1e-6)
    assert rows[0]["mode"] == int(np.argmax(stored["probabilities"])) and rows[0]["path"].endswith("query/0.jpg")
    assert main(["export", str(tmp_path / "p.ageproj"), "--out", str(tmp_path / "out.csv")]) == 0
    with open(tmp_path / "out.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 3 and len(table[0]["posterior"].split()) == 71
    assert main(["export", str(tmp_path / "p.ageproj"), "--out", str(tmp_path / "out.txt")]) == 1


def test_merge_adds_the_other_labellers_answers_once(tmp_path, capsys):
    db, _, query_ids, _ = make_project(tmp_path / "a.ageproj", references=71, queries=3)
    db.close()
    shutil.copy(tmp_path / "a.ageproj", tmp_path / "b.ageproj")  # the same images, labelled apart
    a, b = open_project(tmp_path / "a.ageproj"), open_project(tmp_path / "b.ageproj")
    _answer(a, "alice", 4, seed=1)
    bob = _answer(b, "bob", 5, seed=2)
    bob.undo()  # an undo travels too
    report = merge_projects(a, b)
    assert report.added == 5 and report.undos_added == 1 and report.unmatched == []
    assert count_comparisons(a) == 4 + 4
    again = merge_projects(a, b)
    assert again.added == 0 and again.already_present == 5 and count_comparisons(a) == 8
    # The merged posterior equals one recomputed from scratch over both labellers' answers.
    from ageapp.annotation.session import recompute_posterior
    before = load_posterior(a, query_ids[0])["probabilities"].copy()
    assert np.allclose(recompute_posterior(a, query_ids[0], 70).posterior, before, atol=1e-6)
    names = {row[0] for row in a.execute("SELECT name FROM annotators")}
    assert names == {"alice", "bob"}
