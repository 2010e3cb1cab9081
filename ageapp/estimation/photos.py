"""Age estimates for photos (one, several, or a folder): shared by `ageapp estimate` and the image mode."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ageapp.faces.images import ImageError, load_image
from ageapp.files import atomic_write, spreadsheet_cell
from ageapp.estimation.pipeline import EstimationPipeline, FaceEstimate

RESULT_SUFFIXES = (".csv", ".json")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class PhotoResult:
    path: Path
    estimates: list[FaceEstimate] = field(default_factory=list)
    error: str | None = None


def collect_photos(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the image files inside given folders (recursively, sorted)."""
    photos = []
    for item in map(Path, inputs):
        if item.is_dir():
            photos.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        else:
            photos.append(item)
    return photos


def estimate_photos(
    photos: list[Path],
    pipeline: EstimationPipeline,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[PhotoResult]:
    """One result per photo; an unreadable photo yields its reason and the batch goes on."""
    for path in photos:
        if should_stop():
            return
        try:
            image = load_image(path)
        except ImageError as error:
            yield PhotoResult(path, error=str(error))
            continue
        yield PhotoResult(path, pipeline.estimate(image))


def result_rows(results: Iterable[PhotoResult]) -> Iterator[dict]:
    """One flat row per face (path, box, mean, mode, interval, gender, posterior), or per failed photo."""
    for result in results:
        if result.error:
            yield {"path": str(result.path), "error": result.error}
        for index, estimate in enumerate(result.estimates):
            yield {"path": str(result.path), "face": index, **estimate.as_dict()}


def save_results(results: list[PhotoResult], out: str | Path) -> Path:
    """Write .json (a list of rows) or .csv (posterior as a space-separated column), all or nothing
    (ageapp.files.atomic_write: a file name that is not UTF-8 is written with its odd bytes escaped)."""
    out = Path(out)
    if out.suffix.lower() not in RESULT_SUFFIXES:
        raise ValueError(f"save as .csv or .json, not {out.suffix or 'no suffix'}")
    rows = list(result_rows(results))
    if out.suffix.lower() == ".json":
        return atomic_write(out, lambda handle: handle.write(json.dumps(rows, indent=1)))
    columns = ["path", "face", "box", "score", "age_mean", "age_mode", "ci90", "gender",
               "female_probability", "track", "error", "posterior"]

    def write_csv(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: spreadsheet_cell(" ".join(map(str, value)) if isinstance(value, list) else value)
                             for key, value in row.items()})

    return atomic_write(out, write_csv)
