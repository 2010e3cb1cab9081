"""The paper protocol's rough estimate of a query's age, from the model ageapp.model's resolver picks.

`ModelRoughEstimate(db)` is the `rough_estimate` callable that `AnnotationSession` takes: query image id ->
the posterior mean age that the model (the project's active model, else the shipped default) predicts from
the query's stored face crop, or None (no usable model, or the query has no face), in which case the session
falls back to the references' median age (method.md section 2). The model is loaded on first use and again
when another one is made active; estimates are cached per image. No Qt; no torch on the default path.

An active model that cannot be used (damaged, of a newer version, non-finite outputs) gives way to the
shipped default (ageapp.model.load_model with fall_back), and `notice` says so for the page to show.

    session = AnnotationSession(db, name, protocol, rough_estimate=ModelRoughEstimate(db))
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import sqlite_utils

from ageapp.model import ModelFileError, choose_model, default_model_path, load_model
from ageapp.model.crops import crop_for_model
from ageapp.store.faces import largest_face_crop

log = logging.getLogger("ageapp.annotation")
_UNSET = object()


class ModelRoughEstimate:
    def __init__(self, db: sqlite_utils.Database, load: Callable | None = None):
        self.db = db
        self._load = load  # path -> model, in tests; None: ageapp.model.load_model
        self._model = None
        self._model_path = _UNSET
        self._unavailable = ""
        self.notice = ""  # the active model gave way to the default one: why
        self._cache: dict[int, np.ndarray | None] = {}
        self.model_name = ""  # the model in use: its run's name in the project, else its file name

    @property
    def problem(self) -> str:
        """Why no model estimates are made ('' when they are)."""
        return self._unavailable

    def _current_model(self):
        choice = choose_model(None, self.db)
        if choice.path != self._model_path:  # first use, or another model was made active meanwhile
            self._model_path, self._model, self._unavailable, self.notice = choice.path, None, "", ""
            self._cache.clear()
            self.model_name = choice.name or choice.path.name
            try:
                self._model, self.notice = self._open(choice)
                if self.notice:
                    log.warning(self.notice)
            except (ModelFileError, OSError) as error:
                self._unavailable = (f"{choice.label()} could not be loaded ({error}): the rough estimate is the "
                                     "references' median age; make another run active")
                log.warning(self._unavailable)
        return self._model

    def prepare(self) -> str:
        """Load the model now; what the page should say about it ('' if all is well)."""
        self._current_model()
        return self.notice or self._unavailable

    def _open(self, choice):
        """(model, notice): the chosen model, or the default one with a notice when the project's cannot be used."""
        if self._load is None:
            model, _, notice = load_model(None, self.db, fall_back=True)
            return model, notice
        try:
            return self._load(choice.path), ""
        except ModelFileError as error:
            if choice.source != "project":
                raise
            return self._load(default_model_path()), (f"{choice.label()} cannot be used ({error}); using the "
                                                      "default model instead")

    def __call__(self, query_image_id: int) -> float | None:
        p = self.posterior(query_image_id)
        return None if p is None else float(p @ np.arange(len(p)) / p.sum())

    def posterior(self, query_image_id: int) -> np.ndarray | None:
        """The model's posterior for the query's face (over the model's ages), or None; cached per image. The
        model prior (annotation.model_prior) stores it."""
        model = self._current_model()
        if model is None:
            return None
        if query_image_id not in self._cache:
            self._cache[query_image_id] = self._posterior(model, query_image_id)
        return self._cache[query_image_id]

    def _posterior(self, model, image_id: int) -> np.ndarray | None:
        stored = largest_face_crop(self.db, image_id)
        if stored is None:
            return None
        try:
            crop = crop_for_model(stored[0], stored[1], getattr(model, "template", stored[1]))
        except ValueError:
            return None
        posteriors, _ = model.predict_crops([crop])
        return np.asarray(posteriors[0], dtype=np.float64)
