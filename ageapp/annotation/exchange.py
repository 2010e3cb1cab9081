"""Getting answers out of a project and other labellers' answers in.

export: one row per query (path, mode, mean, 90% interval, flag, number of comparisons, posterior vector), with
the prior the posterior used (`prior`: 'uniform' or 'model NAME ^POWER') and the likelihood-only posterior
(`likelihood_posterior`: the same answers under the uniform prior, what training should learn from).
merge: copy another project's comparisons (and undos) in by UUID, matching images by content hash and
annotators by name, then recompute the touched posteriors. A comparison with a reference that has no exact
age in this project is left out and counted (its answer would say nothing about the query's age here).
Comparisons are facts with identities, so merging the same project twice changes nothing.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from ageapp.annotation.session import recompute_posterior
from ageapp.core.posterior import summarize
from ageapp.files import atomic_write, spreadsheet_cell
from ageapp.store.annotators import annotator_id_for, annotator_names
from ageapp.store.comparisons import comparison_ids, comparison_rows, copy_comparison, copy_undo, undo_rows
from ageapp.store.faces import largest_face_id
from ageapp.store.images import aged_image_ids, image_hashes, image_path
from ageapp.store.posteriors import load_posterior, queries_with_posteriors
from ageapp.store.settings import get_setting

EXPORT_SUFFIXES = (".csv", ".json")
EXPORT_COLUMNS = ["path", "mode", "mean", "median", "ci_low", "ci_high", "flagged", "n_comparisons", "prior", "posterior",
                  "likelihood_posterior"]


def export_rows(db: sqlite_utils.Database) -> list[dict]:
    """Every query with a posterior, in id order."""
    rows = []
    for query_id in queries_with_posteriors(db):
        stored = load_posterior(db, query_id)
        summary = summarize(stored["probabilities"])
        rows.append({
            "path": str(image_path(db, query_id)),
            "mode": summary.mode,
            "mean": round(summary.mean, 3),
            "median": summary.median,
            "ci_low": summary.ci_low,
            "ci_high": summary.ci_high,
            "flagged": summary.flagged,
            "n_comparisons": stored["n_comparisons"],
            "prior": stored["prior"],
            "posterior": [round(float(p), 6) for p in stored["probabilities"]],
            "likelihood_posterior": [round(float(p), 6) for p in stored["likelihood"]],
        })
    return rows


def export_project(db: sqlite_utils.Database, out: str | Path) -> int:
    """Write .csv (posterior as a space-separated column) or .json, all or nothing (ageapp.files.atomic_write);
    returns the number of queries. ValueError for another suffix, before anything is read."""
    out = Path(out)
    if out.suffix.lower() not in EXPORT_SUFFIXES:
        raise ValueError(f"export to .csv or .json, not '{out.suffix or out.name}'")
    rows = export_rows(db)
    if out.suffix.lower() == ".json":
        atomic_write(out, lambda handle: handle.write(json.dumps(rows, indent=1)))
    else:
        def write_csv(handle) -> None:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            for row in rows:
                cells = {**row, "posterior": " ".join(str(p) for p in row["posterior"]),
                         "likelihood_posterior": " ".join(str(p) for p in row["likelihood_posterior"])}
                writer.writerow({key: spreadsheet_cell(value) for key, value in cells.items()})

        atomic_write(out, write_csv)
    return len(rows)


@dataclass
class MergeReport:
    added: int = 0
    already_present: int = 0
    undos_added: int = 0
    unmatched: list[str] = field(default_factory=list)  # UUIDs whose images this project does not have
    without_age: list[str] = field(default_factory=list)  # UUIDs about references that have no age here
    queries_recomputed: int = 0


def merge_projects(db: sqlite_utils.Database, other: sqlite_utils.Database) -> MergeReport:
    """Copy the other project's comparisons and undos into db (one transaction)."""
    report = MergeReport()
    here_by_hash = {sha1: image_id for image_id, sha1 in image_hashes(db).items()}
    there_hash = image_hashes(other)
    names = annotator_names(other)
    aged_here = aged_image_ids(db)
    present = comparison_ids(db)

    def local(image_id):
        return None if image_id is None else here_by_hash.get(there_hash.get(image_id))

    touched: set[int] = set()
    with db.atomic():
        for row in comparison_rows(other):
            if row["id"] in present:
                report.already_present += 1
                continue
            mapped = {key: local(row[key]) for key in ("query_image_id", "reference_image_id", "second_reference_image_id")}
            if any(row[key] is not None and mapped[key] is None for key in mapped):
                report.unmatched.append(row["id"])
                continue
            references = [mapped[key] for key in ("reference_image_id", "second_reference_image_id")
                          if mapped[key] is not None]
            if not all(reference in aged_here for reference in references):
                report.without_age.append(row["id"])  # a comparison with an unknown age says nothing here
                continue
            query = mapped["query_image_id"]
            copy_comparison(db, {**row, **mapped, "annotator_id": annotator_id_for(db, names[row["annotator_id"]]),
                                 "query_face_id": None if query is None else largest_face_id(db, query)})
            report.added += 1
            present.add(row["id"])
            if query is not None:
                touched.add(query)
        undone_here = {comparison_id for comparison_id, _when in undo_rows(db)}
        for comparison_id, when in undo_rows(other):
            if comparison_id in present and comparison_id not in undone_here:
                query = copy_undo(db, comparison_id, when)
                report.undos_added += 1
                if query is not None:
                    touched.add(query)
        age_max = int(get_setting(db, "age_max"))
        for query_id in sorted(touched):
            recompute_posterior(db, query_id, age_max)
    report.queries_recomputed = len(touched)
    return report
