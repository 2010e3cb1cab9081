"""Counts that summarise a project (for `ageapp stats` and the window's status line)."""

from __future__ import annotations

import sqlite_utils

from ageapp.store.comparisons import count_comparisons
from ageapp.store.faces import count_faces
from ageapp.store.images import count_images
from ageapp.store.posteriors import count_posteriors
from ageapp.store.runs import count_runs


def project_stats(db: sqlite_utils.Database) -> dict[str, int]:
    """images, references, queries, faces, comparisons (active, non-gold), posteriors, flagged posteriors,
    training runs recorded."""
    return {
        "images": count_images(db),
        "references": count_images(db, "reference"),
        "queries": count_images(db, "query"),
        "faces": count_faces(db),
        "comparisons": count_comparisons(db),
        "posteriors": count_posteriors(db),
        "flagged": count_posteriors(db, flagged_only=True),
        "runs": count_runs(db),
    }
