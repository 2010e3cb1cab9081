"""A closer look at a face: the stored crop's framing, three times the pixels, from the photo."""

from __future__ import annotations

import cv2
import numpy as np

from ageapp.annotation.closer import detail_crop
from ageapp.annotation.project_import import ImportSource, import_sources
from ageapp.faces.alignment import decode_crop
from ageapp.store.db import open_project
from ageapp.store.faces import largest_face_crop
from tests.factories import make_project


def smooth_photo(path, size=300, seed=0):
    """Blurred noise: detail at every scale, so that a crop and a larger one of the same framing compare."""
    noise = np.random.default_rng(seed).integers(0, 255, (size // 30, size // 30, 3)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC))
    return path


def test_the_closer_crop_is_the_stored_framing_at_three_times_the_pixels(tmp_path):
    smooth_photo(tmp_path / "faces" / "a.png")
    db = open_project(tmp_path / "p.ageproj", create=True)
    import_sources(db, [ImportSource(tmp_path / "faces", "query", "folder", aligned=True)], genders=False)
    image_id = db.execute("SELECT id FROM images").fetchone()[0]
    closer = detail_crop(db, image_id)
    assert closer.shape == (336, 288, 3)
    stored = decode_crop(largest_face_crop(db, image_id)[0]).astype(float)
    shrunk = cv2.resize(closer, (96, 112), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(shrunk - stored).mean() < 5  # the same framing (JPEG and resampling apart)
    # 2 pixels off is far worse: the match is not by chance
    assert np.abs(np.roll(shrunk, 2, axis=1) - stored).mean() > 2.5 * np.abs(shrunk - stored).mean()

    (tmp_path / "faces" / "a.png").rename(tmp_path / "moved.png")
    assert detail_crop(db, image_id) is None  # the photo moved: nothing closer, the caller keeps the crop


def test_no_closer_crop_without_landmarks_or_a_face(tmp_path):
    db, references, queries, _ = make_project(tmp_path / "p.ageproj", references=2, queries=1)
    assert detail_crop(db, queries[0]) is None  # synthetic faces: no landmarks of their own
    assert detail_crop(db, 999) is None
