"""Estimates written for analysis: one flat row per face (or per photo that could not be read) as CSV or JSON,
and the faces' posteriors apart, as .npz arrays or a long CSV (one row per face and age).

Columns (RESULT_COLUMNS): the photo (`path`) and the face's number in it, its box (`box_x, box_y, box_w,
box_h`, pixels), the detector's `score` (YuNet's confidence; empty for the Haar cascade, which has none), the
posterior's `age_mean` and `age_mode`, its 90% interval `ci90_low`..`ci90_high`, `gender` and
`female_probability`, the picture `quality` (0..1) with its `quality_label` and weakest factor
(`quality_issue`), the `model` and `detector` that made it, and `error` for a photo that could not be read.
Every CSV cell goes through `csv_cell`, the one place a value becomes text (and a formula-looking text is
neutralised: ageapp.files.spreadsheet_cell).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ageapp.files import atomic_write, spreadsheet_cell

RESULT_SUFFIXES = (".csv", ".json")
POSTERIOR_SUFFIXES = (".npz", ".csv")
RESULT_COLUMNS = ("path", "face", "box_x", "box_y", "box_w", "box_h", "score", "age_mean", "age_mode", "ci90_low",
                  "ci90_high", "gender", "female_probability", "quality", "quality_label", "quality_issue", "model",
                  "detector", "error")


def result_rows(results: Iterable, posterior: bool = False) -> Iterator[dict]:
    """One flat row per face (RESULT_COLUMNS; with its posterior list when asked), or per failed photo."""
    for result in results:
        source = {"model": getattr(result, "model", ""), "detector": getattr(result, "detector", "")}
        if result.error:
            yield {"path": str(result.path), "error": result.error, **source}
        for index, estimate in enumerate(result.estimates):
            row = estimate.as_dict()
            kept = {key: row[key] for key in RESULT_COLUMNS if key in row}
            yield {"path": str(result.path), "face": index, **kept, **source,
                   **({"posterior": row["posterior"]} if posterior else {})}


def csv_cell(value) -> str:
    """The one point where a value becomes a CSV cell: None (and NaN) as an empty cell, numbers as written, text
    through ageapp.files.spreadsheet_cell (a file named "=HYPERLINK(…)" is never run as a formula)."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return str(spreadsheet_cell(value if isinstance(value, str) else str(value)))


def write_csv(handle, columns: Iterable[str], rows: Iterable[dict]) -> None:
    writer = csv.writer(handle)
    columns = list(columns)
    writer.writerow([csv_cell(name) for name in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(name)) for name in columns])


def save_results(results: list, out: str | Path) -> Path:
    """Write .csv (RESULT_COLUMNS, no posterior) or .json (a list of rows, posterior included), all or nothing
    (ageapp.files.atomic_write: a file name that is not UTF-8 is written with its odd bytes escaped)."""
    out = Path(out)
    if out.suffix.lower() not in RESULT_SUFFIXES:
        raise ValueError(f"save as .csv or .json, not {out.suffix or 'no suffix'}")
    if out.suffix.lower() == ".json":
        rows = list(result_rows(results, posterior=True))
        return atomic_write(out, lambda handle: handle.write(json.dumps(rows, indent=1)))
    return atomic_write(out, lambda handle: write_csv(handle, RESULT_COLUMNS, result_rows(results)))


def save_posteriors(results: list, out: str | Path) -> tuple[Path, int]:
    """Every face's posterior: .npz with `posterior` (faces x ages), `ages`, `path` and `face` (the rows of
    the results file, in the same order), or a long .csv (path, face, age, probability). Returns (path, faces)."""
    out = Path(out)
    faces = [(str(result.path), index, np.asarray(estimate.posterior, np.float64))
             for result in results for index, estimate in enumerate(result.estimates)]
    width = max((len(p) for _, _, p in faces), default=0)
    if out.suffix.lower() == ".npz":
        posteriors = np.zeros((len(faces), width))
        for row, (_, _, p) in enumerate(faces):
            posteriors[row, :len(p)] = p

        def write_npz(handle) -> None:
            np.savez_compressed(handle, posterior=posteriors, ages=np.arange(width),
                                path=np.array([path for path, _, _ in faces], dtype=str),
                                face=np.array([index for _, index, _ in faces], dtype=np.int64))

        return atomic_write(out, write_npz, binary=True), len(faces)
    if out.suffix.lower() != ".csv":
        raise ValueError(f"save posteriors as .npz or .csv, not {out.suffix or 'no suffix'}")
    rows = ({"path": path, "face": index, "age": age, "probability": f"{value:.6g}"}
            for path, index, p in faces for age, value in enumerate(p))
    return atomic_write(out, lambda handle: write_csv(handle, ("path", "face", "age", "probability"), rows)), len(faces)
