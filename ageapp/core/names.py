"""Age, gender and subject from dataset file names (FG-NET and UTKFace); pure, and never raises.

Each parser takes a file name (a bare name, or a path whose last component is used) and returns
either a `ParsedName` or a `NameProblem` whose `reason` a user can read. The importers
(ageapp/data/importers.py) and the `simulate` command both read labels through these.

Formats:
- FG-NET: `NNNAaa[x].JPG`, subject NNN (three digits), age aa (two digits), an optional letter for
  a second photo at the same age; no gender in the name.
- UTKFace: `age_gender_race_datetime.jpg.chip.jpg`, gender 0 male / 1 female, race 0-4. A few
  published files lack the race field (`39_1_20170116174525125.jpg.chip.jpg`): the age is kept, the
  gender is not (with the field count wrong we cannot tell which field it is), and `note` says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable

FGNET = "fgnet"
UTKFACE = "utkface"
FORMATS = (FGNET, UTKFACE)

GENDER_MALE = 0
GENDER_FEMALE = 1

UTKFACE_AGE_LIMIT = 130  # the oldest UTKFace label is 116; anything past this is a corrupt name

_FGNET = re.compile(r"(?P<subject>\d{3})A(?P<age>\d{2})(?P<photo>[a-z]?)\.jpe?g", re.IGNORECASE)
_IMAGE_SUFFIX = re.compile(r"\.(jpe?g|png)$", re.IGNORECASE)
_UTK_FULL = re.compile(r"(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_(?P<rest>[^_]+)")
_UTK_NO_RACE = re.compile(r"(?P<age>\d{1,3})_[01]_(?P<rest>\d{8,}[^_]*)")


@dataclass(frozen=True)
class ParsedName:
    """Labels read from a name. gender: 0 male, 1 female, None unknown; subject: identity where the format has one."""

    source_format: str
    age: int
    gender: int | None = None
    subject: str | None = None
    race: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class NameProblem:
    """Why a name could not be read."""

    reason: str


def _base_name(name: object) -> str | None:
    try:
        text = os.fspath(name)
    except Exception:  # not path-like, or a broken PathLike: unreadable rather than raise
        return None
    if not isinstance(text, str):
        return None
    return re.split(r"[\\/]", text)[-1]


def parse_fgnet_name(name: object) -> ParsedName | NameProblem:
    """`001A22.JPG` -> age 22, subject "001", gender unknown."""
    base = _base_name(name)
    if base is None:
        return NameProblem("not a file name")
    match = _FGNET.fullmatch(base)
    if match is None:
        return NameProblem(f"{base!r} is not an FG-NET name (expected NNNAaa[x].JPG, e.g. 001A22.JPG)")
    return ParsedName(FGNET, age=int(match["age"]), subject=match["subject"])


def parse_utkface_name(name: object) -> ParsedName | NameProblem:
    """`26_1_0_20170116174525125.jpg.chip.jpg` -> age 26, gender 1 (female), race 0."""
    base = _base_name(name)
    if base is None:
        return NameProblem("not a file name")
    if not _IMAGE_SUFFIX.search(base):
        return NameProblem(f"{base!r} is not an image name (.jpg/.jpeg/.png)")
    full = _UTK_FULL.fullmatch(base)
    if full is not None:
        age, gender, race, note = int(full["age"]), int(full["gender"]), int(full["race"]), None
    else:
        no_race = _UTK_NO_RACE.fullmatch(base)
        if no_race is None:
            return NameProblem(f"{base!r} is not a UTKFace name (expected age_gender_race_datetime.jpg.chip.jpg)")
        age, gender, race = int(no_race["age"]), None, None
        note = "race field missing: gender not trusted"
    if age > UTKFACE_AGE_LIMIT:
        return NameProblem(f"{base!r}: age {age} is implausible")
    return ParsedName(UTKFACE, age=age, gender=gender, race=race, note=note)


PARSERS = {FGNET: parse_fgnet_name, UTKFACE: parse_utkface_name}


def parse_name(name: object, source_format: str) -> ParsedName | NameProblem:
    """Parse with the named format's parser."""
    parser = PARSERS.get(source_format)
    if parser is None:
        return NameProblem(f"unknown name format {source_format!r} (known: {', '.join(FORMATS)})")
    return parser(name)


def detect_format(names: Iterable[object]) -> str | None:
    """The format that reads the most of these names (a folder's), or None if neither reads any."""
    names = list(names)
    counts = {fmt: sum(isinstance(parser(n), ParsedName) for n in names) for fmt, parser in PARSERS.items()}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else None
