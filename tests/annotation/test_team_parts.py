"""Which part of a team split a labeller is matched with (ageapp.annotation.agreement): the part their queries come
from; someone who answered across the whole project (the lead, before the split) has none, rather than the part
a scatter of their queries happens to fall in most ("Part 3, 0% of 50")."""

from __future__ import annotations

from contextlib import closing

from ageapp.annotation.agreement import team_report
from ageapp.annotation.exchange import merge_projects
from ageapp.annotation.team import assign_queries, split_project
from ageapp.store.db import open_project
from tests.annotation.test_team import answer
from tests.factories import make_project


def test_a_labeller_who_answered_across_the_project_has_no_part(tmp_path):
    db, refs, query_ids, _ = make_project(tmp_path / "lead.ageproj", references=71, queries=30)
    references = dict(zip(range(71), refs))
    report = split_project(db, db.path, tmp_path / "team", parts=3, overlap=0.0, seed="fixed")
    shares = assign_queries(db, report.split)
    # the lead answers one query of each part in the whole project: no part holds their queries
    for share in shares:
        answer(db, "lead", share[0], 30, references, count=2)
    # carol answers two queries in her part's file (the second part), and it is merged back
    with closing(open_project(report.files[1])) as part:
        for query in shares[1][:2]:
            answer(part, "carol", query, 40, references)
    with closing(open_project(report.files[1], read_only=True)) as part:
        merge_projects(db, part)
    progress = {p.name: p for p in team_report(db).labellers}
    assert (progress["carol"].part, progress["carol"].assigned) == (2, len(shares[1]))
    assert (progress["lead"].part, progress["lead"].assigned, progress["lead"].share_finished) == (None, None, None)
    db.close()
