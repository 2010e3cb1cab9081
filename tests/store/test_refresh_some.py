"""Recomputing some queries' posteriors reads only their comparisons and gives what a full recompute gives them
(a β refit recomputes the labeller's queries on the key path: on a 50,000-query project reading every comparison
took 11 s there)."""

from __future__ import annotations

import numpy as np

from ageapp.store.annotators import annotator_id_for, set_beta
from ageapp.store.comparisons import active_comparisons, record_comparison
from ageapp.store.posteriors import load_posterior, refresh_posteriors
from tests.factories import make_project


def test_some_queries_are_recomputed_alone_and_alike(tmp_path):
    db, references, queries, _ = make_project(tmp_path / "p.ageproj", references=20, queries=6)
    ann = annotator_id_for(db, "alice")
    rng = np.random.default_rng(0)
    for query in queries:
        for reference in rng.choice(references, 4, replace=False):
            record_comparison(db, query_image_id=query, reference_image_id=int(reference),
                              answer=str(rng.choice(["older", "younger", "unsure"])), annotator_id=ann)
    refresh_posteriors(db, force=True)
    everything = active_comparisons(db)
    some = active_comparisons(db, queries=queries[:2])
    assert some == [row for row in everything if row["query_image_id"] in queries[:2]] and len(some) == 8
    assert active_comparisons(db, queries=[]) == []

    before = {query: load_posterior(db, query)["probabilities"] for query in queries}
    set_beta(db, ann, 1.2)  # a sharper labeller: every posterior would change
    assert refresh_posteriors(db, queries=queries[:2]) == 2
    for query in queries[2:]:  # the others are left as they were
        np.testing.assert_array_equal(load_posterior(db, query)["probabilities"], before[query])
    partial = {query: load_posterior(db, query)["probabilities"] for query in queries[:2]}
    refresh_posteriors(db, force=True)  # the slow reference: all of them from all comparisons
    for query in queries[:2]:
        np.testing.assert_allclose(partial[query], load_posterior(db, query)["probabilities"], atol=1e-12)
        assert not np.allclose(partial[query], before[query])
