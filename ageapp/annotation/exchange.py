"""Getting answers out of a project and other labellers' answers in.

export: one row per query (path, mode, mean, 90% interval, flag, number of comparisons, posterior vector), with
the prior the posterior used (`prior`: 'uniform' or 'model NAME ^POWER') and the likelihood-only posterior
(`likelihood_posterior`: the same answers under the uniform prior, what training should learn from).
merge: copy another project's comparisons (and undos) in by UUID, matching images by content hash and
annotators by name, then recompute the touched posteriors. A comparison with a reference that has no exact
age in this project is left out and counted (its answer would say nothing about the query's age here).
Comparisons are facts with identities, so merging the same project twice changes nothing (and says that it was
merged already). The other project is read and checked whole before anything is written: a damaged file, or one
edited by hand so that comparisons name a labeller it no longer has or an answer this app does not know, is
refused with what is wrong (MergeError; nothing merged). A comparison whose UUID is here already with other
content (an answer flipped by hand) is a conflict: this project's version is kept and the conflict reported.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from ageapp.annotation.session import recompute_posterior
from ageapp.core.posterior import summarize
from ageapp.files import atomic_write, spreadsheet_cell
from ageapp.store.annotators import annotator_id_for, annotator_names
from ageapp.store.comparisons import (
    ANSWERS,
    comparison_ids,
    comparison_rows,
    comparisons_by_id,
    copy_comparison,
    copy_undo,
    undo_rows,
)
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


class MergeError(Exception):
    """The other project cannot be merged (damaged, or edited by hand): says what is wrong; nothing was merged."""


CONTENT = ("answer", "annotator", "query", "reference", "second_reference", "is_gold", "query_side")  # a conflict's


@dataclass
class MergeReport:
    added: int = 0
    already_present: int = 0
    undos_added: int = 0
    unmatched: list[str] = field(default_factory=list)  # UUIDs whose images this project does not have
    without_age: list[str] = field(default_factory=list)  # UUIDs about references that have no age here
    conflicts: list[dict] = field(default_factory=list)  # {id, what differs: {field: [here, there]}}
    queries_recomputed: int = 0

    @property
    def merged_already(self) -> bool:
        """Nothing new: every comparison and undo of the other project is here (it was merged before)."""
        return (self.already_present > 0 and not (self.added or self.undos_added or self.unmatched
                                                  or self.without_age or self.conflicts))

    def summary(self, other: str, project: str) -> str:
        """What the merge did, for a person (the command line and the window say the same)."""
        if self.merged_already:
            text = (f"{other} was merged already: all its {self.already_present} comparisons are in {project}; "
                    "nothing added")
        else:
            text = (f"added {self.added} comparisons ({self.already_present} already present, {len(self.unmatched)} "
                    f"about images this project lacks), {self.undos_added} undos; recomputed "
                    f"{self.queries_recomputed} posteriors")
        if self.without_age:
            text += (f"\nleft out {len(self.without_age)} comparisons with references that have no age in {project}: "
                     "give those references their ages (import them with their labels), then merge again")
        if self.conflicts:
            text += (f"\nwarning: {len(self.conflicts)} comparisons of {other} have the same id as one here but "
                     f"another content ({', '.join(sorted({key for c in self.conflicts for key in c['differs']}))}"
                     f"): {project}'s are kept; was {other} edited by hand? The ids are in the JSON (conflicts)")
        return text


def _read_other(other: sqlite_utils.Database) -> tuple[list[dict], list, dict[int, str], dict[int, str]]:
    """The other project's comparisons, undos, labellers and image hashes, checked; MergeError if it is damaged
    or edited so that it cannot be merged."""
    name = _name(other)
    try:
        rows, undos = comparison_rows(other), undo_rows(other)
        names, hashes = annotator_names(other), image_hashes(other)
    except sqlite3.DatabaseError as error:
        raise MergeError(f"{name} cannot be read whole ({error}): it is damaged; nothing was merged. Check it with "
                         "`ageapp check`, or ask its labeller for another copy (or one of its backups)") from None
    problems = []
    missing = sorted({row["annotator_id"] for row in rows if row["annotator_id"] not in names}, key=str)
    if missing:
        count = sum(row["annotator_id"] not in names for row in rows)
        problems.append(f"{count} comparisons name a labeller that is not in it (labeller ids "
                        f"{', '.join(map(str, missing[:5]))}): `ageapp check {name} --repair` restores such "
                        "labellers under a placeholder name")
    unknown = sorted({str(row["answer"]) for row in rows if row["answer"] not in ANSWERS})
    if unknown:
        count = sum(row["answer"] not in ANSWERS for row in rows)
        problems.append(f"{count} comparisons have an answer this app does not know ({', '.join(map(repr, unknown[:5]))}"
                        f"; it knows {', '.join(ANSWERS)}): correct or remove them there")
    if problems:
        raise MergeError(f"{name} was edited by hand or is damaged, so nothing was merged: " + "; ".join(problems))
    return rows, undos, names, hashes


def _content(row: dict, hashes: dict[int, str], names: dict[int, str]) -> dict:
    """A comparison as what it says, independent of the ids of the project it is in."""
    return {"answer": row["answer"], "annotator": names.get(row["annotator_id"]),
            "query": hashes.get(row["query_image_id"]), "reference": hashes.get(row["reference_image_id"]),
            "second_reference": hashes.get(row["second_reference_image_id"]), "is_gold": int(row["is_gold"] or 0),
            "query_side": row["query_side"]}


def merge_projects(db: sqlite_utils.Database, other: sqlite_utils.Database) -> MergeReport:
    """Copy the other project's comparisons and undos into db (one transaction); MergeError before anything is
    written if the other cannot be merged."""
    rows, other_undos, names, there_hash = _read_other(other)
    report = MergeReport()
    here_hash = image_hashes(db)
    here_by_hash = {sha1: image_id for image_id, sha1 in here_hash.items()}
    here_names = annotator_names(db)
    aged_here = aged_image_ids(db)
    present = comparison_ids(db)
    here_rows = comparisons_by_id(db, present & {row["id"] for row in rows})  # to compare with the other's

    def local(image_id):
        return None if image_id is None else here_by_hash.get(there_hash.get(image_id))

    def add(row: dict) -> int | None:
        """Copy one comparison in (its query id here, if any); None if it is not copied (counted why)."""
        if row["id"] in present:
            report.already_present += 1
            here = here_rows.get(row["id"])
            if here is not None:
                mine, theirs = _content(here, here_hash, here_names), _content(row, there_hash, names)
                differs = {key: [mine[key], theirs[key]] for key in CONTENT if mine[key] != theirs[key]}
                if differs:
                    report.conflicts.append({"id": row["id"], "differs": differs})
            return None
        mapped = {key: local(row[key]) for key in ("query_image_id", "reference_image_id", "second_reference_image_id")}
        if any(row[key] is not None and mapped[key] is None for key in mapped):
            report.unmatched.append(row["id"])
            return None
        references = [mapped[key] for key in ("reference_image_id", "second_reference_image_id")
                      if mapped[key] is not None]
        if not all(reference in aged_here for reference in references):
            report.without_age.append(row["id"])  # a comparison with an unknown age says nothing here
            return None
        query = mapped["query_image_id"]
        copy_comparison(db, {**row, **mapped, "annotator_id": annotator_id_for(db, names[row["annotator_id"]]),
                             "query_face_id": None if query is None else largest_face_id(db, query)})
        report.added += 1
        present.add(row["id"])
        return query

    touched: set[int] = set()
    try:
        with db.atomic():
            touched.update(query for query in map(add, rows) if query is not None)
            undone_here = {comparison_id for comparison_id, _when in undo_rows(db)}
            for comparison_id, when in other_undos:
                if comparison_id in present and comparison_id not in undone_here:
                    query = copy_undo(db, comparison_id, when)
                    report.undos_added += 1
                    if query is not None:
                        touched.add(query)
            age_max = int(get_setting(db, "age_max"))
            for query_id in sorted(touched):
                recompute_posterior(db, query_id, age_max)
    except sqlite3.IntegrityError as error:  # rolled back: a row the checks do not know breaks a rule here
        raise MergeError(f"a comparison of {_name(other)} breaks this project's rules ({error}): was it edited by "
                         "hand? Nothing was merged") from None
    report.queries_recomputed = len(touched)
    return report


def _name(db: sqlite_utils.Database) -> str:
    path = getattr(db, "path", None)
    return Path(path).name if path else "the other project"
