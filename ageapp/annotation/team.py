"""Splitting a project for a team working offline: `split_project(db, out, parts=N, overlap=0.05)` writes N project
files, each with every reference, a disjoint share of the queries, and a common overlap share that two parts get
(so two labellers answer it and their agreement can be measured). `ageapp merge` brings the parts back.

Which part a query goes to depends only on its content hash, the split's seed and the cuts the split recorded
(`TeamSplit.parts_of`), never on the other queries: the assignment can be worked out again from the split's record
(the `team_split` setting of the project and of each part), and a query is in the same part whichever copy of the
project asks. Each query's draw in [0, 1) comes from its hash and the seed; when the split is made the cuts are
placed between the draws of the project's queries (`TeamSplit.fitted`), so that exactly round(overlap x Q) queries
fall in the overlap (spread over the N pairs of neighbouring parts k, k+1 mod N) and the others in N shares that
differ by one query at most: no part is empty, and more parts than queries of their own are refused.

The parts are written into a hidden folder beside `out` and moved into place at the end (one rename when `out`
is new): a split that is stopped, fails or is killed leaves no part in `out`, and running it again works.

Merging is by UUID and content hash, so the parts can come back in any order, and twice: the comparisons
that result are exactly the union of the parts'. No Qt.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import os
import shutil
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
    """The record of a split: which part each query goes to follows from these values. overlap_cut: the draw
    below which a query is in two parts (None: `overlap` itself, as splits made before the cuts recorded);
    part_cuts: the N - 1 draws that separate the parts' own queries (empty: even shares of the draws)."""

    id: str
    parts: int
    overlap: float
    seed: str
    overlap_cut: float | None = None
    part_cuts: tuple[float, ...] = ()

    def __post_init__(self):
        if self.parts < 2:
            raise SplitError(f"a team split needs at least 2 parts, not {self.parts}")
        if not 0.0 <= self.overlap <= MAX_OVERLAP:
            raise SplitError(f"the overlap is a share of the queries between 0 and {MAX_OVERLAP}, not {self.overlap}")
        cuts = list(self.part_cuts)
        if cuts and (len(cuts) != self.parts - 1 or cuts != sorted(cuts) or not 0.0 <= cuts[0] <= cuts[-1] <= 1.0):
            raise SplitError("the split's record is damaged (its part cuts are not in order)")
        if self.overlap_cut is not None and not 0.0 <= self.overlap_cut <= 1.0:
            raise SplitError("the split's record is damaged (its overlap cut is not a share)")

    @classmethod
    def fitted(cls, id: str, parts: int, overlap: float, seed: str, hashes: list[str]) -> "TeamSplit":
        """The split of these queries (content hashes) whose cuts give exactly round(overlap x Q) overlap queries
        and parts that differ by one query at most; SplitError if some part would get no query of its own."""
        plain = cls(id, int(parts), float(overlap), seed)
        draws = sorted(plain.draw(sha1) for sha1 in hashes)
        shared = int(round(plain.overlap * len(draws)))
        own = draws[shared:]
        if plain.parts > len(own):
            share = f" ({shared} of them in two parts for the {plain.overlap:.0%} overlap)" if shared else ""
            raise SplitError(f"{plain.parts} parts for {len(draws)} queries{share} would leave parts with no query of "
                             f"their own: ask for at most {len(own)} parts, or a smaller overlap")
        overlap_cut = (draws[shared - 1] + draws[shared]) / 2 if shared else 0.0
        bounds = [(index * len(own)) // plain.parts for index in range(1, plain.parts)]
        part_cuts = tuple((own[bound - 1] + own[bound]) / 2 for bound in bounds)
        return cls(id, plain.parts, plain.overlap, seed, overlap_cut, part_cuts)

    def draw(self, sha1: str) -> float:
        """The query's place in [0, 1): from its content hash and the seed only."""
        return int(hashlib.sha1(f"{self.seed}:{sha1}".encode()).hexdigest()[:15], 16) / _UNIT

    def parts_of(self, sha1: str) -> tuple[int, ...]:
        """The parts (0-based) the query goes to: two neighbouring parts for an overlap query, else one."""
        u = self.draw(sha1)
        cut = self.overlap if self.overlap_cut is None else self.overlap_cut
        if u < cut:
            first = min(int(u / cut * self.parts), self.parts - 1)
            return (first, (first + 1) % self.parts)
        if self.part_cuts:
            return (bisect.bisect_right(self.part_cuts, u),)
        return (min(int((u - cut) / (1.0 - cut) * self.parts), self.parts - 1),)

    def as_setting(self, part: int | None = None) -> dict:
        setting = {"id": self.id, "parts": self.parts, "overlap": self.overlap, "seed": self.seed}
        if self.overlap_cut is not None:
            setting.update(overlap_cut=self.overlap_cut, part_cuts=list(self.part_cuts))
        return setting if part is None else {**setting, "part": part}

    @classmethod
    def from_setting(cls, value) -> "TeamSplit | None":
        """The split a project records, or None (none, or a record this version cannot read)."""
        try:
            cut = value.get("overlap_cut")
            return cls(str(value["id"]), int(value["parts"]), float(value["overlap"]), str(value["seed"]),
                       None if cut is None else float(cut), tuple(float(v) for v in value.get("part_cuts") or ()))
        except (TypeError, KeyError, ValueError, SplitError, AttributeError, OverflowError):
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

    @property
    def overlap_share(self) -> float:
        """The share of the queries given to two labellers (what the split gave, not what was asked)."""
        total = sum(self.queries) - self.overlap_queries
        return self.overlap_queries / total if total else 0.0

    def summary(self) -> str:
        if self.cancelled:
            return "split cancelled: no part was kept (the project is unchanged)"
        shares = ", ".join(f"{path.name} {count}" for path, count in zip(self.files, self.queries))
        return (f"split into {len(self.files)} parts, each with all {self.references} references; queries per part: "
                f"{shares}; {self.overlap_queries} queries ({self.overlap_share:.1%}; {self.split.overlap:.1%} asked) "
                "are in two parts, for two labellers each. Give each labeller a part; bring the answers back with "
                "`ageapp merge PROJECT PART` (any order, idempotent)")

    def as_dict(self) -> dict:
        return {**self.split.as_setting(), "files": [str(path) for path in self.files], "queries": self.queries,
                "overlap_queries": self.overlap_queries, "overlap_given": round(self.overlap_share, 4),
                "references": self.references, "cancelled": self.cancelled}


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
    writing). All or nothing: on a stop, an error or a kill, no part is left in `out` (module docstring)."""
    out = Path(out)
    if count_images(db, "query") == 0:
        raise SplitError("the project has no queries to share out: import them first")
    hashes = [sha1 for _, sha1 in query_hashes(db)]
    split = TeamSplit.fitted(uuid.uuid4().hex, parts, overlap, seed or uuid.uuid4().hex, hashes)
    paths = [part_path(project, out, part, split.parts) for part in range(split.parts)]
    taken = [path for path in paths if path.exists()]
    if taken:
        raise SplitError(f"{taken[0]} already exists: choose another folder, or remove the earlier split's parts")
    staging = _staging(project, out, split)
    shares = assign_queries(db, split)
    report = SplitReport(split, queries=[len(share) for share in shares], references=count_images(db, "reference"))
    report.overlap_queries = (sum(report.queries) - len(hashes))
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

            written = write_subset(db, staging / path.name, share,
                                   settings={"team_split": split.as_setting(part)}, on_rows=rows,
                                   should_stop=should_stop)
            if not written:
                report.cancelled = True
                break
            report.files.append(path)
        if not report.cancelled:
            _move_into_place(staging, out, paths)
    except SubsetError as error:
        raise SplitError(str(error)) from None
    except OSError as error:
        raise SplitError(f"cannot write the parts into {out}: {error.strerror or error}; no part was kept") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if report.cancelled:
        report.files = []
        return report
    if not getattr(db, "read_only", False):
        set_setting(db, "team_split", split.as_setting())
    return report


STAGING = "-split-"


def _staging(project: Path, out: Path, split: TeamSplit) -> Path:
    """A new hidden folder beside `out` for the parts being written; earlier ones of this project's splits into
    `out` (left by a split that was killed: the project's lock keeps two splits of it from running at once)
    are removed first."""
    hidden = f".{out.name}.{Path(project).stem}{STAGING}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for stale in out.parent.glob(f"{hidden}*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = out.parent / f"{hidden}{split.id[:12]}.partial"
        staging.mkdir()
    except OSError as error:
        raise SplitError(f"cannot create the folder {out.parent / out.name}: {error.strerror or error}") from None
    return staging


def _move_into_place(staging: Path, out: Path, paths: list[Path]) -> None:
    """The written parts into `out`: the whole folder in one rename when `out` is new, else part by part."""
    if not out.exists():
        os.rename(staging, out)
        return
    moved = []
    try:
        for path in paths:
            if path.exists():
                raise FileExistsError(errno.EEXIST, "a part of that name appeared meanwhile", str(path))
            os.rename(staging / path.name, path)
            moved.append(path)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
