"""File-name parsers for FG-NET and UTKFace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ageapp.core.names import (
    FGNET,
    UTKFACE,
    NameProblem,
    ParsedName,
    detect_format,
    parse_fgnet_name,
    parse_name,
    parse_utkface_name,
)


@pytest.mark.parametrize(
    "name, age, subject",
    [("001A02.JPG", 2, "001"), ("001A43a.JPG", 43, "001"), ("082A69.jpg", 69, "082"), ("images/010A07b.JPG", 7, "010")],
)
def test_fgnet_names(name, age, subject):
    assert parse_fgnet_name(name) == ParsedName(FGNET, age=age, subject=subject)


def test_fgnet_accepts_paths():
    assert parse_fgnet_name(Path("/data/fgnet/001A22.JPG")).age == 22


@pytest.mark.parametrize("name", ["001A2.JPG", "A02.JPG", "0001A02.JPG", "001B02.JPG", "001A02.txt", "001A02.JPG.bak", ""])
def test_fgnet_problems(name):
    assert isinstance(parse_fgnet_name(name), NameProblem)


@pytest.mark.parametrize(
    "name, age, gender, race",
    [("26_1_0_20170116174525125.jpg.chip.jpg", 26, 1, 0), ("100_0_2_20170112213500903.jpg.chip.jpg", 100, 0, 2)],
)
def test_utkface_names(name, age, gender, race):
    assert parse_utkface_name(name) == ParsedName(UTKFACE, age=age, gender=gender, race=race)


@pytest.mark.parametrize(
    "name, age, gender, race",
    [
        ("1_0_4_20161221193012345.jpg", 1, 0, 4),
        ("55_0_0_20170116232725357jpg.chip.jpg", 55, 0, 0),  # a published name with a missing dot
        ("26_1_0_2017_extra.jpg", 26, 1, 0),
    ],
)
def test_utkface_names_with_a_wrong_ending_keep_their_fields_and_say_so(name, age, gender, race):
    parsed = parse_utkface_name(name)
    assert (parsed.age, parsed.gender, parsed.race) == (age, gender, race)
    assert "does not end like" in parsed.note


@pytest.mark.parametrize("name", ["39_1_20170116174525125.jpg.chip.jpg", "26_2_0_20170116174525125.jpg.chip.jpg",
                                  "26_1_7_20170116174525125.jpg.chip.jpg"])
def test_utkface_name_with_a_missing_or_bad_field_keeps_the_age_only(name):
    parsed = parse_utkface_name(name)
    assert (parsed.age, parsed.gender, parsed.race) == (int(name.split("_")[0]), None, None)
    assert "kept its age only" in parsed.note


@pytest.mark.parametrize(
    "name",
    [
        "abc_1_0_20170116174525125.jpg.chip.jpg",
        "200_1_0_20170116174525125.jpg.chip.jpg",  # implausible age
        "121_0_0_20170116174525125.jpg.chip.jpg",  # above the one age limit (120), for import and simulate alike
        "26_1_0_20170116174525125.txt",
        "001A02.JPG",
    ],
)
def test_utkface_problems(name):
    problem = parse_utkface_name(name)
    assert isinstance(problem, NameProblem) and problem.reason


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"\d{1,4}_[0-9]_[0-9]_\d{0,20}.*", fullmatch=True), st.from_regex(r"\d{3}A\d{2}.*", fullmatch=True)))
def test_parsers_never_raise_on_any_string(name):
    for fmt in (FGNET, UTKFACE, "nonsense"):
        assert isinstance(parse_name(name, fmt), (ParsedName, NameProblem))


@pytest.mark.parametrize("thing", [None, 42, b"001A02.JPG", object(), ["001A02.JPG"]])
def test_parsers_never_raise_on_non_strings(thing):
    assert isinstance(parse_fgnet_name(thing), NameProblem)
    assert isinstance(parse_utkface_name(thing), NameProblem)


def test_detect_format():
    assert detect_format(["001A02.JPG", "002A10.JPG", "notes.txt"]) == FGNET
    assert detect_format(["26_1_0_20170116174525125.jpg.chip.jpg", "Thumbs.db"]) == UTKFACE
    assert detect_format(["a.jpg", "b.png"]) is None
    assert detect_format([]) is None


@pytest.mark.shared
def test_every_fgnet_name_parses(fgnet_images):
    parsed = [parse_fgnet_name(n) for n in os.listdir(fgnet_images)]
    assert all(isinstance(p, ParsedName) for p in parsed)
    assert min(p.age for p in parsed) == 0 and max(p.age for p in parsed) == 69
    assert len({p.subject for p in parsed}) == 82  # FG-NET's 82 people


@pytest.mark.shared
def test_every_utkface_name_parses(utkface_images):
    parsed = [parse_utkface_name(n) for n in os.listdir(utkface_images)]
    assert all(isinstance(p, ParsedName) for p in parsed)
    assert sum(p.gender is None for p in parsed) == 3  # the three names without a race field
    assert 1 <= min(p.age for p in parsed) and max(p.age for p in parsed) == 116
