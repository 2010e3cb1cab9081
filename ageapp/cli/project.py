"""`ageapp new`, `ageapp import`, `ageapp stats`: create a project, fill it with images, count what it holds."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from ageapp.annotation.project_import import check_reference_range, describe_import
from ageapp.cli.output import CommandError, finish, print_notices
from ageapp.core.posterior import AGE_MAX_DEFAULT
from ageapp.datasets.records import FORMATS, ScanError
from ageapp.datasets.scan import scan
from ageapp.faces.detection import DETECTOR_ENV, DetectorError, make_detector
from ageapp.model.resolve import choose_detector
from ageapp.store.db import PROJECT_SUFFIX, ProjectError, open_project, schema_version
from ageapp.store.images import ROLES
from ageapp.store.importing import import_records
from ageapp.store.settings import AGE_MAX_HIGHEST, AGE_MAX_LOWEST, get_setting, set_setting
from ageapp.store.stats import project_stats


def register(subparsers: argparse._SubParsersAction) -> None:
    new = subparsers.add_parser("new", help="create an empty project file")
    new.add_argument("project", type=Path, help=f"the project file to create (ends in {PROJECT_SUFFIX})")
    new.add_argument("--age-max", type=int, default=AGE_MAX_DEFAULT, metavar="N",
                     help=f"the oldest age a posterior covers: ages 0..N (default {AGE_MAX_DEFAULT})")
    new.set_defaults(func=run_new)

    imp = subparsers.add_parser("import", help="import a folder of face images (a dataset or your own photos)")
    imp.add_argument("project", type=Path, help="the project file")
    imp.add_argument("source", type=Path, help="the folder to import (or, for --format csv, the CSV file)")
    imp.add_argument("--role", required=True, choices=ROLES,
                     help="reference: images of known age to compare against; query: images to be aged")
    imp.add_argument("--format", default="auto", choices=FORMATS,
                     help="how ages are labelled (default: detected from the folder)")
    imp.add_argument("--aligned", action="store_true",
                     help="the images are already face crops (UTKFace chips): one face each, no search")
    imp.add_argument("--detector", type=Path,
                     help=f"YuNet .onnx face detector (default: the project's setting, else ${DETECTOR_ENV}, "
                          "else OpenCV's Haar cascade; ageapp.model.resolve.choose_detector decides)")
    imp.add_argument("--model", type=Path,
                     help="checkpoint that predicts the gender of faces without a gender label (default: the "
                          "project's active model, else the shipped default model)")
    imp.add_argument("--no-gender", action="store_true", help="do not predict genders after the import")
    imp.set_defaults(func=run_import)

    genders = subparsers.add_parser(
        "genders", help="predict the gender of the faces without a gender label (never replaces a label)")
    genders.add_argument("project", type=Path, help="the project file")
    genders.add_argument("--model", type=Path, help="checkpoint (default: the project's active model, else the "
                                                    "shipped default model)")
    genders.add_argument("--all", action="store_true",
                         help="predict again the faces that already have a predicted gender (e.g. with a better model)")
    genders.set_defaults(func=run_genders)

    stats = subparsers.add_parser("stats", help="count images, faces, comparisons and posteriors in a project")
    stats.add_argument("project", type=Path, help="the project file")
    stats.set_defaults(func=run_stats)


def _open(path: Path, create: bool = False, read_only: bool = False):
    try:
        db = open_project(path, create=create, read_only=read_only)
    except ProjectError as error:
        raise CommandError(str(error)) from None
    print_notices(db)
    return db


def run_new(args: argparse.Namespace) -> int:
    path = args.project
    if path.suffix != PROJECT_SUFFIX:
        raise CommandError(f"a project file ends in {PROJECT_SUFFIX}: try `ageapp new {path}{PROJECT_SUFFIX}`")
    if path.exists():
        raise CommandError(f"{path} already exists; open it, or choose another name")
    if not AGE_MAX_LOWEST <= args.age_max <= AGE_MAX_HIGHEST:
        raise CommandError(f"--age-max {args.age_max} is out of bounds: give the oldest age to cover, between "
                           f"{AGE_MAX_LOWEST} and {AGE_MAX_HIGHEST} (default {AGE_MAX_DEFAULT})")
    with closing(_open(path, create=True)) as db:
        set_setting(db, "age_max", args.age_max)
        version = schema_version(db)
    return finish(f"created project {path} (ages 0-{args.age_max})",
                  {"project": str(path), "schema_version": version, "age_max": args.age_max})


def _detector_path(args: argparse.Namespace, db) -> str | None:
    if args.detector is not None:
        if not os.path.lexists(args.detector):  # anything else there is looked at by make_detector(strict=True)
            raise CommandError(f"detector model {args.detector} not found: give the path of a YuNet .onnx "
                               "(face_detection_yunet.onnx), or leave --detector out to use the Haar fallback")
        return str(args.detector)
    chosen = choose_detector(None, db)  # the one owner: the project's detector, else $AGEAPP_DETECTOR, else Haar
    if chosen.passed_over:
        print(f"note: {chosen.passed_over}", file=sys.stderr)
    return None if chosen.path is None else str(chosen.path)


def _predict_genders(db, model: Path | None, only_missing: bool = True, required: bool = False) -> dict:
    """Predict genders with the named / active / default model; a dict for the JSON line. Without a model: a
    notice on stderr (or, if `required`, a CommandError)."""
    from ageapp.annotation.gender import NO_MODEL, count_gender_candidates, gender_model_path, predict_genders

    if count_gender_candidates(db, only_missing) == 0:
        return {"predicted": 0, "total": 0, "notice": "no face without a gender label needs a prediction"}
    path = gender_model_path(db, model)
    if path is None:
        if required:
            raise CommandError(NO_MODEL)
        notice = f"genders not predicted: {NO_MODEL} (then run `ageapp genders {db.path}`)"
        print(notice, file=sys.stderr)
        return {"predicted": 0, "notice": notice}
    from ageapp.model import ModelFileError, open_model

    try:
        estimator = open_model(path)
    except ModelFileError as error:
        if required or model is not None:
            raise CommandError(f"genders not predicted: {error}") from None
        notice = f"genders not predicted: {error}"
        print(notice, file=sys.stderr)
        return {"predicted": 0, "notice": notice}
    from ageapp.annotation.gender import GenderModelError

    with tqdm(total=0, unit="face", desc="gender", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = predict_genders(db, estimator, only_missing=only_missing, progress=progress)
        except (GenderModelError, ModelFileError) as error:  # ModelFileError: outputs turned non-finite
            raise CommandError(f"genders not predicted: {error}") from None
        except KeyboardInterrupt:
            return {"predicted": 0, "notice": "gender prediction interrupted: run `ageapp genders` to finish it"}
    return {**report.as_dict(), "model": str(path), "summary": report.summary()}


def run_genders(args: argparse.Namespace) -> int:
    with closing(_open(args.project)) as db:
        result = _predict_genders(db, args.model, only_missing=not args.all, required=True)
    summary = result.get("summary") or result.get("notice", "")
    return finish(summary, {"project": str(args.project), **result}, ok=not result.get("stopped", False))


def run_import(args: argparse.Namespace) -> int:
    with closing(_open(args.project)) as db:
        try:
            scanned = scan(args.source, args.format)
        except ScanError as error:
            raise CommandError(str(error)) from None
        detector_path = _detector_path(args, db)
        try:  # a detector that is there but is no YuNet is refused now, not on each of the images
            detector = make_detector(detector_path, strict=True)
        except DetectorError as error:
            raise CommandError(f"{error}; nothing was imported") from None
        print(detector.notice, file=sys.stderr)
        root = args.source.parent if args.source.is_file() else args.source
        started = time.perf_counter()
        with tqdm(total=len(scanned.records), unit="image", file=sys.stderr, disable=None) as bar:
            report = import_records(
                db, scanned, root, role=args.role, detector_path=detector_path, aligned=args.aligned,
                on_progress=lambda done, total: bar.update(done - bar.n),
            )
        seconds = time.perf_counter() - started
        genders = None
        if not args.no_gender and not report.interrupted:
            genders = _predict_genders(db, args.model)
        coverage = check_reference_range(db)
    payload = {"project": str(args.project), "source": str(args.source), "format": scanned.source_format,
               "role": args.role, "detector": detector.name, "seconds": round(seconds, 2), **report.as_dict(),
               "genders": genders, "range": coverage.as_dict()}
    summary = describe_import(report, args.role, args.source, scanned.source_format, seconds)
    if genders is not None:
        summary += "\n" + (genders.get("summary") or genders.get("notice", ""))
    if coverage.warning():
        summary += f"\nwarning: {coverage.warning()}"
    failed = report.detection_failures > 0 and not (report.imported or report.skipped or report.duplicates)
    if failed:
        summary += (f"\nnothing was imported: the face detector ({detector.name}) failed on every image it was "
                    "given; choose another detector (--detector, a YuNet .onnx) or leave it out for the Haar cascade")
    return finish(summary, payload, ok=not report.interrupted and not failed)


def run_stats(args: argparse.Namespace) -> int:
    from ageapp.annotation.agreement import team_report

    from ageapp.annotation.counts import FLAGGED, ProjectCounts
    from ageapp.annotation.labelling_settings import load_labelling_settings

    with closing(_open(args.project, read_only=True)) as db:  # only reads: works on a read-only project too
        counts = project_stats(db)
        # flagged: finished with a 90% interval wider than 15 years, as the window counts it (a query with a
        # few answers so far is that wide and is not flagged for it)
        counts["flagged"] = ProjectCounts(db, load_labelling_settings(db).protocol).counts().by_status[FLAGGED]
        team = team_report(db)
    summary = "\n".join(f"{name:>12}: {count}" for name, count in counts.items())
    if team.labellers:
        summary += "\nlabellers:\n" + "\n".join(f"  {line}" for line in team.summary().splitlines())
    return finish(f"{args.project}\n{summary}", {"project": str(args.project), **counts, "team": team.as_dict()})
