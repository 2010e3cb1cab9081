"""Spreadsheet formula injection (OWASP's CSV injection): every CSV the app writes (`ageapp estimate --out`,
`ageapp export`, the user study's answers and fit) gives a text cell that starts with = + - @, a tab or a carriage
return a leading apostrophe, so a spreadsheet shows it instead of running it; numbers stay numbers."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.annotation.simulated_person import SimulatedPerson
from ageapp.annotation.study import export_csv, new_sitting, plan_study, record_answer
from ageapp.files import spreadsheet_cell
from ageapp.store.images import root_id_for
from tests.factories import make_project

HOSTILE = ['=HYPERLINK("evil","click")', "+SUM(1,2)", "-2+3", "@cmd", "\tpadded", "\rreturn"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_formula_cell_gets_an_apostrophe(text):
    assert spreadsheet_cell(text) == "'" + text
    assert spreadsheet_cell(f"photos/{text}") == f"photos/{text}"  # not at the start: harmless


@pytest.mark.parametrize("value", [0, -3, 2.5, -1e-5, None, "", "-3.5", "+4", "1e5", "-2E-3", "plain", "a=b"])
def test_numbers_and_plain_text_stay_as_they_are(value):
    assert spreadsheet_cell(value) == value


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_estimate_out_neutralises_hostile_file_names(tmp_path, monkeypatch, capsys):
    """Photo names as the issue found them, given as relative paths (the CSV's path cell starts with them)."""
    monkeypatch.chdir(tmp_path)
    names = [f"{text}.jpg" for text in HOSTILE] + ["plain.jpg"]
    for name in names:
        Path(name).write_bytes(b"not a picture")  # each gets an error row, with its path
    ageapp_main(["estimate", "--out", "faces.csv", "--", *names])
    capsys.readouterr()
    paths = [row["path"] for row in _rows(tmp_path / "faces.csv")]
    assert sorted(paths) == sorted([f"'{name}" for name in names[:-1]] + ["plain.jpg"])


def test_estimate_out_rows_of_faces_keep_their_numbers(tmp_path, monkeypatch, capsys, fgnet_images, yunet_model):
    monkeypatch.chdir(tmp_path)
    source = sorted(fgnet_images.glob("*.JPG"))[0]
    shutil.copyfile(source, tmp_path / "=cmd.jpg")
    assert ageapp_main(["estimate", "=cmd.jpg", "--detector", str(yunet_model), "--out", "faces.csv"]) == 0
    capsys.readouterr()
    (row,) = _rows(tmp_path / "faces.csv")[:1]
    assert row["path"] == "'=cmd.jpg"
    assert 0 <= float(row["age_mean"]) <= 100 and float(row["ci90_low"]) <= float(row["ci90_high"])
    assert all(not row[key].startswith("'") for key in ("box_x", "box_y", "score", "female_probability", "quality"))


def test_export_neutralises_hostile_image_paths(tmp_path, capsys):
    db = make_project(tmp_path / "p.ageproj", references=20, queries=3)[0]
    session = AnnotationSession(db, "ann", seed=0)
    for _ in range(6):
        session.answer(session.next_task(), "left", response_ms=1)
    root = root_id_for(db, tmp_path)
    db.execute("UPDATE roots SET path = ? WHERE id = ?", ["=HYPERLINK(\"x\")", root])
    db.close()
    assert ageapp_main(["export", str(tmp_path / "p.ageproj"), "--out", str(tmp_path / "out.csv")]) == 0
    capsys.readouterr()
    rows = _rows(tmp_path / "out.csv")
    assert rows and all(row["path"].startswith("'=HYPERLINK") for row in rows)
    assert all(float(row["mean"]) >= 0 and row["posterior"][0].isdigit() for row in rows)


def test_the_study_csvs_neutralise_a_hostile_labeller_name(tmp_path):
    db = make_project(tmp_path / "p.ageproj", references=40, queries=2)[0]
    plan = plan_study(db, guesses=4, comparisons=10, seed=2)
    name = '=HYPERLINK("http://evil","click")'
    person, sitting = SimulatedPerson(seed=1), new_sitting()
    for trial in plan.trials:
        record_answer(db, name, sitting, trial, person.answer(trial), 500)
    answers, fit = export_csv(db, tmp_path / "study.csv")
    rows = _rows(answers)
    assert len(rows) == 14 and {row["person"] for row in rows} == {"'" + name}
    assert all(float(row["true_age"]) >= 0 for row in rows)
    assert [row["person"] for row in _rows(fit)] == ["'" + name]
    db.close()


def test_a_neutralised_cell_reads_back_as_text_with_its_apostrophe(tmp_path):
    """What a spreadsheet gets: the apostrophe first, the text whole (commas and quotes quoted by csv)."""
    out = tmp_path / "cells.csv"
    with open(out, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow([spreadsheet_cell(text) for text in HOSTILE])
    with open(out, newline="", encoding="utf-8") as handle:
        (row,) = list(csv.reader(handle))
    assert row == ["'" + text for text in HOSTILE]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
