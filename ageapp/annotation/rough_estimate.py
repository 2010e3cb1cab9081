"""The paper protocol's rough estimate of a query's age, from the model ageapp.model's resolver picks.

`ModelRoughEstimate(db)` is the `rough_estimate` callable that `AnnotationSession` takes: query image id ->
the posterior mean age that the model (the project's active model, else the shipped default) predicts from
the query's stored face crop, or None (no usable model, or the query has no face), in which case the session
falls back to the references' median age (method.md section 2). The model is loaded on first use and again
when another one is made active; estimates are cached per image. No Qt; no torch on the default path.

    session = AnnotationSession(db, name, protocol, rough_estimate=ModelRoughEstimate(db))
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import sqlite_utils

from ageapp.model import ModelFileError, choose_model, open_model
from ageapp.model.crops import crop_for_model
from ageapp.store.faces import largest_face_crop

log = logging.getLogger("ageapp.annotation")
_UNSET = object()


class ModelRoughEstimate:
    def __init__(self, db: sqlite_utils.Database, load: Callable | None = None):
        self.db = db
        self._load = load or open_model
        self._model = None
        self._model_path = _UNSET
        self._unavailable = ""
        self._cache: dict[int, float | None] = {}

    @property
    def problem(self) -> str:
        """Why no model estimates are made ('' when they are)."""
        return self._unavailable

    def _current_model(self):
        choice = choose_model(None, self.db)
        if choice.path != self._model_path:  # first use, or another model was made active meanwhile
            self._model_path, self._model, self._unavailable = choice.path, None, ""
            self._cache.clear()
            try:
                self._model = self._load(choice.path)
            except (ModelFileError, OSError) as error:
                self._unavailable = (f"{choice.label()} could not be loaded ({error}): the rough estimate is the "
                                     "references' median age; make another run active")
                log.warning(self._unavailable)
        return self._model

    def __call__(self, query_image_id: int) -> float | None:
        model = self._current_model()
        if model is None:
            return None
        if query_image_id not in self._cache:
            self._cache[query_image_id] = self._estimate(model, query_image_id)
        return self._cache[query_image_id]

    def _estimate(self, model, image_id: int) -> float | None:
        stored = largest_face_crop(self.db, image_id)
        if stored is None:
            return None
        try:
            crop = crop_for_model(stored[0], stored[1], getattr(model, "template", stored[1]))
        except ValueError:
            return None
        posteriors, _ = model.predict_crops([crop])
        p = np.asarray(posteriors[0], dtype=np.float64)
        return float(p @ np.arange(len(p)) / p.sum())
