"""Analysis-ready results: one flat CSV row per face with the listed columns (no packed cells), the posteriors
apart (.npz arrays or a long CSV) in the results' order, every cell written through one function."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ageapp.core.posterior import summarize
from ageapp.estimation import results as results_module
from ageapp.estimation.photos import PhotoResult
from ageapp.estimation.pipeline import FaceEstimate
from ageapp.estimation.results import RESULT_COLUMNS, save_posteriors, save_results
from ageapp.faces.alignment import Face
from ageapp.faces.quality import FaceQuality

LISTED = ["box_x", "box_y", "box_w", "box_h", "score", "age_mean", "age_mode", "ci90_low", "ci90_high", "gender",
          "female_probability", "quality", "model", "detector"]  # the list


def _estimate(ages, box=(10.0, 20.0, 30.0, 40.0), score=0.91, female=0.2, quality=None):
    p = np.zeros(101)
    p[list(ages)] = 1.0 / len(ages)
    face = Face(box, np.zeros((5, 2), np.float32), score, "yunet", np.zeros((112, 96, 3), np.uint8))
    return FaceEstimate(face, p, summarize(p), female, quality=quality)


@pytest.fixture
def results():
    poor = FaceQuality(0.1, "too poor", "noise", 30.0, 0.5, 80.0, 120.0, 6.0)
    return [PhotoResult(Path("a.jpg"), [_estimate((30, 31, 32, 33, 34)), _estimate((60,), score=None, quality=poor)],
                        model="models/m.onnx", detector="yunet"),
            PhotoResult(Path("bad.jpg"), error="truncated", model="models/m.onnx", detector="yunet"),
            PhotoResult(Path("b.jpg"), [_estimate((5, 7), female=0.9)], model="models/m.onnx", detector="haar")]


def test_csv_has_the_listed_columns_one_value_per_cell(tmp_path, results):
    rows = list(csv.DictReader(save_results(results, tmp_path / "faces.csv").open()))
    header = list(rows[0].keys())
    assert all(name in header for name in LISTED) and header == list(RESULT_COLUMNS)
    assert "posterior" not in header and "box" not in header and "ci90" not in header
    first, poor, error, third = rows
    # Uniform over 30..34: mean 32, mode 30 (the first maximum), 90% interval 30..34, male at 20% female.
    assert (first["box_x"], first["box_y"], first["box_w"], first["box_h"]) == ("10.0", "20.0", "30.0", "40.0")
    assert (first["age_mean"], first["age_mode"], first["ci90_low"], first["ci90_high"]) == ("32.0", "30", "30", "34")
    assert (first["gender"], first["female_probability"], first["score"]) == ("male", "0.2", "0.91")
    assert (first["model"], first["detector"], first["path"], first["face"]) == ("models/m.onnx", "yunet", "a.jpg", "0")
    assert first["quality"] == "" and first["error"] == ""  # not measured: empty, never a made-up value
    assert (poor["score"], poor["quality"], poor["quality_label"], poor["quality_issue"]) == ("", "0.1", "too poor",
                                                                                            "noise")
    assert (error["path"], error["error"], error["face"], error["age_mean"]) == ("bad.jpg", "truncated", "", "")
    assert (third["detector"], third["gender"], third["age_mean"]) == ("haar", "female", "6.0")


def test_every_csv_cell_passes_through_one_function(tmp_path, results, monkeypatch):
    seen = []
    real = results_module.csv_cell
    monkeypatch.setattr(results_module, "csv_cell", lambda value: seen.append(value) or real(value))
    text = save_results(results, tmp_path / "faces.csv").read_text()
    assert len(seen) == len(RESULT_COLUMNS) * (1 + 4)  # the header and four rows, every cell
    assert text.count("\n") == 5


def test_posteriors_apart_as_npz_and_as_a_long_csv(tmp_path, results):
    path, faces = save_posteriors(results, tmp_path / "p.npz")
    stored = np.load(path)
    assert faces == 3 and stored["posterior"].shape == (3, 101) and list(stored["ages"]) == list(range(101))
    assert list(stored["path"]) == ["a.jpg", "a.jpg", "b.jpg"] and list(stored["face"]) == [0, 1, 0]
    np.testing.assert_allclose(stored["posterior"][2], results[2].estimates[0].posterior, rtol=1e-12)
    path, _ = save_posteriors(results, tmp_path / "p.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3 * 101 and list(rows[0]) == ["path", "face", "age", "probability"]
    total = sum(float(r["probability"]) for r in rows if r["path"] == "b.jpg")
    assert total == pytest.approx(1.0, rel=1e-5)
    assert [float(r["probability"]) for r in rows if r["path"] == "b.jpg" and r["age"] in ("5", "7")] == [0.5, 0.5]


def test_json_keeps_the_posterior_with_each_face(tmp_path, results):
    import json

    rows = json.loads(save_results(results, tmp_path / "faces.json").read_text())
    faces = [row for row in rows if "error" not in row]
    assert len(faces) == 3 and all(len(row["posterior"]) == 101 for row in faces)
    assert faces[1]["quality_label"] == "too poor" and faces[1]["score"] is None
