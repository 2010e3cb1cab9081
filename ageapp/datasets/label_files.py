"""Datasets whose labels are in label files: a CSV of the user's own (`path,age` or `path,age_min,age_max`),
Adience's fold files, MegaAge's name and age lists."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ageapp.files import open_regular, read_regular_text
from ageapp.datasets.records import (
    ImageRecord,
    ImportProblem,
    Labels,
    ScanError,
    ScanResult,
    age_or_reason,
    exact_age,
    record,
)

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
            age = age_or_reason(text, column)
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
        records.append(record(path, "csv", labels))
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
    age = age_or_reason(text)
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
                records.append(_adiencerecord(image, row, user_id, problems))


def _adiencerecord(image: Path, row: dict, user_id: str, problems: list) -> ImageRecord:
    labels, reason = parse_adience_age(row["age"] or "")
    if reason:
        problems.append(ImportProblem(image, reason, kept=True))
    gender = {"m": 0, "f": 1}.get((row["gender"] or "").strip().lower())
    return record(image, "adience", Labels(labels.age, labels.age_min, labels.age_max, gender, user_id or None))


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
        age = age_or_reason(age_text.strip())
        if isinstance(age, str):
            problems.append(ImportProblem(image, f"{age}; imported without an age", kept=True))
            records.append(record(image, "megaage", Labels()))
        else:
            records.append(record(image, "megaage", exact_age(age)))


def scan_megaage(root: Path) -> ScanResult:
    if not (root / "list").is_dir():
        raise ScanError(f"no list/ folder in {root}; a MegaAge folder holds list/train_name.txt, train_age.txt, …")
    records, problems = [], []
    for split in MEGAAGE_SPLITS:
        _scan_megaage_split(root, split, records, problems)
    if not records and not problems:
        raise ScanError(f"no train_name.txt / test_name.txt in {root / 'list'}")
    return ScanResult(records, problems, "megaage")


