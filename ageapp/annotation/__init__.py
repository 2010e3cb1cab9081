"""Annotation: a labeller's session over the project store and the posterior maths (no Qt)."""
