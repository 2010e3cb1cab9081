"""numpy BGR crops to Qt images without needless copies."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def crop_to_qimage(crop: np.ndarray) -> QImage:
    """Wrap an (H, W, 3) BGR or (H, W) grey uint8 array as a QImage that SHARES its memory.

    No pixel is copied when the array is C-contiguous (a slice of a larger image is made contiguous
    first, the one copy it needs). The QImage is only valid while the array lives: it keeps a reference
    in `image._ageapp_buffer`, and `QPixmap.fromImage` (the one copy a pixmap needs) ends the tie.
    """
    array = np.asarray(crop)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(
            f"expected an (H, W, 3) BGR or (H, W) grey uint8 image, got shape {array.shape} dtype {array.dtype}"
        )
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    if array.ndim == 3:
        image = QImage(array.data, width, height, array.strides[0], QImage.Format.Format_BGR888)
    else:
        image = QImage(array.data, width, height, array.strides[0], QImage.Format.Format_Grayscale8)
    image._ageapp_buffer = array  # type: ignore[attr-defined]  # keep the pixels alive with the image
    return image


def crop_to_pixmap(crop: np.ndarray) -> QPixmap:
    """One copy: the numpy pixels straight into the pixmap."""
    return QPixmap.fromImage(crop_to_qimage(crop))
