"""Reading labelled face datasets: what every reader returns (records of images with their labels, the
problems met), and the helpers they share.

`ageapp.datasets.scan.scan(root, fmt)` only reads names and label files; decoding the images is the import's
job. Readers never raise on a bad name or row: they return a reason, which becomes an ImportProblem. A problem
with `kept=True` means the image is still imported without the label that failed (a dataset's own labels
cannot be fixed by the user); `kept=False` means it is not imported (a missing image, or a row of the user's
own CSV, which the user can fix and import again).

Ages follow the project's convention: an exact age sets age, age_min and age_max to the same value; a
range (Adience's "(25, 32)") sets age_min and age_max only. gender: 0 male, 1 female, None unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ageapp.core.names import MAX_AGE

FORMATS = ("auto", "fgnet", "utkface", "csv", "adience", "megaage", "folder")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".heic", ".heif"}
# The share of names that must follow a dataset's pattern for --format auto to pick it.
AUTO_NAME_SHARE = 0.9


class ScanError(ValueError):
    """The folder cannot be read as the requested format at all (nothing to import); says what to do."""


@dataclass(frozen=True)
class Labels:
    age: float | None = None
    age_min: float | None = None
    age_max: float | None = None
    gender: int | None = None
    subject: str | None = None


def exact_age(age: float, **others) -> Labels:
    return Labels(age=age, age_min=age, age_max=age, **others)


@dataclass(frozen=True, eq=False)
class ImageRecord:
    path: Path
    source_format: str
    age: float | None = None
    age_min: float | None = None
    age_max: float | None = None
    gender: int | None = None
    subject: str | None = None
    landmarks: np.ndarray | None = None  # (5, 2): eye, eye, nose tip, mouth corners (image left to right)


@dataclass(frozen=True)
class ImportProblem:
    path: Path
    reason: str
    kept: bool = False  # True: the image is imported anyway, without the label this is about


@dataclass
class ScanResult:
    records: list[ImageRecord]
    problems: list[ImportProblem]
    source_format: str
    ignored: dict[str, int] = field(default_factory=dict)  # files skipped as not images, by extension


def record(path: Path, source_format: str, labels: Labels, landmarks: np.ndarray | None = None) -> ImageRecord:
    return ImageRecord(path, source_format, labels.age, labels.age_min, labels.age_max, labels.gender,
                       labels.subject, landmarks)


def age_or_reason(text: str, what: str = "age") -> float | str:
    """A plausible age from text, or why not."""
    try:
        age = float(text)
    except ValueError:
        return f"{what} {text!r} is not a number"
    if not 0 <= age <= MAX_AGE:
        return f"{what} {text!r} is outside 0-{MAX_AGE}"
    return int(age) if age.is_integer() else age


# ---- listing a folder ----------------------------------------------------------------------------------

def list_images(root: Path) -> tuple[list[Path], Counter]:
    """Image files under root (recursively, sorted), and a count by extension of the other files.

    Hidden files (.DS_Store, macOS '._' twins) are neither: they are never anyone's photos."""
    images, others = [], Counter()
    for path in sorted(root.rglob("*")):
        relative_parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative_parts) or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            others[path.suffix.lower() or "(no extension)"] += 1
    return images, others

