"""A team's progress and agreement: per labeller, how far they got; per pair of labellers, on the queries both
answered (a split's overlap share, or a query sent back to someone else), how well their answers agree.

Agreement is read from each labeller's own posterior of a query (their answers alone, with their β): the share
of common queries whose 90% intervals intersect, and the mean |difference of the modes| in years. A lead reads
it to see who needs help: a labeller whose intervals keep missing the others' answers differently.

Progress: answers, queries answered, and queries finished by the labeller's own answers under the project's
protocol (paper: that many comparisons; active: their own 90% interval narrow enough or the most comparisons).
When the project records a team split (ageapp.annotation.team), each labeller is matched with the part their
queries come from (PART_SHARE of them at least; a labeller who answered across the whole project has none), and
progress is also given as a share of that part's queries.

Only queries answered by two or more labellers need a posterior recomputed: for the others the stored posterior
is the labeller's own. No Qt.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from itertools import combinations

import sqlite_utils

from ageapp.annotation.labelling_settings import load_labelling_settings
from ageapp.annotation.team import assign_queries, recorded_split
from ageapp.core.posterior import summarize
from ageapp.core.selection import Protocol, protocol_finished
from ageapp.store.comparisons import posterior_of_comparisons
from ageapp.store.settings import get_setting
from ageapp.store.team import answers_by_labeller_and_query, answers_of_labeller, labeller_totals

PART_SHARE = 0.9  # a labeller's part holds at least this share of the queries they answered


@dataclass
class LabellerProgress:
    name: str
    answers: int  # query pairs answered (undone ones left out)
    gold: int  # gold pairs answered
    queries: int  # queries with at least one answer of theirs
    finished: int  # queries their own answers finish under the protocol
    first: str | None = None  # their first and last answer (ISO times)
    last: str | None = None
    part: int | None = None  # 1-based part of the recorded split their queries come from
    assigned: int | None = None  # that part's queries

    @property
    def share_finished(self) -> float | None:
        return None if not self.assigned else self.finished / self.assigned


@dataclass
class PairAgreement:
    first: str
    second: str
    queries: int  # queries both answered
    intersecting: int  # of those, queries whose two 90% intervals intersect
    mean_mode_difference: float | None  # mean |mode(first) - mode(second)| in years

    @property
    def share_intersecting(self) -> float | None:
        return None if self.queries == 0 else self.intersecting / self.queries


@dataclass
class TeamReport:
    labellers: list[LabellerProgress] = field(default_factory=list)
    pairs: list[PairAgreement] = field(default_factory=list)
    split: dict | None = None  # the recorded split ({"parts", "overlap", ...}), if any
    part: int | None = None  # 1-based, when this project is one part of a split

    def as_dict(self) -> dict:
        return {
            "labellers": [{**asdict(p), "share_finished": _round(p.share_finished)} for p in self.labellers],
            "pairs": [{**asdict(p), "mean_mode_difference": _round(p.mean_mode_difference),
                       "share_intersecting": _round(p.share_intersecting)} for p in self.pairs],
            "split": self.split, "part": self.part,
        }

    def summary(self) -> str:
        if not self.labellers:
            return "no answers yet"
        lines = []
        for p in self.labellers:
            share = "" if p.share_finished is None else f" = {p.share_finished:.0%} of part {p.part} ({p.assigned})"
            lines.append(f"{p.name}: {p.answers} answers, {p.queries} queries answered, {p.finished} finished{share}")
        for pair in self.pairs:
            if pair.queries:
                lines.append(f"{pair.first} & {pair.second}: {pair.queries} queries in common, 90% intervals "
                             f"intersect on {pair.share_intersecting:.0%}, mean |mode difference| "
                             f"{pair.mean_mode_difference:.1f} years")
        return "\n".join(lines)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class _Own:
    """A labeller's own view of a query."""

    answers: int
    width: int
    mode: int
    low: int
    high: int
    beyond_mass: float


def team_report(db: sqlite_utils.Database, protocol: Protocol | None = None) -> TeamReport:
    """Every labeller's progress and every pair's agreement on the queries they both answered."""
    protocol = protocol or load_labelling_settings(db).protocol
    age_max = int(get_setting(db, "age_max"))
    names = {row["id"]: row["name"] for row in labeller_totals(db)}
    own: dict[int, dict[int, _Own]] = defaultdict(dict)  # query -> annotator -> their own view
    for row in answers_by_labeller_and_query(db):
        if row["labellers"] > 1 or row["width"] is None:
            summary = summarize(posterior_of_comparisons(
                answers_of_labeller(db, row["query_image_id"], row["annotator_id"]), age_max))
            view = _Own(row["answers"], summary.ci_width, summary.mode, summary.ci_low, summary.ci_high,
                        summary.beyond_mass)
        else:
            view = _Own(row["answers"], row["width"], row["mode"], row["ci_low"], row["ci_high"],
                        row["beyond_mass"] or 0.0)
        own[row["query_image_id"]][row["annotator_id"]] = view
    report = TeamReport()
    split, part = recorded_split(db)
    if split is not None:
        report.split, report.part = split.as_setting(), None if part is None else part + 1
    parts_of_query, part_sizes = _parts(db, split, part)
    for row in labeller_totals(db):
        mine = {query: views[row["id"]] for query, views in own.items() if row["id"] in views}
        progress = LabellerProgress(row["name"], row["answers"] or 0, row["gold"] or 0, len(mine), 0,
                                    row["first"], row["last"])
        votes = Counter(index for query in mine for index in parts_of_query.get(query, ()))
        # Their part: the one their queries belong to (nearly all of them: someone who labelled in the whole
        # project, before it was split or after the merge, has no part, rather than the part most of a
        # scatter of queries happen to fall in); progress then counts that part's queries.
        chosen = votes.most_common(1)[0][0] if votes else None
        if chosen is not None and votes[chosen] >= PART_SHARE * len(mine):
            progress.part, progress.assigned = chosen + 1, part_sizes[chosen]
            mine = {query: view for query, view in mine.items() if chosen in parts_of_query.get(query, ())}
        progress.finished = sum(protocol_finished(protocol, view.low, view.high, view.answers, view.beyond_mass)
                                for view in mine.values())
        report.labellers.append(progress)
    report.pairs = _agreement(own, names)
    return report


def _parts(db, split, part) -> tuple[dict[int, tuple[int, ...]], list[int]]:
    """For a recorded split: query -> the parts it belongs to (two for an overlap query), and each part's
    size; for a project that is one part, only that part counts. Without a split: empty."""
    if split is None:
        return {}, []
    shares = assign_queries(db, split)
    if part is not None:
        shares = [share if index == part else [] for index, share in enumerate(shares)]
    parts_of_query: dict[int, tuple[int, ...]] = defaultdict(tuple)
    for index, share in enumerate(shares):
        for query in share:
            parts_of_query[query] += (index,)
    return dict(parts_of_query), [len(share) for share in shares]


def _agreement(own: dict[int, dict[int, _Own]], names: dict[int, str]) -> list[PairAgreement]:
    tallies: dict[tuple[int, int], list] = defaultdict(lambda: [0, 0, 0.0])
    for views in own.values():
        for a, b in combinations(sorted(views), 2):
            tally = tallies[(a, b)]
            tally[0] += 1
            tally[1] += views[a].low <= views[b].high and views[b].low <= views[a].high
            tally[2] += abs(views[a].mode - views[b].mode)
    pairs = [PairAgreement(names[a], names[b], n, hits, total / n) for (a, b), (n, hits, total) in tallies.items()]
    return sorted(pairs, key=lambda pair: (pair.first, pair.second))
