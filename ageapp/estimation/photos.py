"""Age estimates for photos (one, several, or a folder): shared by `ageapp estimate` and the image mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ageapp.faces.images import ImageError, load_image
from ageapp.estimation.pipeline import EstimationPipeline, FaceEstimate

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class PhotoResult:
    path: Path
    estimates: list[FaceEstimate] = field(default_factory=list)
    error: str | None = None
    model: str = ""  # the model and the detector that made the estimates (ageapp.estimation.results' columns)
    detector: str = ""


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
    model, detector = pipeline.describe()
    for path in photos:
        if should_stop():
            return
        try:
            image = load_image(path)
        except ImageError as error:
            yield PhotoResult(path, error=str(error), model=model, detector=detector)
            continue
        yield PhotoResult(path, pipeline.estimate(image), model=model, detector=detector)
