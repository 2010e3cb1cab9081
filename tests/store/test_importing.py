"""Importing into a project: bad files reported while the rest goes in, de-duplication by content,
faces from detection / landmarks / aligned chips, and interruption without damage."""

from __future__ import annotations

import hashlib
import shutil

import cv2
import numpy as np
import pytest

from ageapp.faces.alignment import CROP_HEIGHT, CROP_WIDTH, decode_crop
from ageapp.datasets.scan import scan
from ageapp.store.db import open_project
from ageapp.store.faces import faces_of_image
from ageapp.store.images import image_path, list_images
from ageapp.store.importing import import_records
from tests.data.test_importers import write_image, write_pts


@pytest.fixture
def db(tmp_path):
    return open_project(tmp_path / "p.ageproj", create=True)


def import_folder(db, folder, role="query", fmt="auto", **options):
    return import_records(db, scan(folder, fmt), folder, role=role, **options)


def jpeg_bytes(seed: int, size: int = 64) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", pixels)[1].tobytes()


@pytest.fixture
def messy_folder(tmp_path):
    """Two good images, a byte-identical copy, and every kind of bad file a user can hand over."""
    folder = tmp_path / "photos"
    write_image(folder / "good1.jpg", seed=1, size=40)
    write_image(folder / "sub" / "good2.png", seed=2, size=50)
    shutil.copy(folder / "good1.jpg", folder / "copy_of_good1.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    full = jpeg_bytes(3)
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (folder / "notes.jpg").write_text("these are not pixels")
    write_image(folder / "vanishing.jpg", seed=4)
    return folder


def test_bad_files_are_reported_by_path_and_the_rest_imported(db, messy_folder):
    scanned = scan(messy_folder)
    (messy_folder / "vanishing.jpg").unlink()  # deleted between the scan and the import
    report = import_records(db, scanned, messy_folder, role="query")
    assert (report.imported, report.duplicates, report.skipped) == (2, 1, 0)
    assert report.duplicate_files == [{"path": str(messy_folder / "good1.jpg"),
                                       "same_as": str(messy_folder / "copy_of_good1.jpg")}]
    reasons = {error["path"].rsplit("/", 1)[-1]: error["reason"] for error in report.errors}
    assert set(reasons) == {"empty.jpg", "truncated.jpg", "notes.jpg", "vanishing.jpg"}
    assert "empty file" in reasons["empty.jpg"]
    assert "truncated JPEG" in reasons["truncated.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "file not found" in reasons["vanishing.jpg"]
    # random pixels hold no face: imported, and said so
    assert report.faces_found == 0 and len(report.warnings) == 2


def test_imported_rows_hold_the_files_hash_size_dimensions_and_location(db, messy_folder):
    import_folder(db, messy_folder)
    rows = {row["relative_path"]: row for row in list_images(db)}
    sizes = {"copy_of_good1.jpg": 40, "sub/good2.png": 50, "vanishing.jpg": 24}  # the copy is met before good1
    assert set(rows) == set(sizes)
    for relative, size in sizes.items():
        data = (messy_folder / relative).read_bytes()
        row = rows[relative]
        assert row["sha1"] == hashlib.sha1(data).hexdigest() and row["size_bytes"] == len(data)
        assert (row["width"], row["height"], row["role"], row["source_format"]) == (size, size, "query", "folder")
        assert image_path(db, row["id"]) == messy_folder / relative


def test_importing_again_adds_nothing(db, messy_folder):
    first = import_folder(db, messy_folder)
    again = import_folder(db, messy_folder)
    assert (again.imported, again.skipped, again.duplicates) == (0, first.imported + first.duplicates, 0)
    assert len(list_images(db)) == first.imported


def test_a_changed_file_at_an_imported_path_is_reported_not_merged(db, tmp_path):
    folder = tmp_path / "photos"
    write_image(folder / "a.jpg", seed=1)
    import_folder(db, folder)
    write_image(folder / "a.jpg", seed=2)
    report = import_folder(db, folder)
    assert report.imported == 0 and "different file was imported from this path" in report.errors[0]["reason"]


def test_fgnet_landmarks_give_a_face_where_detection_finds_none(db, tmp_path):
    images = tmp_path / "fgnet" / "images"
    grey = np.full((120, 100, 3), 128, np.uint8)  # nothing for a detector to find
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "001A05.JPG"), grey)
    points = np.zeros((68, 2))
    points[[31, 36, 67, 48, 54]] = [[35, 50], [65, 50], [50, 70], [38, 90], [62, 90]]
    write_pts(tmp_path / "fgnet" / "points" / "001a05.pts", points)
    report = import_folder(db, images, role="reference")
    assert (report.imported, report.faces_found, dict(report.faces_found_by)) == (1, 1, {"landmarks": 1})
    [image] = list_images(db)
    assert (image["age"], image["subject"], image["role"]) == (5, "001", "reference")
    [face] = faces_of_image(db, image["id"])
    assert face["detector"] == "landmarks"
    np.testing.assert_allclose(face["landmarks"], points[[31, 36, 67, 48, 54]])
    assert decode_crop(face["crop"]).shape == (CROP_HEIGHT, CROP_WIDTH, 3)


def test_aligned_chips_get_one_face_each(db, tmp_path):
    for seed, name in enumerate(["20_0_0_20170104231305129.jpg.chip.jpg", "30_1_1_20170104231305130.jpg.chip.jpg"]):
        write_image(tmp_path / "utk" / name, seed, size=200)
    report = import_folder(db, tmp_path / "utk", aligned=True)
    assert (report.imported, report.faces_found, report.faces_stored) == (2, 2, 2)
    ages = sorted((row["age"], row["gender"]) for row in list_images(db))
    assert ages == [(20, 0), (30, 1)]


def test_an_interrupted_import_keeps_what_it_wrote_and_resumes(db, tmp_path):
    folder = tmp_path / "photos"
    for seed in range(6):
        write_image(folder / f"{seed}.jpg", seed)

    def interrupt_after_three(done, total):
        if done == 3:
            raise KeyboardInterrupt

    first = import_folder(db, folder, on_progress=interrupt_after_three)
    assert first.interrupted and first.imported == 3
    assert len(list_images(db)) == 3
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rest = import_folder(db, folder)
    assert (rest.imported, rest.skipped, rest.interrupted) == (3, 3, False)
    assert len(list_images(db)) == 6


def test_a_cancel_request_stops_before_the_next_image(db, tmp_path):
    folder = tmp_path / "photos"
    for seed in range(4):
        write_image(folder / f"{seed}.jpg", seed)
    calls = iter([False, False, True])
    report = import_folder(db, folder, should_stop=lambda: next(calls, True))
    assert report.interrupted and report.imported == 0 and len(list_images(db)) == 0


def test_a_csv_may_point_outside_its_folder(db, tmp_path):
    outside = write_image(tmp_path / "elsewhere" / "x.jpg", 5)
    labels = tmp_path / "labels" / "ages.csv"
    labels.parent.mkdir()
    labels.write_text(f"path,age\n{outside},12\n")
    report = import_records(db, scan(labels), labels.parent, role="reference")
    assert report.imported == 1
    [image] = list_images(db)
    assert image_path(db, image["id"]) == outside and image["age"] == 12


def test_unknown_role_is_refused(db, tmp_path):
    with pytest.raises(ValueError, match="role"):
        import_folder(db, tmp_path, role="training")


@pytest.mark.shared
def test_real_fgnet_photos_get_detected_faces(db, fgnet_images, yunet_model, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted(fgnet_images.iterdir())[:24]:
        shutil.copy(path, folder / path.name)
    report = import_folder(db, folder, role="reference", detector_path=yunet_model)
    assert report.imported == 24 and report.errors == []
    assert report.faces_found_by["yunet"] >= 23
    for image in list_images(db):
        assert image["age"] is not None and image["subject"] == image["relative_path"][:3]


def test_ctrl_c_between_an_image_and_its_faces_leaves_neither(db, tmp_path, monkeypatch):
    """An image and its faces are one transaction: no image is ever left without the faces found for it."""
    from ageapp.store import importing

    for seed in range(3):
        write_image(tmp_path / "utk" / f"{20 + seed}_0_0_2017010423130512{seed}.jpg.chip.jpg", seed, size=200)
    real_add_face, calls = importing.face_store.add_face, []

    def add_face_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # after the second image's row, before its face
        return real_add_face(*args, **kwargs)

    monkeypatch.setattr(importing.face_store, "add_face", add_face_then_ctrl_c)
    report = import_folder(db, tmp_path / "utk", aligned=True)
    assert report.interrupted and report.imported == 1
    assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM images WHERE id NOT IN (SELECT image_id FROM faces)").fetchone()[0] == 0
