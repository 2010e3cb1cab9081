"""Reading labelled face datasets: one small reader per format, each turning a folder into ImageRecords.

`scan(root, fmt)` only reads names and label files; decoding the images is the import's job. Readers
never raise on a bad name or row: they return a reason, which becomes an ImportProblem. A problem with
`kept=True` means the image is still imported without the label that failed (a dataset's own labels
cannot be fixed by the user); `kept=False` means it is not imported (a missing image, or a row of the
user's own CSV, which the user can fix and import again).

Ages follow the project's convention: an exact age sets age, age_min and age_max to the same value; a
range (Adience's "(25, 32)") sets age_min and age_max only. gender: 0 male, 1 female, None unknown.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ageapp.files import kind_of, open_regular, read_regular_text

FORMATS = ("auto", "fgnet", "utkface", "csv", "adience", "megaage", "folder")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".heic", ".heif"}
MAX_AGE = 120  # no dataset label beyond this is a real age
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


def _record(path: Path, source_format: str, labels: Labels, landmarks: np.ndarray | None = None) -> ImageRecord:
    return ImageRecord(path, source_format, labels.age, labels.age_min, labels.age_max, labels.gender,
                       labels.subject, landmarks)


def _age_or_reason(text: str, what: str = "age") -> float | str:
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


# ---- FG-NET --------------------------------------------------------------------------------------------

FGNET_NAME = re.compile(r"(\d{3})a(\d{2})([a-z])?\.jpe?g", re.IGNORECASE)
# 0-based indices of the 5 alignment landmarks in FG-NET's own 68-point markup (not the iBUG/300-W layout,
# whose indices 36-47 fall on FG-NET's pupils and nose): pupil of the image-left eye (31) and of the
# image-right eye (36), nose tip (67), mouth corners (48, 54). Checked against YuNet on FG-NET: median
# distance 0.05-0.08 of the eye spacing, where the iBUG indices are 0.6-0.7 off.
FGNET_FIVE_OF_68 = (31, 36, 67, 48, 54)


def parse_fgnet_name(name: str) -> tuple[Labels, str | None]:
    match = FGNET_NAME.fullmatch(name)
    if not match:
        return Labels(), f"name {name!r} does not follow FG-NET's NNNAaa[x].JPG; imported without an age"
    return exact_age(int(match.group(2)), subject=match.group(1)), None


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
        labels, reason = parse_fgnet_name(image.name)
        if reason:
            problems.append(ImportProblem(image, reason, kept=True))
        landmarks = _fgnet_landmarks(image, points_folder, problems)
        records.append(_record(image, "fgnet", labels, landmarks))
    return ScanResult(records, problems, "fgnet", dict(others))


# ---- UTKFace -------------------------------------------------------------------------------------------

UTKFACE_NAME = re.compile(r"(\d{1,3})_([01])_([0-4])_(\d+)\.jpg\.chip\.jpg", re.IGNORECASE)
UTKFACE_AGE_GENDER_RACE = re.compile(r"(\d{1,3})_([01])_([0-4])_\d")
UTKFACE_AGE = re.compile(r"(\d{1,3})_")
UTKFACE_PATTERN = "age_gender_race_datetime.jpg.chip.jpg"


def parse_utkface_name(name: str) -> tuple[Labels, str | None]:
    """Age and gender from a UTKFace name; from a malformed one, whatever leading fields still parse."""
    match = UTKFACE_NAME.fullmatch(name)
    if match and int(match.group(1)) <= MAX_AGE:
        return exact_age(int(match.group(1)), gender=int(match.group(2))), None
    partial = UTKFACE_AGE_GENDER_RACE.match(name)
    if partial and int(partial.group(1)) <= MAX_AGE:
        return (exact_age(int(partial.group(1)), gender=int(partial.group(2))),
                f"name {name!r} does not end like {UTKFACE_PATTERN}; kept its age and gender")
    partial = UTKFACE_AGE.match(name)
    if partial and int(partial.group(1)) <= MAX_AGE:
        return (exact_age(int(partial.group(1))),
                f"name {name!r} lacks a field of {UTKFACE_PATTERN}; kept its age only")
    return Labels(), f"name {name!r} does not follow {UTKFACE_PATTERN}; imported without an age"


def scan_utkface(root: Path) -> ScanResult:
    images, others = list_images(root)
    records, problems = [], []
    for image in images:
        labels, reason = parse_utkface_name(image.name)
        if reason:
            problems.append(ImportProblem(image, reason, kept=True))
        records.append(_record(image, "utkface", labels))
    return ScanResult(records, problems, "utkface", dict(others))


# ---- CSV -----------------------------------------------------------------------------------------------

GENDER_WORDS = {"m": 0, "male": 0, "0": 0, "f": 1, "female": 1, "1": 1}
CSV_HELP = "a header row with `path` and either `age` or `age_min,age_max` (optional `gender`, `subject`)"


def _csv_file(root: Path) -> Path:
    if root.is_file():
        return root
    found = sorted(root.glob("*.csv"))
    if len(found) != 1:
        names = ", ".join(path.name for path in found) or "none"
        raise ScanError(f"expected one .csv file in {root}, found {len(found)} ({names}); pass the CSV file itself")
    return found[0]


def _parse_gender(text: str) -> int | None | str:
    text = text.strip().lower()
    if not text:
        return None
    return GENDER_WORDS.get(text, f"gender {text!r} is not one of m/f/male/female/0/1")


def _parse_csv_row(row: dict, columns: set) -> Labels | str:
    values = {}
    for column in ("age", "age_min", "age_max"):
        text = (row.get(column) or "").strip()
        if column in columns and text:
            age = _age_or_reason(text, column)
            if isinstance(age, str):
                return age
            values[column] = age
    if "age" in values:
        labels = exact_age(values["age"])
    elif ("age_min" in values) != ("age_max" in values):
        return "age_min and age_max must both be given, or neither"
    elif "age_min" in values and values["age_min"] > values["age_max"]:
        return f"age_min {values['age_min']} is greater than age_max {values['age_max']}"
    else:
        labels = Labels(age_min=values.get("age_min"), age_max=values.get("age_max"))
    gender = _parse_gender(row.get("gender") or "")
    if isinstance(gender, str):
        return gender
    subject = (row.get("subject") or "").strip() or None
    return Labels(labels.age, labels.age_min, labels.age_max, gender, subject)


def _read_csv_text(csv_path: Path) -> str:
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs put first.
        return read_regular_text(csv_path, encoding="utf-8-sig", what="CSV file")
    except UnicodeDecodeError:
        raise ScanError(f"{csv_path} is not UTF-8 text; save it as 'CSV UTF-8' and import again") from None
    except OSError as error:
        raise ScanError(f"cannot read {csv_path}: {error.strerror or error}") from None


def _csv_reader(text: str, csv_path: Path) -> csv.DictReader:
    first_line = text.splitlines()[0] if text.strip() else ""
    try:
        dialect = csv.Sniffer().sniff(first_line, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    if "path" not in columns or ({"age_min", "age_max"} & columns and not {"age_min", "age_max"} <= columns):
        raise ScanError(f"{csv_path} needs {CSV_HELP}; its header is {first_line!r}")
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    return reader


def scan_csv(root: Path) -> ScanResult:
    csv_path = _csv_file(root)
    reader = _csv_reader(_read_csv_text(csv_path), csv_path)
    columns, width = set(reader.fieldnames), len(reader.fieldnames)
    records, problems, seen = [], [], set()
    for row in reader:
        line = f"line {reader.line_num}"
        if None in row or None in row.values():
            problems.append(ImportProblem(
                csv_path, f"{line}: the row has a different number of fields than the header ({width}); fix it "
                "and import again"))
            continue
        if not row["path"].strip():
            if any(value.strip() for value in row.values()):
                problems.append(ImportProblem(csv_path, f"{line}: the row has no path; fix it and import again"))
            continue
        labels = _parse_csv_row(row, columns)
        if isinstance(labels, str):
            problems.append(ImportProblem(csv_path, f"{line}: {labels}; fix the row and import again"))
            continue
        path = csv_path.parent / row["path"].strip()  # relative paths are relative to the CSV's folder
        if path in seen:
            problems.append(ImportProblem(csv_path, f"{line}: {row['path'].strip()} is listed twice; kept the first"))
            continue
        seen.add(path)
        records.append(_record(path, "csv", labels))
    return ScanResult(records, problems, "csv")


# ---- Adience -------------------------------------------------------------------------------------------

ADIENCE_GROUPS = {(0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100)}
ADIENCE_COLUMNS = ("user_id", "original_image", "face_id", "age", "gender")
ADIENCE_GROUP = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)")
ADIENCE_MISSING = {"", "none"}


def parse_adience_age(text: str) -> tuple[Labels, str | None]:
    """An Adience age: one of its eight groups `(25, 32)` as a range, a bare number as an exact age."""
    text = text.strip()
    if text.lower() in ADIENCE_MISSING:
        return Labels(), None
    group = ADIENCE_GROUP.fullmatch(text)
    if group:
        low, high = int(group.group(1)), int(group.group(2))
        if (low, high) in ADIENCE_GROUPS:
            return Labels(age_min=low, age_max=high), None
        return Labels(), f"age group {text} is not one of Adience's eight groups; imported without an age"
    age = _age_or_reason(text)
    if isinstance(age, str):
        return Labels(), f"{age}; imported without an age"
    return exact_age(age), None


def _adience_image(root: Path, user_id: str, face_id: str, original: str) -> Path | None:
    for folder in (root / "faces" / user_id, root / user_id, root / "aligned" / user_id):
        for prefix in ("coarse_tilt_aligned_face", "landmark_aligned_face"):
            candidate = folder / f"{prefix}.{face_id}.{original}"
            if candidate.is_file():
                return candidate
    return None


def _scan_adience_fold(root: Path, fold: Path, records: list, problems: list, seen: set) -> None:
    with open_regular(fold, "r", what="Adience fold file", encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file, delimiter="\t")
        missing = [name for name in ADIENCE_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            problems.append(ImportProblem(fold, f"not an Adience fold file: no column {', '.join(missing)}"))
            return
        for row in reader:
            user_id, original, face_id = ((row[name] or "").strip() for name in ADIENCE_COLUMNS[:3])
            image = _adience_image(root, user_id, face_id, original)
            if image is None:
                problems.append(ImportProblem(fold, (
                    f"line {reader.line_num}: image not found: looked for faces/{user_id}/coarse_tilt_aligned_face."
                    f"{face_id}.{original} and {user_id}/landmark_aligned_face.{face_id}.{original}")))
            elif image not in seen:  # the frontal fold files repeat faces of the main ones
                seen.add(image)
                records.append(_adience_record(image, row, user_id, problems))


def _adience_record(image: Path, row: dict, user_id: str, problems: list) -> ImageRecord:
    labels, reason = parse_adience_age(row["age"] or "")
    if reason:
        problems.append(ImportProblem(image, reason, kept=True))
    gender = {"m": 0, "f": 1}.get((row["gender"] or "").strip().lower())
    return _record(image, "adience", Labels(labels.age, labels.age_min, labels.age_max, gender, user_id or None))


def scan_adience(root: Path) -> ScanResult:
    folds = sorted(root.glob("fold_*.txt"))
    if not folds:
        raise ScanError(f"no Adience fold_*.txt files in {root}; point at the folder that holds them")
    records, problems, seen = [], [], set()
    for fold in folds:
        _scan_adience_fold(root, fold, records, problems, seen)
    return ScanResult(records, problems, "adience")


# ---- MegaAge -------------------------------------------------------------------------------------------

MEGAAGE_SPLITS = ("train", "test")


def _read_lines(path: Path) -> list[str]:
    return read_regular_text(path, encoding="utf-8-sig", what="list file").rstrip("\r\n").splitlines()


def _scan_megaage_split(root: Path, split: str, records: list, problems: list) -> None:
    names_file, ages_file = root / "list" / f"{split}_name.txt", root / "list" / f"{split}_age.txt"
    if not names_file.is_file() and not ages_file.is_file():
        return
    if not (names_file.is_file() and ages_file.is_file()):
        present = names_file if names_file.is_file() else ages_file
        problems.append(ImportProblem(present, f"{split}_name.txt and {split}_age.txt must both be in list/"))
        return
    names, ages = _read_lines(names_file), _read_lines(ages_file)
    if len(names) != len(ages):
        problems.append(ImportProblem(names_file, f"{len(names)} names but {len(ages)} ages in "
                                                  f"{ages_file.name}; the two lists must pair line by line"))
        return
    for name, age_text in zip(names, ages):
        image = root / split / name.strip()
        if not name.strip() or not image.is_file():
            problems.append(ImportProblem(image, f"image listed in {names_file.name} not found"))
            continue
        age = _age_or_reason(age_text.strip())
        if isinstance(age, str):
            problems.append(ImportProblem(image, f"{age}; imported without an age", kept=True))
            records.append(_record(image, "megaage", Labels()))
        else:
            records.append(_record(image, "megaage", exact_age(age)))


def scan_megaage(root: Path) -> ScanResult:
    if not (root / "list").is_dir():
        raise ScanError(f"no list/ folder in {root}; a MegaAge folder holds list/train_name.txt, train_age.txt, …")
    records, problems = [], []
    for split in MEGAAGE_SPLITS:
        _scan_megaage_split(root, split, records, problems)
    if not records and not problems:
        raise ScanError(f"no train_name.txt / test_name.txt in {root / 'list'}")
    return ScanResult(records, problems, "megaage")


# ---- a plain folder of photos --------------------------------------------------------------------------

def scan_folder(root: Path) -> ScanResult:
    images, others = list_images(root)
    return ScanResult([_record(image, "folder", Labels()) for image in images], [], "folder", dict(others))


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
    for fmt, pattern in (("fgnet", FGNET_NAME), ("utkface", UTKFACE_NAME)):
        if names and sum(bool(pattern.fullmatch(name)) for name in names) >= AUTO_NAME_SHARE * len(names):
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
