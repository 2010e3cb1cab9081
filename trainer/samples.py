"""Labelled samples from a pluggable source: a folder read by `ageapp.datasets.scan.scan` (any of its
formats), or a project (.ageproj: `ProjectSource`: references with known ages, queries with comparison
posteriors, their crops stored in the project). A `Sample` is keyed by the SHA-1 of its file's bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from trainer.targets import make_target


# Formats whose images are always aligned face chips (a face filling the frame defeats a photo detector).
ALIGNED_FORMATS = {"utkface"}


NO_GENDER = -1


@dataclass
class Sample:
    """One labelled image. key = SHA-1 of the file's bytes (de-duplication, splits, cache)."""

    key: str
    path: str
    age: float | None = None
    age_min: float | None = None
    age_max: float | None = None
    gender: int = NO_GENDER
    subject: str | None = None
    posterior: np.ndarray | None = field(default=None, repr=False)
    landmarks: np.ndarray | None = field(default=None, repr=False)
    aligned: bool = False  # the image is already a face crop
    crop_bytes: bytes | None = field(default=None, repr=False)  # a stored crop (JPEG, a project's face)
    project: str | None = None  # the .ageproj it came from
    crop_template: str | None = None  # the face template a stored crop was made with

    @property
    def true_age(self) -> float | None:
        """The age metrics compare against: the exact age, a range's midpoint, or a posterior's mode."""
        if self.age is not None:
            return float(self.age)
        if self.age_min is not None and self.age_max is not None:
            return (float(self.age_min) + float(self.age_max)) / 2.0
        if self.posterior is not None:
            return float(np.argmax(self.posterior))
        return None

    def target(self, age_max: int) -> np.ndarray:
        return make_target(age_max, self.age, self.age_min, self.age_max, self.posterior)


def file_hash(path: str | Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


class FolderSource:
    """A folder of labelled images, read by ageapp.datasets.scan.scan(root, fmt)."""

    def __init__(self, root: str | Path, fmt: str = "auto", aligned: bool = False):
        self.root = Path(root).expanduser().resolve()
        self.fmt = fmt
        self.aligned = aligned
        if not self.root.exists():
            raise FileNotFoundError(f"data folder {self.root} does not exist")

    @property
    def identity(self) -> str:
        return f"folder:{self.root}:{self.fmt}:aligned={self.aligned}"

    def samples(self, progress: Callable[[Iterable], Iterable] = lambda it: it) -> tuple[list[Sample], list[str]]:
        """All labelled samples and the problems found (unreadable names, unlabelled files ...)."""
        records, problems = _scan(self.root, self.fmt)
        samples = []
        for record in progress(records):
            age = getattr(record, "age", None)
            low, high = getattr(record, "age_min", None), getattr(record, "age_max", None)
            if age is None and (low is None or high is None):
                problems.append(f"{record.path}: no age label, skipped")
                continue
            try:
                key = file_hash(record.path)
            except OSError as error:
                problems.append(f"{record.path}: cannot read ({error})")
                continue
            gender = getattr(record, "gender", None)
            landmarks = getattr(record, "landmarks", None)
            samples.append(Sample(
                key=key, path=str(record.path), age=age, age_min=low, age_max=high,
                gender=NO_GENDER if gender is None else int(gender),
                subject=None if getattr(record, "subject", None) is None else str(record.subject),
                landmarks=None if landmarks is None else np.asarray(landmarks, np.float32),
                aligned=self.aligned or getattr(record, "source_format", None) in ALIGNED_FORMATS,
            ))
        return samples, problems


class ProjectSource:
    """The labelled faces of an .ageproj project (method.md section 3's three kinds of target): references
    with an exact age (Gaussian, sigma 2) or an age range (range target), and queries with a comparison
    posterior (used as it is, resampled onto 0..age_max; its "true age" is the posterior's mode). Crops are
    the aligned crops stored in the project's faces table: no detection, and no crop cache (they are stored
    already, and a cache keyed by the project could go stale as labels change). `labels_digest` (after
    `samples()`) changes whenever a label, a posterior or a face changes."""

    def __init__(self, path: str | Path, posterior: str = "likelihood"):
        self.path = Path(path).expanduser().resolve()
        self.posterior = posterior  # a query's likelihood-only posterior (default) or the one under the prior
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a folder: --format project reads a .ageproj project file "
                             "(for an image folder use --format auto or the folder's format)")
        if not self.path.is_file():
            raise FileNotFoundError(f"project {self.path} does not exist")
        self.labels_digest: str | None = None
        self.counts: dict[str, int] = {}

    @property
    def identity(self) -> str:
        return f"project:{self.path}" + ("" if self.posterior == "likelihood" else f"#{self.posterior}")

    def samples(self, progress: Callable[[Iterable], Iterable] = lambda it: it) -> tuple[list[Sample], list[str]]:
        from ageapp.store.db import ProjectError, open_project
        from ageapp.store.training_data import labelled_faces

        try:
            db = open_project(self.path, read_only=True)
        except ProjectError as error:
            raise ValueError(str(error)) from None
        try:
            found = labelled_faces(db, self.posterior)
        finally:
            db.close()
        self.labels_digest = found.digest
        samples, problems = [], []
        counts = {"exact": 0, "range": 0, "queries": 0}
        for face in progress(found.faces):
            if face.crop is None:
                problems.append(f"{face.path}: no face in the project (image {face.image_id}), skipped")
                continue
            kind = "queries" if face.posterior is not None else "exact" if face.age is not None else "range"
            counts[kind] += 1
            samples.append(Sample(
                key=face.sha1, path=str(face.path), age=face.age, age_min=face.age_min, age_max=face.age_max,
                gender=NO_GENDER if face.gender is None else int(face.gender), subject=face.subject,
                posterior=face.posterior, crop_bytes=face.crop, project=str(self.path), crop_template=face.template,
            ))
        self.counts = counts
        if not samples:
            raise ValueError(f"{self.path.name} has no labelled faces yet: import references with known ages, "
                             "or label some queries by comparison, then train")
        return samples, problems


def make_source(path: str | Path, fmt: str = "auto", aligned: bool = False, project_posterior: str = "likelihood"):
    """A project's source learns from its queries' likelihood-only posteriors unless project_posterior="prior"
    (the posteriors as labelled, prior × likelihoods: with the model prior, partly the model's own opinion)."""
    if fmt == "project" or str(path).endswith(".ageproj"):
        return ProjectSource(path, project_posterior)
    return FolderSource(path, fmt, aligned)


def _scan(root: Path, fmt: str):
    from ageapp.datasets.scan import scan

    result = scan(root, fmt)
    problems = [f"{problem.path}: {problem.reason}" + (" (kept)" if getattr(problem, "kept", False) else "")
                for problem in result.problems]
    return list(result.records), problems
