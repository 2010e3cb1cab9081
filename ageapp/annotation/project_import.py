"""Filling a project from folders, as one task: scan each folder, import its images (faces found, crops
stored), predict the genders of the new faces, and check that the references' ages span the project's range.

The command line (`ageapp import`) and the window (the New project wizard, File ▸ Import…) share it. One
progress callback covers every step: `on_progress(done, total, step)` in units of work (one image imported,
one face's gender predicted); `total` is an estimate until the gender step starts (the faces to predict are
known only once the images are in) and is then made exact. A stop (`should_stop()`) keeps what was committed:
running the same import again skips the images already in the project by their content and adds nothing twice.
No Qt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from ageapp.datasets.records import ScanError, ScanResult
from ageapp.datasets.scan import scan
from ageapp.store.genders import count_gender_candidates
from ageapp.store.images import ROLES, reference_age_span
from ageapp.store.importing import ImportReport, import_records
from ageapp.store.settings import get_setting

PROBLEMS_SHOWN = 10  # the human summary lists this many errors and warnings; the JSON line has them all
# The references should reach within this many years of both ends of the project's range; beyond it a query
# older (younger) than every reference can only be placed "beyond the references".
RANGE_TOLERANCE_YEARS = 2

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ImportSource:
    """One folder (or CSV file) to import, as which role, read in which format."""

    path: Path
    role: str
    format: str = "auto"
    aligned: bool = False  # already face crops (UTKFace chips): one face each, no search

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")

    @property
    def root(self) -> Path:
        """The folder paths are stored relative to (a CSV file's own folder)."""
        return self.path.parent if self.path.is_file() else self.path


@dataclass(frozen=True)
class RangeCheck:
    """Whether the references' ages span the project's range 0..age_max."""

    age_max: int
    references: int  # references of exact age with a face
    youngest: float | None  # among those inside the range
    oldest: float | None
    above_range: int  # references older than age_max: never shown

    @property
    def spans(self) -> bool:
        return (self.references > 0 and self.youngest is not None
                and self.youngest <= RANGE_TOLERANCE_YEARS and self.oldest >= self.age_max - RANGE_TOLERANCE_YEARS)

    def warning(self) -> str:
        """'' when the references span the range, else what is wrong, with the figures, and what to do."""
        if self.references == 0:
            return ("the project has no references of known age with a face yet: import some (FG-NET, UTKFace or "
                    "a CSV of ages) before labelling")
        if self.youngest is None:
            return (f"all {self.references} references are older than the project's range 0-{self.age_max}, so "
                    "none can be shown: import younger references or widen the range")
        lines = []
        young, old = self.youngest > RANGE_TOLERANCE_YEARS, self.oldest < self.age_max - RANGE_TOLERANCE_YEARS
        if young or old:
            beyond = " or ".join([f"younger than {_age(self.youngest)}"] * young + [f"older than {_age(self.oldest)}"] * old)
            lines.append(
                f"the references' ages span {_age(self.youngest)}-{_age(self.oldest)} but the project's range is "
                f"0-{self.age_max}: a query {beyond} can only be placed beyond the references (its posterior piles "
                "up at that end); import references of those ages (UTKFace reaches 116) to place such faces")
        if self.above_range:
            lines.append(f"{self.above_range} references are older than {self.age_max}, the top of the range, and "
                         "are never shown")
        return "; ".join(lines)

    def as_dict(self) -> dict:
        return {"age_max": self.age_max, "references": self.references, "youngest": self.youngest,
                "oldest": self.oldest, "above_range": self.above_range, "spans": self.spans,
                "warning": self.warning()}


def _age(value: float) -> str:
    return f"{value:g}"


def check_reference_range(db: sqlite_utils.Database) -> RangeCheck:
    """The references' ages against the project's range (its `age_max` setting)."""
    age_max = int(get_setting(db, "age_max"))
    span = reference_age_span(db, age_max)
    return RangeCheck(age_max, span["references"], span["youngest"], span["oldest"], span["above_range"])


@dataclass
class SourceResult:
    source: ImportSource
    format: str  # the format read (the detected one for "auto")
    report: ImportReport
    seconds: float

    def summary(self) -> str:
        return describe_import(self.report, self.source.role, self.source.path, self.format, self.seconds)

    def as_dict(self) -> dict:
        return {"source": str(self.source.path), "role": self.source.role, "format": self.format,
                "aligned": self.source.aligned, "seconds": round(self.seconds, 2), **self.report.as_dict()}


@dataclass
class ProjectImportReport:
    sources: list[SourceResult] = field(default_factory=list)
    genders: dict | None = None  # the gender step's report (GenderReport.as_dict()), None when it did not run
    gender_notice: str = ""  # why genders were not predicted (no model ...), or ""
    range: RangeCheck | None = None
    interrupted: bool = False

    def total(self, key: str) -> int:
        return sum(getattr(result.report, key) for result in self.sources)

    def summary(self) -> str:
        lines = [result.summary() for result in self.sources]
        if self.genders is not None:
            lines.append(self.genders["summary"])
        if self.gender_notice:
            lines.append(self.gender_notice)
        if self.range is not None and self.range.warning():
            lines.append(f"warning: {self.range.warning()}")
        if self.interrupted:
            lines.append("cancelled: what was imported is kept; run the same import again to import the rest "
                         "(nothing is added twice)")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"sources": [result.as_dict() for result in self.sources], "genders": self.genders,
                "gender_notice": self.gender_notice, "range": None if self.range is None else self.range.as_dict(),
                "interrupted": self.interrupted,
                **{key: self.total(key) for key in ("imported", "skipped", "duplicates", "faces_found")}}


def scan_source(source: ImportSource) -> ScanResult:
    """The source's records (ScanError says what is wrong with the folder, before anything is written)."""
    return scan(source.path, source.format)


def import_sources(
    db: sqlite_utils.Database,
    sources: list[ImportSource],
    *,
    detector_path: str | Path | None = None,
    genders: bool = True,
    gender_model: str | Path | None = None,
    load_model: Callable | None = None,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int = 2,
) -> ProjectImportReport:
    """Import every source in turn, then (unless `genders` is False or the import was stopped) predict the
    genders of the faces without a gender label with `gender_model` (else the project's active model, else the
    shipped default). Raises ScanError, before anything is written, for a folder that cannot be read."""
    stop = should_stop or (lambda: False)
    report = ProjectImportReport()
    tell = on_progress or (lambda done, total, step: None)
    tell(0, 0, "reading the folders")
    scanned = [(source, scan_source(source)) for source in sources]
    unlabelled = sum(1 for _, found in scanned for record in found.records if record.gender is None)
    total = sum(len(found.records) for _, found in scanned) + (
        count_gender_candidates(db) + unlabelled if genders else 0)
    done = 0
    for source, found in scanned:
        step = f"finding faces in {source.path.name or source.path} ({source.role} images)"
        tell(done, total, step)
        started, offset = time.perf_counter(), done
        result = import_records(
            db, found, source.root, role=source.role, detector_path=detector_path, aligned=source.aligned,
            workers=workers, on_progress=lambda n, _t: tell(offset + n, total, step), should_stop=stop)
        done = offset + len(found.records)
        report.sources.append(SourceResult(source, found.source_format, result, time.perf_counter() - started))
        if result.interrupted:
            report.interrupted = True
            break
    if genders and not report.interrupted:
        _predict_genders(db, report, gender_model, load_model, done, tell, stop)
    report.range = check_reference_range(db)
    return report


def _predict_genders(db, report: ProjectImportReport, explicit, load_model, done: int, tell: Progress,
                     stop: Callable[[], bool]) -> None:
    from ageapp.annotation.gender import NO_MODEL, GenderModelError, gender_model_path, predict_genders

    candidates = count_gender_candidates(db)
    step = "predicting genders"
    tell(done, done + candidates, step)
    if candidates == 0:
        return
    path = gender_model_path(db, explicit)
    if path is None:
        report.gender_notice = f"genders not predicted: {NO_MODEL}"
        return
    from ageapp.model import ModelFileError

    if load_model is None:
        from ageapp.model import open_model as load_model
    try:
        estimator = load_model(path)
        result = predict_genders(db, estimator, progress=lambda n, total: tell(done + n, done + total, step),
                                 should_stop=stop)
    except (GenderModelError, ModelFileError) as error:
        report.gender_notice = f"genders not predicted: {error}"
        return
    report.genders = {**result.as_dict(), "model": str(path), "summary": result.summary()}
    report.interrupted = report.interrupted or result.stopped


def _listed(title: str, problems: list[dict]) -> list[str]:
    if not problems:
        return []
    lines = [f"{len(problems)} {title}:"]
    lines += [f"  {problem['path']}: {problem['reason']}" for problem in problems[:PROBLEMS_SHOWN]]
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(f"  … and {len(problems) - PROBLEMS_SHOWN} more (all in the JSON line)")
    return lines


def describe_import(report: ImportReport, role: str, source: Path, fmt: str, seconds: float) -> str:
    """The human summary of one folder's import: counts, then the problems (the first PROBLEMS_SHOWN)."""
    found_by = ", ".join(f"{name} {count}" for name, count in sorted(report.faces_found_by.items()))
    lines = [
        f"imported {report.imported} {role} images from {source} ({fmt}) in {seconds:.1f} s",
        f"  with a face: {report.faces_found} (found by: {found_by or 'none'}; {report.faces_stored} faces in all); "
        f"without an age: {report.without_age}",
        f"  skipped (already in the project): {report.skipped}; byte-identical duplicates: {report.duplicates}",
    ]
    if report.ignored:
        ignored = ", ".join(f"{ext} {count}" for ext, count in sorted(report.ignored.items()))
        lines.append(f"  ignored files that are not images: {ignored}")
    lines += _listed("errors (not imported)", report.errors)
    lines += _listed("warnings (imported, but something is missing)", report.warnings)
    if report.interrupted:
        lines.append("interrupted: what was imported is kept; run the same command again to import the rest")
    return "\n".join(lines)


__all__ = ["ImportSource", "ProjectImportReport", "RangeCheck", "ScanError", "SourceResult", "check_reference_range",
           "describe_import", "import_sources", "scan_source"]
