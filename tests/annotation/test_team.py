"""A team offline: split a project into parts (all references, a disjoint share of the queries, an overlap share in
two parts), label them apart, merge them back in any order; then each labeller's progress and their agreement."""

from __future__ import annotations

import itertools
import shutil
from contextlib import closing
from pathlib import Path

import pytest

from ageapp.annotation.agreement import team_report
from ageapp.annotation.exchange import merge_projects
from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.annotation.session import AnnotationSession, recompute_posterior
from ageapp.annotation.team import SplitError, TeamSplit, assign_queries, recorded_split, split_project
from ageapp.core.selection import Protocol
from ageapp.store.annotators import annotator_id_for
from ageapp.store.backup import copy_project
from ageapp.store.comparisons import record_comparison, record_gold_comparison, undo_comparison
from ageapp.store.db import open_project
from ageapp.store.settings import get_setting
from ageapp.store.subset import unknown_tables
from tests.factories import make_project


def answer(db, name: str, query: int, around: float, references: dict[int, int], count: int = 6) -> list[str]:
    """`count` answers by `name` on a query: older than the references just below `around`, younger than those
    above it (the age grid 0..70: reference ids by age)."""
    annotator = annotator_id_for(db, name)
    below = [references[age] for age in range(int(around) - 1, int(around) - 1 - count, -2)][: count // 2]
    above = [references[age] for age in range(int(around) + 1, int(around) + 1 + count, 2)][: count // 2]
    ids = [record_comparison(db, query_image_id=query, reference_image_id=r, answer="older", annotator_id=annotator,
                             query_side="left") for r in below]
    ids += [record_comparison(db, query_image_id=query, reference_image_id=r, answer="younger",
                              annotator_id=annotator, query_side="right") for r in above]
    recompute_posterior(db, query, int(get_setting(db, "age_max")))
    return ids


def labelled_project(folder: Path, queries: int = 40):
    """A project (references aged 0..70, `queries` queries) and a copy of it before anyone answered."""
    path = folder / "lead.ageproj"
    db, refs, query_ids, _ = make_project(path, references=71, queries=queries)
    db.close()
    blank = copy_project(path, folder / "blank.ageproj")
    db = open_project(path)
    references = dict(zip(range(71), refs))
    for query in query_ids[:10]:
        answer(db, "lead", query, 20 + query % 30, references)
    gold = record_gold_comparison(db, shown_as_query_image_id=refs[30], reference_image_id=refs[40], answer="younger",
                                  annotator_id=annotator_id_for(db, "lead"))
    undo_comparison(db, answer(db, "lead", query_ids[11], 50, references, count=2)[0])
    return db, blank, references, query_ids, gold


def comparisons(db) -> set[tuple]:
    """Every comparison as content, not ids: UUID, the images' hashes, the answer, who, when, undone or not."""
    return set(db.execute(
        "SELECT c.id, q.sha1, r.sha1, s.sha1, c.answer, a.name, c.created, c.query_side, c.is_gold,"
        " c.id IN (SELECT comparison_id FROM undone) FROM comparisons AS c"
        " JOIN annotators AS a ON a.id = c.annotator_id"
        " JOIN images AS r ON r.id = c.reference_image_id LEFT JOIN images AS q ON q.id = c.query_image_id"
        " LEFT JOIN images AS s ON s.id = c.second_reference_image_id").fetchall())


def posteriors(db) -> dict:
    return dict(db.execute("SELECT i.sha1, p.probabilities FROM posteriors AS p JOIN images AS i"
                           " ON i.id = p.query_image_id").fetchall())


def test_every_table_is_either_copied_into_a_part_or_left_out_on_purpose(tmp_path):
    db, *_ = make_project(tmp_path / "p.ageproj", references=2, queries=1)
    assert unknown_tables(db) == []


def test_each_part_has_every_reference_its_share_and_opens_and_labels_on_its_own(tmp_path):
    db, _, references, query_ids, gold = labelled_project(tmp_path, queries=60)
    report = split_project(db, db.path, tmp_path / "team", parts=3, overlap=0.2, seed="fixed")
    assert [path.name for path in report.files] == [f"lead-part{k}of3.ageproj" for k in (1, 2, 3)]
    split, part = recorded_split(db)
    assert (split.as_setting(), part) == (report.split.as_setting(), None)
    parts_of = {query: [] for query in query_ids}
    for index, path in enumerate(report.files):
        with closing(open_project(path)) as part_db:
            assert recorded_split(part_db) == (split, index)
            kept = {row[0] for row in part_db.execute("SELECT id FROM images WHERE role = 'query'")}
            for query in kept:
                parts_of[query].append(index)
            assert part_db.execute("SELECT count(*) FROM images WHERE role = 'reference'").fetchone()[0] == 71
            assert part_db.execute("SELECT count(*) FROM faces").fetchone()[0] == 71 + len(kept)
            assert get_setting(part_db, "age_max") == 70
            # the lead's earlier answers on this part's queries, and the gold pair, came along
            lead = {row[0] for row in part_db.execute("SELECT query_image_id FROM comparisons WHERE is_gold = 0")}
            assert lead == kept & (set(query_ids[:10]) | {query_ids[11]})
            assert part_db.execute("SELECT id FROM comparisons WHERE is_gold = 1").fetchall() == [(gold,)]
            session = AnnotationSession(part_db, f"labeller {index}", seed=0)
            task = session.next_task()
            assert task is not None and (task.kind == "gold" or task.query_image_id in kept)
            session.answer(task, "left")
    # Every query is in one part, or in two neighbouring parts (the overlap), and the shares are as assigned.
    assert all(len(parts) in (1, 2) for parts in parts_of.values())
    overlap = [parts for parts in parts_of.values() if len(parts) == 2]
    assert len(overlap) == report.overlap_queries > 0
    assert all(parts in ([0, 1], [1, 2], [0, 2]) for parts in overlap)
    assert [len(share) for share in assign_queries(db, split)] == report.queries
    assert sum(report.queries) == 60 + len(overlap)


def test_the_assignment_follows_from_the_hash_and_the_seed_alone():
    split = TeamSplit("x", parts=4, overlap=0.1, seed="s")
    hashes = [f"{i:040x}" for i in range(4000)]
    parts = [split.parts_of(h) for h in hashes]
    assert parts == [TeamSplit("y", 4, 0.1, "s").parts_of(h) for h in hashes]  # not the id, not the order
    overlap = sum(len(p) == 2 for p in parts) / len(parts)
    assert 0.08 < overlap < 0.12  # a binomial share around 0.1: sd 0.005
    assert all(p[1] == (p[0] + 1) % 4 for p in parts if len(p) == 2)
    with pytest.raises(SplitError):
        TeamSplit("x", 1, 0.0, "s")
    with pytest.raises(SplitError):
        TeamSplit("x", 3, 0.6, "s")


def test_split_then_merge_gives_back_exactly_the_comparisons_whatever_the_order_and_twice(tmp_path):
    db, blank, references, query_ids, _ = labelled_project(tmp_path)
    report = split_project(db, db.path, tmp_path / "team", parts=3, overlap=0.25, seed="fixed")
    expected = comparisons(db)
    for index, path in enumerate(report.files):  # each labeller works on their own part
        with closing(open_project(path)) as part_db:
            mine = [row[0] for row in part_db.execute("SELECT id FROM images WHERE role = 'query' ORDER BY id")]
            for query in mine[:4]:
                answer(part_db, f"labeller {index}", query, 15 + 10 * index, references)
            if index == 0:  # a labeller withdraws one of the lead's answers that came with the part
                lead = part_db.execute("SELECT id FROM comparisons WHERE is_gold = 0 AND id NOT IN"
                                       " (SELECT comparison_id FROM undone) ORDER BY rowid LIMIT 1").fetchone()
                if lead:
                    undo_comparison(part_db, lead[0])
            expected |= comparisons(part_db)
    # an undone comparison appears twice in `expected` (before and after its undo): keep the undone version
    undone = {row[0] for row in expected if row[-1]}
    expected = {row for row in expected if row[-1] or row[0] not in undone}
    results = []
    for order in itertools.permutations(report.files):
        target = tmp_path / f"merged-{'-'.join(p.stem[-5:] for p in order)}.ageproj"
        shutil.copyfile(blank, target)
        with closing(open_project(target)) as merged:
            for path in order:
                with closing(open_project(path, read_only=True)) as part_db:
                    merge_projects(merged, part_db)
            assert comparisons(merged) == expected
            for path in order:  # again: nothing changes
                with closing(open_project(path, read_only=True)) as part_db:
                    again = merge_projects(merged, part_db)
                assert (again.added, again.undos_added) == (0, 0)
            assert comparisons(merged) == expected
            results.append(posteriors(merged))
    assert all(result == results[0] for result in results)
    for path in reversed(report.files):  # into the lead's own project too
        with closing(open_project(path, read_only=True)) as part_db:
            merge_projects(db, part_db)
    assert comparisons(db) == expected


def test_split_refuses_existing_parts_and_a_project_without_queries_and_a_stop_leaves_nothing(tmp_path):
    db, *_ = make_project(tmp_path / "p.ageproj", references=5, queries=30)
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "p-part2of2.ageproj").write_text("earlier")
    with pytest.raises(SplitError, match="already exists"):
        split_project(db, db.path, tmp_path / "team", parts=2)
    calls = []
    stopped = split_project(db, db.path, tmp_path / "other", parts=3, should_stop=lambda: len(calls) > 1,
                            on_progress=lambda *args: calls.append(args))
    assert stopped.cancelled and stopped.files == [] and not (tmp_path / "other").exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # nor its hidden folder
    assert get_setting(db, "team_split") is None
    empty, *_ = make_project(tmp_path / "e.ageproj", references=5, queries=0)
    with pytest.raises(SplitError, match="no queries"):
        split_project(empty, empty.path, tmp_path / "none", parts=2)


def test_agreement_on_a_hand_made_pair_of_projects(tmp_path):
    """A and B label copies of one project; merged, on the three queries both answered: q1 the same answers (modes
    25 and 25), q2 far apart (21 and 61), q3 close (40 and 44). Each set of answers is symmetric about its centre,
    so each posterior's mode is that centre; 6 answers give intervals far narrower than 40 years and wider than
    4, so the intervals intersect on q1 and q3, not on q2: 2/3, and the mean |mode difference| is 44/3."""
    db, refs, query_ids, _ = make_project(tmp_path / "p.ageproj", references=71, queries=4)
    save_labelling_settings(db, LabellingSettings(Protocol("paper", comparisons=6), gold_rate=0.0))
    db.close()
    references = dict(zip(range(71), refs))
    q1, q2, q3, q4 = query_ids
    for name, centres in (("A", (25, 21, 40)), ("B", (25, 61, 44))):
        copy = copy_project(tmp_path / "p.ageproj", tmp_path / f"{name}.ageproj")
        with closing(open_project(copy)) as own:
            for query, centre in zip((q1, q2, q3), centres):
                answer(own, name, query, centre, references)
            if name == "B":
                answer(own, "B", q4, 30, references, count=2)  # started, not finished (paper: 6)
    with closing(open_project(tmp_path / "p.ageproj")) as lead:
        for name in ("A", "B"):
            with closing(open_project(tmp_path / f"{name}.ageproj", read_only=True)) as own:
                merge_projects(lead, own)
        report = team_report(lead)
    pair = report.as_dict()["pairs"]
    assert pair == [{"first": "A", "second": "B", "queries": 3, "intersecting": 2,
                     "mean_mode_difference": round(44 / 3, 3), "share_intersecting": round(2 / 3, 3)}]
    progress = {p["name"]: (p["answers"], p["queries"], p["finished"], p["part"])
                for p in report.as_dict()["labellers"]}
    assert progress == {"A": (18, 3, 3, None), "B": (20, 4, 3, None)}
    assert "A & B: 3 queries in common, 90% intervals intersect on 67%, mean |mode difference| 14.7 years" \
        in report.summary()


def test_progress_is_a_share_of_each_labellers_part(tmp_path):
    db, refs, query_ids, _ = make_project(tmp_path / "p.ageproj", references=71, queries=40)
    save_labelling_settings(db, LabellingSettings(Protocol("paper", comparisons=6), gold_rate=0.0))
    references = dict(zip(range(71), refs))
    report = split_project(db, db.path, tmp_path / "team", parts=2, overlap=0.3, seed="fixed")
    done = {}
    for index, path in enumerate(report.files):
        with closing(open_project(path)) as part_db:
            mine = [row[0] for row in part_db.execute("SELECT id FROM images WHERE role = 'query' ORDER BY id")]
            done[index] = 3 + index
            for query in mine[: done[index]]:
                answer(part_db, f"L{index + 1}", query, 30, references)
            own = team_report(part_db).as_dict()  # a part's own statistics: its labeller on its share
            assert (own["part"], own["labellers"][0]["assigned"], own["labellers"][0]["finished"]) == (
                index + 1, len(mine), done[index])
        merge_projects(db, open_project(path, read_only=True))
    labellers = {p["name"]: p for p in team_report(db).as_dict()["labellers"]}
    for index in (0, 1):
        p = labellers[f"L{index + 1}"]
        assert (p["part"], p["assigned"], p["finished"]) == (index + 1, report.queries[index], done[index])
        assert p["share_finished"] == round(done[index] / report.queries[index], 3)
