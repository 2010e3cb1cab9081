"""Age, gender and subject from dataset file names (FG-NET and UTKFace): the one parser of file names, used
by import (ageapp.datasets), `simulate` and training alike. Pure, and never raises.

Each parser takes a file name (a bare name, or a path whose last component is used) and returns either a
`ParsedName` (its `note` says what was not trusted, for names the original releases got wrong) or a
`NameProblem` whose `reason` a user can read.

Formats:
- FG-NET: `NNNAaa[x].JPG`, subject NNN (three digits), age aa (two digits), an optional letter for
  a second photo at the same age; no gender in the name.
- UTKFace: `age_gender_race_datetime.jpg.chip.jpg`, gender 0 male / 1 female, race 0-4. A handful of published
  names are malformed: one ends in something else (`..._201701...jpg .chip.jpg`): the leading fields still
  read, so age, gender and race are kept; another lacks the race field (`39_1_20170116174525125.jpg.chip.jpg`):
  with the field count wrong the gender cannot be trusted, so only the age is kept.
Ages above MAX_AGE (120; UTKFace's oldest label is 116) are not ages but corrupt names.
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

MAX_AGE = 120  # no dataset label beyond this is a real age
UTKFACE_PATTERN = "age_gender_race_datetime.jpg.chip.jpg"

FGNET_NAME = re.compile(r"(?P<subject>\d{3})A(?P<age>\d{2})(?P<photo>[a-z]?)\.jpe?g", re.IGNORECASE)
UTKFACE_NAME = re.compile(r"(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_\d+\.jpg\.chip\.jpg", re.IGNORECASE)
_UTK_LEADING_FIELDS = re.compile(r"(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_\d")
_UTK_LEADING_AGE = re.compile(r"(?P<age>\d{1,3})_")
_IMAGE_SUFFIX = re.compile(r"\.(jpe?g|png)$", re.IGNORECASE)


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
    match = FGNET_NAME.fullmatch(base)
    if match is None:
        return NameProblem(f"name {base!r} does not follow FG-NET's NNNAaa[x].JPG (e.g. 001A22.JPG)")
    return ParsedName(FGNET, age=int(match["age"]), subject=match["subject"])


def parse_utkface_name(name: object) -> ParsedName | NameProblem:
    """`26_1_0_20170116174525125.jpg.chip.jpg` -> age 26, gender 1 (female), race 0; malformed names keep
    what still reads (module docstring)."""
    base = _base_name(name)
    if base is None:
        return NameProblem("not a file name")
    if not _IMAGE_SUFFIX.search(base):
        return NameProblem(f"{base!r} is not an image name (.jpg/.jpeg/.png)")
    full = UTKFACE_NAME.fullmatch(base)
    if full is not None:
        parsed = ParsedName(UTKFACE, age=int(full["age"]), gender=int(full["gender"]), race=int(full["race"]))
    elif (leading := _UTK_LEADING_FIELDS.match(base)) is not None:
        parsed = ParsedName(UTKFACE, age=int(leading["age"]), gender=int(leading["gender"]),
                            race=int(leading["race"]),
                            note=f"name {base!r} does not end like {UTKFACE_PATTERN}; kept its age and gender")
    elif (leading := _UTK_LEADING_AGE.match(base)) is not None:
        parsed = ParsedName(UTKFACE, age=int(leading["age"]),
                            note=f"name {base!r} lacks a field of {UTKFACE_PATTERN}; kept its age only")
    else:
        return NameProblem(f"name {base!r} does not follow {UTKFACE_PATTERN}")
    if parsed.age > MAX_AGE:
        return NameProblem(f"name {base!r}: age {parsed.age} is above {MAX_AGE}, not a real age")
    return parsed


PARSERS = {FGNET: parse_fgnet_name, UTKFACE: parse_utkface_name}
PATTERNS = {FGNET: FGNET_NAME, UTKFACE: UTKFACE_NAME}


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


def share_following(names: Iterable[str], source_format: str) -> float:
    """The share of names that follow the format's pattern exactly (what --format auto decides by)."""
    names = list(names)
    if not names:
        return 0.0
    return sum(bool(PATTERNS[source_format].fullmatch(name)) for name in names) / len(names)


AGE_MASK = "··"


def shown_name(path: str) -> str:
    """The file name a labeller may see: its folder left out, and the age that a dataset's name carries (FG-NET's
    `001A22.JPG`, UTKFace's `22_1_0_….jpg.chip.jpg`, read by the one parser's patterns, ageapp.core.names)
    masked, so that finding a face by its name never tells its age: `001A··.JPG`, `··_1_0_….jpg.chip.jpg`."""
    name = re.split(r"[\\/]", path)[-1]
    for pattern in (FGNET_NAME, UTKFACE_NAME):
        found = pattern.fullmatch(name)
        if found is not None:
            start, end = found.span("age")
            return name[:start] + AGE_MASK + name[end:]
    leading = re.match(r"\d{1,3}_[01]_", name)  # a UTKFace name that does not end as it should: its age leads
    return AGE_MASK + name[leading.end() - 3:] if leading else name
