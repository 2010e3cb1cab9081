"""The model as the prior (ageapp.core.prior; issue 18): when the project's prior is the model's, a query's face
is run through the model (the project's active model, else the shipped default: ageapp.model.choose_model, as
for the paper protocol's rough estimate) the first time the query is served, and the model's posterior is
stored (store.priors); the query's posterior is then prior × likelihoods. Stored once: a model made active
later does not change the prior of a query already started (each posterior says which model it used).

The labeller never sees the model's estimate on the comparison panel (it would bias the answer); the plot may
show the prior faintly behind the posterior, and a study hides the plot altogether (hide_posterior).

    session = AnnotationSession(db, name, protocol, rough_estimate=rough, prior_source=ModelPrior(db, rough))
"""

from __future__ import annotations

import sqlite_utils

from ageapp.annotation.rough_estimate import ModelRoughEstimate
from ageapp.annotation.session import recompute_posterior
from ageapp.core.prior import MODEL
from ageapp.store.posteriors import load_posterior
from ageapp.store.priors import has_model_prior, prior_choice, save_model_prior
from ageapp.store.settings import get_setting


class ModelPrior:
    def __init__(self, db: sqlite_utils.Database, estimate: ModelRoughEstimate | None = None):
        self.db = db
        self.estimate = estimate if estimate is not None else ModelRoughEstimate(db)

    def wanted(self) -> bool:
        return prior_choice(self.db).kind == MODEL

    def prepare(self) -> str:
        """Load the model now if the project's prior is the model's; what the page should say ('' if all is well)."""
        return self.estimate.prepare() if self.wanted() else ""

    def __call__(self, query_image_id: int) -> bool:
        """Store the model's posterior for this query if the project wants it and has none yet (and bring a
        stored posterior up to date with it). True when one was stored."""
        if not self.wanted() or has_model_prior(self.db, query_image_id):
            return False
        posterior = self.estimate.posterior(query_image_id)
        if posterior is None:  # no face, or no usable model: the uniform prior, and the posterior says so
            return False
        with self.db.atomic():
            save_model_prior(self.db, query_image_id, self.estimate.model_name, posterior)
            if load_posterior(self.db, query_image_id) is not None:  # started under another prior: follow
                recompute_posterior(self.db, query_image_id, int(get_setting(self.db, "age_max")))
        return True
