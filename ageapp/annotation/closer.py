"""A closer look at a face: its aligned crop again, framed as the stored 112x96 crop is but `scale` times larger,
cut from the original photo (so the wrinkles and skin the small crop blurs can be seen). No Qt.

The photo is read from where the project's root says it is; when it has moved (or the face has no landmarks of
its own) there is nothing closer to show and the caller keeps the stored crop.
"""

from __future__ import annotations

import numpy as np
import sqlite_utils

from ageapp.faces.alignment import align_face
from ageapp.faces.images import ImageError, decode_image, read_image_bytes
from ageapp.store.faces import faces_of_image
from ageapp.store.images import image_path

DETAIL_SCALE = 3  # 336 x 288 pixels


def detail_crop(db: sqlite_utils.Database, image_id: int, scale: int = DETAIL_SCALE) -> np.ndarray | None:
    """The image's face (its largest) aligned at `scale` times the crop's size from the photo, or None."""
    faces = faces_of_image(db, image_id)
    if not faces:
        return None
    face = faces[0]
    landmarks = np.asarray(face["landmarks"], dtype=np.float64)
    if landmarks.shape != (5, 2) or landmarks.var(axis=0).sum() < 1.0:  # no landmarks of its own
        return None
    try:
        image = decode_image(read_image_bytes(image_path(db, image_id)))
        return align_face(image, landmarks, face["template"], scale)
    except (ImageError, KeyError, OSError, ValueError):
        return None
