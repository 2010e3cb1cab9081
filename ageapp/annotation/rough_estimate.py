"""The paper protocol's rough estimate of a query's age from the project's active model.

`ActiveModelEstimate(db)` is the `rough_estimate` callable that `AnnotationSession` takes: query image id ->
the posterior mean age the active model (ageapp.store.runs.active_model) predicts from the query's stored
face crop, or None (no active model, the model cannot be loaded, the query has no face), in which case the
session falls back to the references' median age. The model is loaded once, on first use; estimates are
cached per image. No Qt; torch is imported only when a model is loaded.

    session = AnnotationSession(db, name, protocol, rough_estimate=ActiveModelEstimate(db))
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import sqlite_utils

from ageapp.data.faces import decode_crop
from ageapp.store.runs import active_model

log = logging.getLogger("ageapp.annotation")
_UNSET = object()


class ActiveModelEstimate:
    def __init__(self, db: sqlite_utils.Database, load: Callable | None = None):
        self.db = db
        self._load = load
        self._estimator = None
        self._model_path: str | None | object = _UNSET
        self._unavailable = ""
        self._cache: dict[int, float | None] = {}

    @property
    def problem(self) -> str:
        """Why no model estimates are made ('' when they are)."""
        return self._unavailable

    def _model(self):
        model = active_model(self.db)
        path = model["checkpoint_path"] if model else None
        if path != self._model_path:  # first use, or another model was made active meanwhile
            self._model_path, self._estimator, self._unavailable = path, None, ""
            self._cache.clear()
            if path is None:
                self._unavailable = "no active model: the rough estimate is the references' median age"
            else:
                self._estimator = self._load_estimator(path)
        return self._estimator

    def _load_estimator(self, path: str):
        from ageapp.estimation.model import ModelUnavailable, load_estimator

        load = self._load or load_estimator
        try:
            return load(Path(path))
        except (ModelUnavailable, OSError) as error:
            self._unavailable = f"the active model could not be loaded ({error}): make another run active"
            log.warning(self._unavailable)
            return None

    def __call__(self, query_image_id: int) -> float | None:
        estimator = self._model()
        if estimator is None:
            return None
        if query_image_id not in self._cache:
            self._cache[query_image_id] = self._estimate(estimator, query_image_id)
        return self._cache[query_image_id]

    def _estimate(self, estimator, image_id: int) -> float | None:
        row = self.db.execute(
            "SELECT crop FROM faces WHERE image_id = ? ORDER BY box_w * box_h DESC, id LIMIT 1", [image_id]
        ).fetchone()
        if row is None:
            return None
        try:
            crop = decode_crop(row[0])
        except ValueError:
            return None
        posteriors, _ = estimator.predict_crops([crop])
        p = np.asarray(posteriors[0], dtype=np.float64)
        return float(p @ np.arange(len(p)) / p.sum())


def rough_estimate_for(db: sqlite_utils.Database) -> ActiveModelEstimate:
    return ActiveModelEstimate(db)
