"""The project's labelled faces, as training reads them: references with a known age (exact or a range) and
queries with a comparison posterior, each with its largest face's stored crop (JPEG bytes).

A query's posterior is, by default, its likelihood-only one (the answers under the uniform prior), so that a
network trained on the project does not learn the model prior's opinion back; `posterior="prior"` reads the
posterior as labelled (prior × likelihoods). One query, in SQL, so that a project with tens of thousands of faces is read in one pass; the trainer
(`trainer.samples.ProjectSource`) turns the rows into samples. No Qt, no torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import sqlite_utils

from ageapp.store.faces import largest_face_id_sql

# The largest face of each image (the one the labeller saw; store.faces.faces_of_image orders the same way).
_LABELLED_FACES = f"""
SELECT i.id AS image_id, i.sha1, i.subject, i.gender, i.role, i.age, i.age_min, i.age_max,
       r.path AS root, i.relative_path,
       f.id AS face_id, f.crop, f.template,
       p.probabilities, COALESCE(p.likelihood, p.probabilities) AS likelihood, p.prior,
       p.age_max AS posterior_age_max, p.n_comparisons, p.updated AS posterior_updated
FROM images i
JOIN roots r ON r.id = i.root_id
LEFT JOIN posteriors p ON p.query_image_id = i.id
LEFT JOIN faces f ON f.id = {largest_face_id_sql("i.id")}
WHERE (i.role = 'reference' AND i.age_min IS NOT NULL)
   OR (i.role = 'query' AND p.query_image_id IS NOT NULL AND p.n_comparisons > 0)
ORDER BY i.id
"""


@dataclass
class LabelledFace:
    """One labelled image: a reference's age (exact: age set; range: age_min..age_max) or a query's posterior."""

    image_id: int
    sha1: str
    path: Path
    role: str
    face_id: int | None
    crop: bytes | None = field(repr=False)
    template: str | None = None  # the face template the crop was aligned to
    subject: str | None = None
    gender: int | None = None
    age: float | None = None
    age_min: float | None = None
    age_max: float | None = None
    posterior: np.ndarray | None = field(default=None, repr=False)
    n_comparisons: int = 0


@dataclass
class LabelledFaces:
    faces: list[LabelledFace]
    digest: str  # changes whenever a label, a posterior or a face changes


LIKELIHOOD, WITH_PRIOR = "likelihood", "prior"
POSTERIOR_SOURCES = (LIKELIHOOD, WITH_PRIOR)


def labelled_faces(db: sqlite_utils.Database, posterior: str = LIKELIHOOD) -> LabelledFaces:
    """Every reference with a known age and every compared query (with at least one comparison), in image
    order; a query's posterior is its likelihood-only one (default) or, with posterior="prior", the one under
    the project's prior. Images without a face have face_id None and crop None (the caller reports them)."""
    if posterior not in POSTERIOR_SOURCES:
        raise ValueError(f"posterior must be one of {', '.join(POSTERIOR_SOURCES)}, not {posterior!r}")
    column = "likelihood" if posterior == LIKELIHOOD else "probabilities"
    faces, digest = [], hashlib.sha1()
    for row in db.query(_LABELLED_FACES):
        vector = None
        if row["role"] == "query":
            vector = np.frombuffer(row[column], dtype="<f4").astype(np.float64)
        faces.append(LabelledFace(
            image_id=row["image_id"], sha1=row["sha1"], path=Path(row["root"]) / PurePosixPath(row["relative_path"]),
            role=row["role"], face_id=row["face_id"], crop=row["crop"], template=row["template"],
            subject=row["subject"],
            gender=row["gender"], age=row["age"] if vector is None else None,
            age_min=row["age_min"] if vector is None else None,
            age_max=row["age_max"] if vector is None else None,
            posterior=vector, n_comparisons=row["n_comparisons"] or 0,
        ))
        digest.update(repr((row["image_id"], row["face_id"], row["age_min"], row["age_max"], row["gender"],
                            row["posterior_updated"], row["n_comparisons"], row["prior"], posterior)).encode())
    return LabelledFaces(faces, digest.hexdigest())


def count_labelled(db: sqlite_utils.Database) -> dict[str, int]:
    """What training from this project would use: references with an exact age, with an age range, and
    queries with a posterior (at least one comparison); each counted only if it has a face."""
    row = db.execute(
        "SELECT"
        " sum(i.role = 'reference' AND i.age IS NOT NULL),"
        " sum(i.role = 'reference' AND i.age IS NULL AND i.age_min IS NOT NULL),"
        " sum(i.role = 'query' AND p.n_comparisons > 0)"
        " FROM images i LEFT JOIN posteriors p ON p.query_image_id = i.id"
        " WHERE EXISTS (SELECT 1 FROM faces WHERE image_id = i.id)"
    ).fetchone()
    exact, ranged, queries = (int(value or 0) for value in row)
    return {"exact": exact, "range": ranged, "queries": queries, "total": exact + ranged + queries}
