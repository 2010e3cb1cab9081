"""Datasets whose labels are in the file names (FG-NET, UTKFace, read by ageapp.core.names, the one parser
of file names) and plain folders of photos without labels."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ageapp.core.names import NameProblem, parse_fgnet_name, parse_utkface_name
from ageapp.files import read_regular_text
from ageapp.datasets.records import ImportProblem, Labels, ScanResult, exact_age, list_images, record

# ---- FG-NET --------------------------------------------------------------------------------------------

# 0-based indices of the 5 alignment landmarks in FG-NET's own 68-point markup (not the iBUG/300-W layout,
# whose indices 36-47 fall on FG-NET's pupils and nose): pupil of the image-left eye (31) and of the
# image-right eye (36), nose tip (67), mouth corners (48, 54). Checked against YuNet on FG-NET: median
# distance 0.05-0.08 of the eye spacing, where the iBUG indices are 0.6-0.7 off.
FGNET_FIVE_OF_68 = (31, 36, 67, 48, 54)


def fgnet_labels(name: str) -> tuple[Labels, str | None]:
    parsed = parse_fgnet_name(name)
    if isinstance(parsed, NameProblem):
        return Labels(), f"{parsed.reason}; imported without an age"
    return exact_age(parsed.age, subject=parsed.subject), None


def read_pts(path: Path) -> np.ndarray:
    """The points of a .pts landmark file (`version: 1`, `n_points: N`, `{`, N lines `x y`, `}`)."""
    text = read_regular_text(path, encoding="utf-8", what="landmark file", errors="replace")
    match = re.search(r"n_points:\s*(\d+)\s*\{(.*?)\}", text, re.DOTALL)
    if not match:
        raise ValueError("not in .pts format (n_points and a {...} block)")
    try:
        points = np.array([[float(v) for v in line.split()] for line in match.group(2).strip().splitlines()])
    except ValueError:
        raise ValueError("a point is not a pair of numbers") from None
    if points.shape != (int(match.group(1)), 2):
        raise ValueError(f"declares {match.group(1)} points but holds {len(points)}")
    return points


def five_landmarks_from_fgnet68(points: np.ndarray) -> np.ndarray:
    """The 5 alignment landmarks (eyes, nose tip, mouth corners; image left to right) of an FG-NET .pts."""
    return np.asarray(points, dtype=np.float32)[list(FGNET_FIVE_OF_68)]


def _fgnet_points_folder(root: Path) -> Path | None:
    for candidate in (root / "points", root.parent / "points"):
        if candidate.is_dir():
            return candidate
    return None


def _fgnet_landmarks(image: Path, points_folder: Path | None, problems: list) -> np.ndarray | None:
    if points_folder is None:
        return None
    pts = points_folder / f"{image.stem.lower()}.pts"
    if not pts.is_file():
        return None
    try:
        points = read_pts(pts)
        if len(points) != 68:
            raise ValueError(f"has {len(points)} points, not 68")
    except (OSError, ValueError) as error:
        problems.append(ImportProblem(pts, f"landmark file unusable ({error}); the face comes from detection only",
                                      kept=True))
        return None
    return five_landmarks_from_fgnet68(points)


def scan_fgnet(root: Path) -> ScanResult:
    images, others = list_images(root)
    others.pop(".pts", None)
    points_folder = _fgnet_points_folder(root)
    records, problems = [], []
    for image in images:
        labels, reason = fgnet_labels(image.name)
        if reason:
            problems.append(ImportProblem(image, reason, kept=True))
        landmarks = _fgnet_landmarks(image, points_folder, problems)
        records.append(record(image, "fgnet", labels, landmarks))
    return ScanResult(records, problems, "fgnet", dict(others))



# ---- UTKFace -------------------------------------------------------------------------------------------

def utkface_labels(name: str) -> tuple[Labels, str | None]:
    """Age and gender from a UTKFace name; from a malformed one, whatever leading fields still parse."""
    parsed = parse_utkface_name(name)
    if isinstance(parsed, NameProblem):
        return Labels(), f"{parsed.reason}; imported without an age"
    return exact_age(parsed.age, gender=parsed.gender), parsed.note


def scan_utkface(root: Path) -> ScanResult:
    images, others = list_images(root)
    records, problems = [], []
    for image in images:
        labels, reason = utkface_labels(image.name)
        if reason:
            problems.append(ImportProblem(image, reason, kept=True))
        records.append(record(image, "utkface", labels))
    return ScanResult(records, problems, "utkface", dict(others))


# ---- a plain folder of photos --------------------------------------------------------------------------

def scan_folder(root: Path) -> ScanResult:
    images, others = list_images(root)
    return ScanResult([record(image, "folder", Labels()) for image in images], [], "folder", dict(others))


