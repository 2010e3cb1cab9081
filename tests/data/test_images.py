"""Safe decoding: good images of every colour layout decode to BGR uint8; bad files raise ImageError."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from ageapp.faces.images import ImageError, decode_image, load_image


def _jpeg_bytes(array: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", array)[1].tobytes()


def _gradient(height=40, width=60) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]  # red grows to the right
    image[..., 0] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]  # blue grows downwards
    return image


def test_colour_jpeg_round_trips(tmp_path):
    path = tmp_path / "face.jpg"
    path.write_bytes(_jpeg_bytes(_gradient()))
    image = load_image(path)
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert image[20, -1, 2] > 200 and image[20, 0, 2] < 50  # red on the right, in BGR order


def test_greyscale_becomes_three_channels(tmp_path):
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), np.full((30, 30), 77, np.uint8))
    image = load_image(path)
    assert image.shape == (30, 30, 3) and np.all(image == 77)


def test_sixteen_bit_png_becomes_eight_bit(tmp_path):
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), np.full((20, 20, 3), 65535, np.uint16))
    image = load_image(path)
    assert image.dtype == np.uint8 and np.all(image == 255)


def test_cmyk_jpeg_becomes_bgr(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    image = load_image(path)
    blue, green, red = image[16, 16].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    picture = Image.fromarray(np.zeros((20, 60, 3), np.uint8))  # stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    picture.save(path, exif=exif)
    assert load_image(path).shape[:2] == (60, 20)  # shown portrait


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"this is a text file, not a photo\n", "not an image"),
    ],
)
def test_unusable_files_say_why(tmp_path, content, reason):
    path = tmp_path / "face.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        load_image(path)


def test_truncated_jpeg_is_refused():
    data = _jpeg_bytes(_gradient(200, 200))
    with pytest.raises(ImageError, match="truncated JPEG"):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize("kept", [0.3, 0.5, 0.9])
def test_a_truncated_jpeg_that_still_ends_in_its_end_marker_is_refused(kept):
    """The issue's case: cut short, then FF D9 appended; OpenCV decoded it silently with a grey bottom."""
    data = _jpeg_bytes(_gradient(200, 200))
    cut = data[: int(len(data) * kept)] + b"\xff\xd9"
    decoded = cv2.imdecode(np.frombuffer(cut, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and np.all(decoded[-8:, -8:] == 128)  # what slipped through: a grey bottom
    with pytest.raises(ImageError, match="truncated JPEG .the file was cut short"):
        decode_image(cut)


def test_a_whole_jpeg_and_a_flat_grey_one_still_decode():
    assert decode_image(_jpeg_bytes(_gradient(200, 200))).shape == (200, 200, 3)
    assert decode_image(_jpeg_bytes(np.full((64, 64, 3), 128, np.uint8))).shape == (64, 64, 3)


def test_truncated_png_is_refused():
    data = cv2.imencode(".png", _gradient(200, 200))[1].tobytes()
    with pytest.raises(ImageError, match="truncated PNG|corrupt"):
        decode_image(data[: len(data) // 2])


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_the_header():
    with pytest.raises(ImageError, match="pixel"):
        decode_image(_png_claiming(50_000, 50_000))


def test_missing_file_says_so(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "gone.jpg")


def test_pillow_only_format_still_opens():
    buffer = io.BytesIO()
    Image.fromarray(_gradient()[..., ::-1].copy()).save(buffer, format="GIF")
    assert decode_image(buffer.getvalue()).shape == (40, 60, 3)
