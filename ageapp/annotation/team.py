"""Splitting a project for a team working offline: `split_project(db, out, parts=N, overlap=0.05)` writes N project
files, each with every reference, a disjoint share of the queries, and a common overlap share that two parts get
(so two labellers answer it and their agreement can be measured). `ageapp merge` brings the parts back.

Which part a query goes to depends only on its content hash and the split's seed (`TeamSplit.parts_of`), never on
the other queries: the assignment can be worked out again from the split's record (the `team_split` setting of
the project and of each part), and a query is in the same part whichever copy of the project asks. A query falls
in the overlap with probability `overlap`; overlap queries are spread over the N pairs of neighbouring parts
(k, k+1 mod N), the others evenly over the N parts.

Merging is by UUID and content hash, so the parts can come back in any order, and twice: the comparisons
that result are exactly the union of the parts'. No Qt.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from ageapp.store.db import PROJECT_SUFFIX
from ageapp.store.images import count_images, query_hashes
from ageapp.store.settings import get_setting, set_setting
from ageapp.store.subset import SubsetError, rows_to_copy, write_subset

MAX_OVERLAP = 0.5  # beyond half the queries answered twice, splitting saves little work
_UNIT = 16 ** 15  # a hash's first 15 hex digits, as a fraction of this, is the query's draw in [0, 1)


class SplitError(Exception):
    """The split cannot be made: says why and what to do."""


@dataclass(frozen=True)
class TeamSplit:
    """The record of a split: which part each query goes to follows from these four values."""

    id: str
    parts: int
    overlap: float
    seed: str

    def __post_init__(self):
        if self.parts < 2:
            raise SplitError(f"a team split needs at least 2 parts, not {self.parts}")
        if not 0.0 <= self.overlap <= MAX_OVERLAP:
            raise SplitError(f"the overlap is a share of the queries between 0 and {MAX_OVERLAP}, not {self.overlap}")

    def draw(self, sha1: str) -> float:
        """The query's place in [0, 1): from its content hash and the seed only."""
        return int(hashlib.sha1(f"{self.seed}:{sha1}".encode()).hexdigest()[:15], 16) / _UNIT

    def parts_of(self, sha1: str) -> tuple[int, ...]:
        """The parts (0-based) the query goes to: two neighbouring parts for an overlap query, else one."""
        u = self.draw(sha1)
        if u < self.overlap:
            first = min(int(u / self.overlap * self.parts), self.parts - 1)
            return (first, (first + 1) % self.parts)
        return (min(int((u - self.overlap) / (1.0 - self.overlap) * self.parts), self.parts - 1),)

    def as_setting(self, part: int | None = None) -> dict:
        setting = {"id": self.id, "parts": self.parts, "overlap": self.overlap, "seed": self.seed}
        return setting if part is None else {**setting, "part": part}

    @classmethod
    def from_setting(cls, value) -> "TeamSplit | None":
        """The split a project records, or None (none, or a record this version cannot read)."""
        try:
            return cls(str(value["id"]), int(value["parts"]), float(value["overlap"]), str(value["seed"]))
        except (TypeError, KeyError, ValueError, SplitError):
            return None


def recorded_split(db: sqlite_utils.Database) -> tuple[TeamSplit | None, int | None]:
    """The split the project was made by or split into, and which part it is (None for the whole project)."""
    value = get_setting(db, "team_split")
    split = TeamSplit.from_setting(value)
    part = value.get("part") if split is not None and isinstance(value, dict) else None
    return split, part if isinstance(part, int) else None


def assign_queries(db: sqlite_utils.Database, split: TeamSplit) -> list[list[int]]:
    """The query ids of each part."""
    shares: list[list[int]] = [[] for _ in range(split.parts)]
    for query_id, sha1 in query_hashes(db):
        for part in split.parts_of(sha1):
            shares[part].append(query_id)
    return shares


def part_path(project: Path, out: Path, part: int, parts: int) -> Path:
    """PROJECT-part2of4.ageproj in `out` (part is 0-based)."""
    return Path(out) / f"{Path(project).stem}-part{part + 1}of{parts}{PROJECT_SUFFIX}"


@dataclass
class SplitReport:
    split: TeamSplit
    files: list[Path] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)  # per part
    overlap_queries: int = 0  # queries in two parts
    references: int = 0
    cancelled: bool = False

    def summary(self) -> str:
        if self.cancelled:
            return "split cancelled: no part was kept (the project is unchanged)"
        shares = ", ".join(f"{path.name} {count}" for path, count in zip(self.files, self.queries))
        return (f"split into {len(self.files)} parts, each with all {self.references} references; queries per part: "
                f"{shares}; {self.overlap_queries} queries ({self.split.overlap:.0%} asked) are in two parts, for "
                "two labellers each. Give each labeller a part; bring the answers back with `ageapp merge PROJECT "
                "PART` (any order, idempotent)")

    def as_dict(self) -> dict:
        return {**self.split.as_setting(), "files": [str(path) for path in self.files], "queries": self.queries,
                "overlap_queries": self.overlap_queries, "references": self.references, "cancelled": self.cancelled}


def split_project(
    db: sqlite_utils.Database,
    project: Path,
    out: Path,
    parts: int,
    overlap: float = 0.05,
    *,
    seed: str | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SplitReport:
    """Write the parts into `out` (created if missing) and record the split in the project (when it is open for
    writing). All or nothing: on a stop, or an error, the parts written so far are removed."""
    split = TeamSplit(uuid.uuid4().hex, int(parts), float(overlap), seed or uuid.uuid4().hex)
    out = Path(out)
    paths = [part_path(project, out, part, split.parts) for part in range(split.parts)]
    taken = [path for path in paths if path.exists()]
    if taken:
        raise SplitError(f"{taken[0]} already exists: choose another folder, or remove the earlier split's parts")
    if count_images(db, "query") == 0:
        raise SplitError("the project has no queries to share out: import them first")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SplitError(f"cannot create the folder {out}: {error.strerror or error}") from None
    shares = assign_queries(db, split)
    report = SplitReport(split, queries=[len(share) for share in shares], references=count_images(db, "reference"))
    report.overlap_queries = (sum(report.queries) - count_images(db, "query"))
    totals = [rows_to_copy(db, share) for share in shares]
    done, total = 0, sum(totals)
    tell = on_progress or (lambda d, t, s: None)
    try:
        for part, (path, share) in enumerate(zip(paths, shares)):
            step = f"writing {path.name} ({len(share)} queries)"
            tell(done, total, step)

            def rows(count: int, step=step) -> None:
                nonlocal done
                done += count
                tell(done, total, step)

            written = write_subset(db, path, share, settings={"team_split": split.as_setting(part)}, on_rows=rows,
                                   should_stop=should_stop)
            if not written:
                report.cancelled = True
                break
            report.files.append(path)
    except SubsetError as error:
        _remove(report.files)
        raise SplitError(str(error)) from None
    except BaseException:
        _remove(report.files)
        raise
    if report.cancelled:
        _remove(report.files)
        report.files = []
        return report
    if not getattr(db, "read_only", False):
        set_setting(db, "team_split", split.as_setting())
    return report


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
