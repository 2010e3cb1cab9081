"""Safe image decoding: every file a user can point the app at either decodes to a BGR uint8 array
or raises ImageError with a reason that says what is wrong."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

# A decompression bomb declares a huge canvas in a tiny file; refuse before decoding a single pixel.
MAX_PIXELS = 40_000_000
# The app never needs more than this many bytes of one photo.
MAX_FILE_BYTES = 200 * 1024 * 1024
# A JPEG cut short decodes with every block after the cut at exactly mid-grey: libjpeg fills the missing data
# with zero coefficients, up to the last block. A photo whose last 8 x 8 block is exactly (128, 128, 128), and
# that is not all of that grey, is one of those (a real photo has no exactly flat mid-grey block there).
MISSING_DATA_GREY = 128
MISSING_BLOCK = 8  # one JPEG block


class ImageError(ValueError):
    """An image that cannot be used, with a reason a user can act on."""


def read_image_bytes(path: str | Path) -> bytes:
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError("file not found (moved or deleted?)") from None
    except OSError as error:
        raise ImageError(f"cannot read the file: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):  # a pipe or device: a read could block forever
        raise ImageError("not a regular file (a pipe, device or folder): not an image")
    size = info.st_size
    if size == 0:
        raise ImageError("empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"file is {size / 1e6:.0f} MB, larger than the {MAX_FILE_BYTES // 2**20} MB limit")
    try:
        return path.read_bytes()
    except OSError as error:
        raise ImageError(f"cannot read the file: {error.strerror or error}") from None


def _check_header(data: bytes) -> str:
    """Identify the format and refuse oversized canvases from the header alone."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
            image_format = header.format or "unknown"
    except Image.DecompressionBombError:
        raise ImageError(f"image dimensions are absurdly large (over {MAX_PIXELS:,} pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageError("not an image (or an unsupported format): open it in an image viewer to check") from None
    if width * height > MAX_PIXELS:
        raise ImageError(f"image is {width}x{height} pixels, over the {MAX_PIXELS:,}-pixel limit")
    return image_format


def _check_complete(data: bytes, image_format: str) -> None:
    """Truncated files decode to a grey-filled half picture with OpenCV; catch them by their end markers."""
    tail = data[-4096:]
    if image_format == "JPEG" and b"\xff\xd9" not in tail:
        raise ImageError("truncated JPEG (the file ends before the image does): re-copy or re-download it")
    if image_format == "PNG" and b"IEND" not in tail:
        raise ImageError("truncated PNG (the file ends before the image does): re-copy or re-download it")


def decode_image(data: bytes) -> np.ndarray:
    """Decode bytes to an (H, W, 3) uint8 BGR array, EXIF orientation applied, grey/CMYK/16-bit/alpha converted."""
    image_format = _check_header(data)
    _check_complete(data, image_format)
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_COLOR applies EXIF orientation and converts grey, CMYK and 16-bit to 8-bit BGR.
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        image = _decode_with_pillow(data)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        raise ImageError(f"image is too small or malformed (shape {image.shape})")
    if image_format == "JPEG" and _bottom_is_missing(image):
        raise ImageError("truncated JPEG (the file was cut short and its bottom is missing, though it ends like "
                         "a whole one): re-copy or re-download it")
    return np.ascontiguousarray(image)


def _bottom_is_missing(image: np.ndarray) -> bool:
    """Whether the last block of a decoded JPEG (bottom right: blocks are decoded row by row, so a cut always
    reaches it) is the exact flat grey of data that was never there, in a picture that is not flat grey all
    over (that one cannot be told from a file cut at its start)."""
    corner = image[-MISSING_BLOCK:, -MISSING_BLOCK:]
    return bool(np.all(corner == MISSING_DATA_GREY)) and not bool(np.all(image == MISSING_DATA_GREY))


def _decode_with_pillow(data: bytes) -> np.ndarray:
    """Formats OpenCV lacks (some GIF/ICO/TIFF variants) still open through Pillow."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            rgb = picture.convert("RGB")
    except Exception as error:  # Pillow raises many types for corrupt data
        raise ImageError(f"the image data is corrupt ({type(error).__name__}): re-copy or re-export it") from None
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)


def load_image(path: str | Path) -> np.ndarray:
    """Read and decode one image file safely (see decode_image)."""
    return decode_image(read_image_bytes(path))
