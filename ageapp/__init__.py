"""ageapp: facial age labelling by pairwise comparison, training and estimation."""

__version__ = "0.1.0"
