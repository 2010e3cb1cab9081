"""Every image in the bad corpus decodes correctly or is refused with a reason; none crashes."""

from __future__ import annotations

import os

import pytest

from ageapp.faces.images import ImageError, load_image

REFUSED = {
    "zero_bytes.jpg": "empty file",
    "text_named.jpg": "not an image",
    "truncated.jpg": "truncated JPEG",
    "truncated_ends_whole.jpg": "truncated JPEG .the file was cut short",
    "truncated.png": "truncated PNG|corrupt",
    "bomb_50000x50000.png": "pixel",
}


@pytest.mark.parametrize("name, reason", sorted(REFUSED.items()))
def test_bad_images_are_refused_with_a_reason(bad_corpus, name, reason):
    with pytest.raises(ImageError, match=reason):
        load_image(bad_corpus / "images" / name)


def test_awkward_but_valid_images_decode(bad_corpus):
    folder = bad_corpus / "images"
    usable = [entry for entry in os.listdir(os.fsencode(folder)) if os.fsdecode(entry) not in REFUSED]
    assert len(usable) == 5  # cmyk, 16-bit, exif-rotated, very long name, non-UTF-8 name
    for entry in usable:
        image = load_image(os.path.join(os.fsencode(folder), entry).decode("utf-8", "surrogateescape"))
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"
    assert load_image(folder / "exif_rotated.jpg").shape[:2] == (140, 60)  # stored 60x140, shown upright
