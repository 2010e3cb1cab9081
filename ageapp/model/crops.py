"""A project's stored face crop, made ready for a model: decoded, and converted from the face template it was
cropped with to the one the model was trained on (ageapp.faces.alignment.convert_crop)."""

from __future__ import annotations

import numpy as np

from ageapp.faces.alignment import LEGACY_TEMPLATE, convert_crop, decode_crop


def crop_for_model(blob: bytes, template: str | None, model_template: str) -> np.ndarray:
    """The stored crop as the model expects it; ValueError when the bytes do not decode."""
    return convert_crop(decode_crop(blob), template or LEGACY_TEMPLATE, model_template)
