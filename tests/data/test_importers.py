"""Dataset readers: names, label files and folders the tests write themselves, then the real FG-NET/UTKFace."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ageapp.datasets.label_files import parse_adience_age
from ageapp.datasets.photos import fgnet_labels, read_pts, utkface_labels
from ageapp.datasets.records import ScanError
from ageapp.datasets.scan import detect_format, scan


def write_image(path: Path, seed: int = 0, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def write_pts(path: Path, points: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(f"{x} {y}" for x, y in points)
    path.write_text(f"version: 1\nn_points: {len(points)}\n{{\n{body}\n}}\n")
    return path


def labels_of(record):
    return record.age, record.age_min, record.age_max, record.gender, record.subject


# ---- name parsers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, age, subject", [
    ("001A02.JPG", 2, "001"), ("078a11b.jpg", 11, "078"), ("009A16a.JPG", 16, "009"), ("082A00.jpeg", 0, "082"),
])
def test_fgnet_names(name, age, subject):
    labels, reason = fgnet_labels(name)
    assert (labels.age, labels.age_min, labels.age_max, labels.subject, reason) == (age, age, age, subject, None)


@pytest.mark.parametrize("name", ["001A2.JPG", "01A02.JPG", "001B02.JPG", "001A02.png", "001A02ab.JPG", ""])
def test_fgnet_names_that_do_not_fit_give_a_reason(name):
    labels, reason = fgnet_labels(name)
    assert labels.age is None and "NNNAaa" in reason


@pytest.mark.parametrize("name, expected, reason_part", [
    ("25_1_3_20170104231305129.jpg.chip.jpg", (25, 25, 25, 1, None), None),
    ("100_0_0_20170112213500903.jpg.chip.jpg", (100, 100, 100, 0, None), None),
    # the malformed names of the real release: a missing field, a missing dot, a space
    ("39_1_20170116174525125.jpg.chip.jpg", (39, 39, 39, None, None), "kept its age only"),
    ("55_0_0_20170116232725357jpg.chip.jpg", (55, 55, 55, 0, None), "kept its age and gender"),
    ("61_1_0_20170109150557335 .jpg.chip.jpg", (61, 61, 61, 1, None), "kept its age and gender"),
    ("holiday.jpg", (None, None, None, None, None), "without an age"),
    ("999_0_0_20170109150557335.jpg.chip.jpg", (None, None, None, None, None), "without an age"),
])
def test_utkface_names_keep_what_parses(name, expected, reason_part):
    labels, reason = utkface_labels(name)
    assert (labels.age, labels.age_min, labels.age_max, labels.gender, labels.subject) == expected
    assert reason is None if reason_part is None else reason_part in reason


@pytest.mark.parametrize("text, expected, has_reason", [
    ("(25, 32)", (None, 25, 32), False), ("(0, 2)", (None, 0, 2), False), ("(60, 100)", (None, 60, 100), False),
    ("35", (35, 35, 35), False), ("None", (None, None, None), False), ("", (None, None, None), False),
    ("(38, 42)", (None, None, None), True), ("(8, 23)", (None, None, None), True), ("old", (None, None, None), True),
])
def test_adience_ages(text, expected, has_reason):
    labels, reason = parse_adience_age(text)
    assert (labels.age, labels.age_min, labels.age_max) == expected
    assert (reason is not None) == has_reason


@given(st.text())
def test_name_parsers_never_raise_and_explain_every_missing_age(text):
    for parse in (fgnet_labels, utkface_labels):
        labels, reason = parse(text)
        assert labels.age is not None or reason
    labels, reason = parse_adience_age(text)
    assert labels.age_min is not None or reason or text.strip().lower() in ("", "none")


# ---- FG-NET ----------------------------------------------------------------------------------------------

def fgnet_points(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 24, (68, 2)).round(3)


def test_fgnet_folder_with_sibling_points(tmp_path):
    images = tmp_path / "fgnet" / "images"
    write_image(images / "001A02.JPG", 1)
    write_image(images / "002a15b.jpg", 2)
    write_image(images / "scan_0001.JPG", 3)
    points = fgnet_points(1)
    write_pts(tmp_path / "fgnet" / "points" / "001a02.pts", points)
    (tmp_path / "fgnet" / "points" / "002a15b.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    result = scan(images, "fgnet")
    by_name = {record.path.name: record for record in result.records}
    assert labels_of(by_name["001A02.JPG"]) == (2, 2, 2, None, "001")
    assert labels_of(by_name["002a15b.jpg"]) == (15, 15, 15, None, "002")
    assert labels_of(by_name["scan_0001.JPG"]) == (None, None, None, None, None)
    # FG-NET's own markup: pupils 31 and 36, nose tip 67, mouth corners 48 and 54
    np.testing.assert_allclose(by_name["001A02.JPG"].landmarks, points[[31, 36, 67, 48, 54]], atol=1e-3)
    assert by_name["002a15b.jpg"].landmarks is None
    reasons = {problem.path.name: (problem.reason, problem.kept) for problem in result.problems}
    assert reasons["scan_0001.JPG"][1] and "NNNAaa" in reasons["scan_0001.JPG"][0]
    assert reasons["002a15b.pts"][1] and "declares 68 points but holds 1" in reasons["002a15b.pts"][0]


def test_pts_reader_refuses_what_is_not_pts(tmp_path):
    path = tmp_path / "x.pts"
    path.write_text("just some text")
    with pytest.raises(ValueError, match="not in .pts format"):
        read_pts(path)
    path.write_text("n_points: 2\n{\n1 2\n3 four\n}")
    with pytest.raises(ValueError, match="pair of numbers"):
        read_pts(path)


# ---- UTKFace ---------------------------------------------------------------------------------------------

def test_utkface_folder(tmp_path):
    names = ["25_1_3_20170104231305129.jpg.chip.jpg", "3_0_2_20161219140623097.jpg.chip.jpg",
             "61_1_20170109142408075.jpg.chip.jpg"]
    for seed, name in enumerate(names):
        write_image(tmp_path / name, seed)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    assert detect_format(tmp_path) == "folder"  # a third of the names off the pattern: not recognisable
    result = scan(tmp_path, "utkface")
    assert [labels_of(r) for r in result.records] == [(25, 25, 25, 1, None), (3, 3, 3, 0, None),
                                                      (61, 61, 61, None, None)]
    assert [(p.path.name, p.kept) for p in result.problems] == [(names[2], True)]
    assert result.ignored == {".txt": 1}


# ---- CSV -------------------------------------------------------------------------------------------------

def test_csv_with_bom_crlf_ranges_gender_and_subject(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg", "sub/d.jpg"):
        write_image(tmp_path / name)
    text = ("path,age_min,age_max,gender,subject\r\n"
            "a.jpg,25,32,F,s1\r\n"
            "b.jpg,,,male,\r\n"
            "c.jpg,30,30,,s2\r\n"
            "sub/d.jpg,4,6,1,\r\n")
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = scan(tmp_path)
    assert result.source_format == "csv" and result.problems == []
    assert [(r.path, labels_of(r)) for r in result.records] == [
        (tmp_path / "a.jpg", (None, 25, 32, 1, "s1")),
        (tmp_path / "b.jpg", (None, None, None, 0, None)),
        (tmp_path / "c.jpg", (None, 30, 30, None, "s2")),
        (tmp_path / "sub" / "d.jpg", (None, 4, 6, 1, None)),
    ]


def test_csv_bad_rows_are_reported_one_by_one_and_the_good_rows_kept(tmp_path):
    csv_path = tmp_path / "ages.csv"
    csv_path.write_text(
        "path;age;gender\n"
        "good.jpg;31;f\n"
        "words.jpg;thirty;f\n"
        "negative.jpg;-4;m\n"
        "gender.jpg;20;x\n"
        "short.jpg;20\n"
        ";;\n"
        ";40;m\n"
        "good.jpg;31;f\n"
        "/elsewhere/abs.jpg;7.5;\n"
    )
    result = scan(csv_path, "csv")
    assert [(r.path, labels_of(r)) for r in result.records] == [
        (tmp_path / "good.jpg", (31, 31, 31, 1, None)), (Path("/elsewhere/abs.jpg"), (7.5, 7.5, 7.5, None, None)),
    ]
    reasons = [problem.reason for problem in result.problems]
    assert all(not problem.kept and problem.path == csv_path for problem in result.problems)
    expected = ["line 3: age 'thirty' is not a number", "line 4: age '-4' is outside",
                "line 5: gender 'x'", "line 6: the row has a different number of fields", "line 8: the row has no path",
                "line 9: good.jpg is listed twice"]
    assert len(reasons) == len(expected)
    assert all(reason.startswith(prefix) for reason, prefix in zip(reasons, expected)), reasons


@pytest.mark.parametrize("header", ["file,age\n", "path,age_min\n", ""])
def test_csv_without_the_needed_columns_is_refused_with_the_expected_header(tmp_path, header):
    (tmp_path / "x.csv").write_text(header + "a.jpg,3\n" if header else "")
    with pytest.raises(ScanError, match="needs a header row with `path`"):
        scan(tmp_path / "x.csv")


def test_csv_range_checks(tmp_path):
    (tmp_path / "x.csv").write_text("path,age_min,age_max\na.jpg,40,30\nb.jpg,40,\n")
    result = scan(tmp_path / "x.csv")
    assert result.records == []
    assert ["greater than" in p.reason for p in result.problems] == [True, False]
    assert "both be given" in result.problems[1].reason


def test_csv_not_utf8_and_several_csvs(tmp_path):
    (tmp_path / "a.csv").write_bytes("path,age\nphoto_é.jpg,3\n".encode("latin-1"))
    with pytest.raises(ScanError, match="not UTF-8"):
        scan(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("path,age\n")
    with pytest.raises(ScanError, match="expected one .csv file.*a.csv, b.csv"):
        scan(tmp_path, "csv")


# ---- Adience ---------------------------------------------------------------------------------------------

ADIENCE_HEADER = "\t".join(["user_id", "original_image", "face_id", "age", "gender", "x", "y", "dx", "dy", "tilt_ang",
                            "fiducial_yaw_angle", "fiducial_score"]) + "\n"


def adience_row(user, original, face, age, gender):
    return f"{user}\t{original}\t{face}\t{age}\t{gender}\t0\t0\t10\t10\t0\t0\t1\n"


def test_adience_folds_both_layouts_unknown_groups_and_missing_images(tmp_path):
    write_image(tmp_path / "faces" / "u1" / "coarse_tilt_aligned_face.1.a.jpg", 1)
    write_image(tmp_path / "u2" / "landmark_aligned_face.2.b.jpg", 2)
    write_image(tmp_path / "faces" / "u1" / "coarse_tilt_aligned_face.3.c.jpg", 3)
    (tmp_path / "fold_0_data.txt").write_text(
        ADIENCE_HEADER + adience_row("u1", "a.jpg", 1, "(25, 32)", "f") + adience_row("u2", "b.jpg", 2, "35", "m")
        + adience_row("u1", "c.jpg", 3, "(38, 42)", "u") + adience_row("u9", "gone.jpg", 4, "(0, 2)", "m"))
    (tmp_path / "fold_frontal_0_data.txt").write_text(ADIENCE_HEADER + adience_row("u1", "a.jpg", 1, "(25, 32)", "f"))
    result = scan(tmp_path)
    assert result.source_format == "adience"
    assert [(r.path.name, labels_of(r)) for r in result.records] == [
        ("coarse_tilt_aligned_face.1.a.jpg", (None, 25, 32, 1, "u1")),
        ("landmark_aligned_face.2.b.jpg", (35, 35, 35, 0, "u2")),
        ("coarse_tilt_aligned_face.3.c.jpg", (None, None, None, None, "u1")),
    ]
    [unknown] = [p for p in result.problems if p.kept]
    assert "(38, 42) is not one of Adience's eight groups" in unknown.reason
    [missing] = [p for p in result.problems if not p.kept]
    assert missing.path.name == "fold_0_data.txt" and "line 5: image not found" in missing.reason


def test_adience_fold_without_its_columns(tmp_path):
    (tmp_path / "fold_0_data.txt").write_text("a\tb\n1\t2\n")
    result = scan(tmp_path, "adience")
    assert result.records == [] and "no column user_id" in result.problems[0].reason


# ---- MegaAge ---------------------------------------------------------------------------------------------

def test_megaage_lists(tmp_path):
    for split, count in (("train", 3), ("test", 2)):
        for i in range(count):
            write_image(tmp_path / split / f"{i + 1}.jpg", i)
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "train_name.txt").write_text("1.jpg\n2.jpg\n3.jpg\n9.jpg\n")
    (tmp_path / "list" / "train_age.txt").write_text("3\n45\nn/a\n20\n")
    (tmp_path / "list" / "test_name.txt").write_text("1.jpg\n2.jpg\n")
    (tmp_path / "list" / "test_age.txt").write_text("7\n")
    result = scan(tmp_path)
    assert result.source_format == "megaage"
    assert [(r.path.relative_to(tmp_path).as_posix(), r.age) for r in result.records] == [
        ("train/1.jpg", 3), ("train/2.jpg", 45), ("train/3.jpg", None)]
    reasons = {(p.path.name, p.kept): p.reason for p in result.problems}
    assert "not a number" in reasons[("3.jpg", True)]
    assert "not found" in reasons[("9.jpg", False)]
    assert "2 names but 1 ages" in reasons[("test_name.txt", False)]


# ---- choosing the reader, and bad roots ------------------------------------------------------------------

def test_a_plain_folder_of_photos_is_read_without_labels(tmp_path):
    write_image(tmp_path / "IMG_0001.jpg")
    write_image(tmp_path / "party" / "IMG_0002.png", 1)
    write_image(tmp_path / ".hidden" / "x.jpg", 2)
    (tmp_path / "IMG_0003.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    assert detect_format(tmp_path) == "folder"
    result = scan(tmp_path)
    assert [r.path.relative_to(tmp_path).as_posix() for r in result.records] == [
        "IMG_0001.jpg", "IMG_0003.HEIC", "party/IMG_0002.png"]
    assert all(r.age_min is None for r in result.records)


def test_bad_roots_and_formats_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ScanError, match="does not exist"):
        scan(tmp_path / "nowhere")
    with pytest.raises(ScanError, match="unknown format"):
        scan(tmp_path, "imdb")
    write_image(tmp_path / "one.jpg")
    with pytest.raises(ScanError, match="is a file"):
        scan(tmp_path / "one.jpg")
    with pytest.raises(ScanError, match="no Adience fold"):
        scan(tmp_path, "adience")
    with pytest.raises(ScanError, match="no list/ folder"):
        scan(tmp_path, "megaage")


# ---- the real datasets -----------------------------------------------------------------------------------

FGNET_DECADES = {0: 371, 1: 339, 2: 144, 3: 79, 4: 46, 5: 15, 6: 8}  # from ../shared/data/README.md


@pytest.mark.shared
def test_real_fgnet_names_and_points(fgnet_images):
    result = scan(fgnet_images)
    assert result.source_format == "fgnet" and len(result.records) == 1002 and result.problems == []
    assert Counter(int(r.age) // 10 for r in result.records) == FGNET_DECADES
    assert len({r.subject for r in result.records}) == 82
    assert all(r.landmarks is not None for r in result.records)


@pytest.mark.shared
def test_real_fgnet_landmarks_agree_with_the_detector(fgnet_images, yunet_model):
    """An independent route to the 5 points: YuNet on the photo. Median error under 0.15 eye spacings."""
    from ageapp.faces.alignment import detect_faces
    from ageapp.faces.detection import make_detector
    from ageapp.faces.images import load_image

    detector = make_detector(yunet_model)
    errors = []
    for record in scan(fgnet_images).records[::50]:
        faces = detect_faces(load_image(record.path), detector)
        if faces:
            found = faces[0].landmarks
            errors.append(np.linalg.norm(record.landmarks - found, axis=1) / np.linalg.norm(found[0] - found[1]))
    assert len(errors) >= 18
    assert np.all(np.median(errors, axis=0) < 0.15)


@pytest.mark.shared
def test_real_utkface_names(utkface_images):
    result = scan(utkface_images)
    assert result.source_format == "utkface" and len(result.records) == 19124
    assert all(r.age is not None for r in result.records)
    assert sorted(p.path.name for p in result.problems) == [
        "39_1_20170116174525125.jpg.chip.jpg", "55_0_0_20170116232725357jpg.chip.jpg",
        "61_1_20170109142408075.jpg.chip.jpg", "61_1_20170109150557335.jpg.chip.jpg"]
