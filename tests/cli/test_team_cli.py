"""`ageapp split`, then `ageapp merge` of the parts and `ageapp stats`: the labellers and their agreement."""

from __future__ import annotations

from contextlib import closing

from ageapp.annotation.session import recompute_posterior
from ageapp.store.annotators import annotator_id_for
from ageapp.store.comparisons import record_comparison
from ageapp.store.db import open_project
from tests.cli.test_project_cli import run
from tests.factories import make_project


def test_split_merge_and_stats_from_the_command_line(tmp_path, capsys):
    project = tmp_path / "lead.ageproj"
    db, refs, _, _ = make_project(project, references=71, queries=50)
    db.close()
    status, payload, out, _ = run(capsys, "split", project, "--parts", 2, "--overlap", 0.3, "--out", tmp_path / "team")
    assert status == 0 and payload["parts"] == 2 and payload["overlap"] == 0.3
    assert sum(payload["queries"]) == 50 + payload["overlap_queries"] and "any order, idempotent" in out
    parts = [tmp_path / "team" / f"lead-part{k}of2.ageproj" for k in (1, 2)]
    assert payload["files"] == [str(path) for path in parts]
    shares = []
    for path in parts:
        with closing(open_project(path, read_only=True)) as part:
            shares.append({row[0] for row in part.execute("SELECT id FROM images WHERE role = 'query'")})
    for index, path in enumerate(parts):
        with closing(open_project(path)) as part:
            annotator = annotator_id_for(part, f"L{index}")
            own = sorted(shares[index] - shares[1 - index])  # an overlap query would not tell whose part it is
            for query in own[:3]:
                record_comparison(part, query_image_id=query, reference_image_id=refs[30], answer="older",
                                  annotator_id=annotator)
                recompute_posterior(part, query, 70)
    for path in parts + parts:  # twice: the second time adds nothing
        status, merged, _, _ = run(capsys, "merge", project, path)
        assert status == 0
    assert (merged["added"], merged["already_present"]) == (0, 3)
    status, stats, out, _ = run(capsys, "stats", project)
    assert status == 0 and stats["comparisons"] == 6
    assert [(p["name"], p["answers"], p["part"]) for p in stats["team"]["labellers"]] == [("L0", 3, 1), ("L1", 3, 2)]
    assert stats["team"]["split"]["parts"] == 2 and "L0: 3 answers, 3 queries answered" in out

    status, payload, _, _ = run(capsys, "split", project, "--parts", 1, "--out", tmp_path / "one")
    assert status == 1 and "at least 2 parts" in payload["error"] and not (tmp_path / "one").exists()
    status, payload, _, _ = run(capsys, "split", project, "--parts", 2, "--out", tmp_path / "team")
    assert status == 1 and "already exists" in payload["error"]
