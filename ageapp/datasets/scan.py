"""Choosing the reader for a dataset folder and reading it: `scan(root, fmt="auto")`."""

from __future__ import annotations

import csv
from pathlib import Path

from ageapp.core.names import share_following
from ageapp.files import kind_of
from ageapp.datasets.label_files import scan_adience, scan_csv, scan_megaage
from ageapp.datasets.photos import scan_fgnet, scan_folder, scan_utkface
from ageapp.datasets.records import AUTO_NAME_SHARE, FORMATS, ScanError, ScanResult, list_images

# ---- choosing the reader -------------------------------------------------------------------------------

READERS = {"fgnet": scan_fgnet, "utkface": scan_utkface, "csv": scan_csv, "adience": scan_adience,
           "megaage": scan_megaage, "folder": scan_folder}


def detect_format(root: Path) -> str:
    """Which reader fits: label files first (they are unambiguous), then the shape of the image names."""
    if root.is_file():
        return "csv"
    if (root / "list").is_dir() and any((root / "list").glob("*_name.txt")):
        return "megaage"
    if any(root.glob("fold_*.txt")):
        return "adience"
    if any(root.glob("*.csv")):
        return "csv"
    names = [path.name for path in list_images(root)[0]]
    for fmt in ("fgnet", "utkface"):
        if share_following(names, fmt) >= AUTO_NAME_SHARE:
            return fmt
    return "folder"


def scan(root: str | Path, fmt: str = "auto") -> ScanResult:
    """Read the records of a dataset folder (or a CSV file) in the given format, or the one detected."""
    root = Path(root).expanduser()
    if fmt not in FORMATS:
        raise ScanError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not root.exists():
        raise ScanError(f"{root} does not exist")
    if not (root.is_dir() or root.is_file()):  # a pipe or device: reading it could block forever
        raise ScanError(f"{root} is {kind_of(root.stat().st_mode)}; point at a folder of images or at a .csv file")
    if root.is_file() and (fmt not in ("auto", "csv") or root.suffix.lower() != ".csv"):
        raise ScanError(f"{root} is a file; point at a folder of images or at a .csv file")
    if fmt == "auto":
        fmt = detect_format(root)
    try:
        return READERS[fmt](root)
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ScanError(f"cannot read the {fmt} label files in {root}: {reason}") from None
    except csv.Error as error:  # e.g. a field over the csv module's 131072 characters: not a label file
        raise ScanError(f"cannot read the {fmt} label files in {root}: {error}; a line is malformed or too long, "
                        "fix the file and import again") from None
