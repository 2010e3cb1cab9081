"""`ageapp split` and `ageapp merge` with hostile numbers, interruptions and hand-edited parts: no empty part, the
overlap asked for is the overlap given, a killed split leaves nothing in the folder and runs again, a part merged
twice says so, and a part edited by hand or damaged is refused (nothing merged) or its conflicts reported."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.session import AnnotationSession
from ageapp.annotation.team import TeamSplit, assign_queries, recorded_split
from ageapp.store.backup import copy_project
from ageapp.store.db import open_project
from tests.factories import make_project


def _run(capsys, *argv) -> tuple[int, dict, str]:
    code = ageapp_main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.out


def _project(tmp_path: Path, queries: int, references: int = 20) -> Path:
    path = tmp_path / "lead.ageproj"
    make_project(path, references=references, queries=queries)[0].close()
    return path


def _with_image_files(project: Path, references: int, queries: int) -> None:
    """The synthetic images' files, so that `ageapp check` finds them."""
    for role, count in (("ref", references), ("query", queries)):
        (project.parent / role).mkdir(exist_ok=True)
        for index in range(count):
            (project.parent / role / f"{index}.jpg").write_bytes(b"")


# ----------------------------------------------------------------------------------------------------- split
@pytest.mark.parametrize("parts", [300, 10_000])
def test_more_parts_than_queries_is_refused_before_anything_is_written(tmp_path, capsys, parts):
    project = _project(tmp_path, queries=24)
    code, payload, _ = _run(capsys, "split", project, "--parts", parts, "--out", tmp_path / "team")
    assert code == 1
    # 24 queries, 5% overlap: round(1.2) = 1 query in two parts, 23 to share out one or more each
    assert f"{parts} parts for 24 queries (1 of them in two parts" in payload["error"]
    assert "ask for at most 23 parts" in payload["error"]
    assert not (tmp_path / "team").exists() and [p.name for p in tmp_path.iterdir()] == ["lead.ageproj"]


def test_as_many_parts_as_queries_of_their_own_leaves_no_part_empty(tmp_path, capsys):
    project = _project(tmp_path, queries=24)
    code, payload, _ = _run(capsys, "split", project, "--parts", 20, "--overlap", 0, "--out", tmp_path / "team")
    assert code == 0 and len(payload["files"]) == 20
    assert sorted(payload["queries"]) == [1] * 16 + [2] * 4  # 24 over 20: shares differ by one at most
    for path in payload["files"]:
        with closing(open_project(path, read_only=True)) as part:
            assert part.execute("SELECT count(*) FROM images WHERE role = 'query'").fetchone()[0] >= 1


@pytest.mark.parametrize("queries, overlap, expected", [(150, 0.1, 15), (150, 0.05, 8), (240, 0.2, 48), (7, 0.5, 4)])
def test_the_overlap_given_is_the_overlap_asked(tmp_path, capsys, queries, overlap, expected):
    project = _project(tmp_path, queries=queries, references=4)
    code, payload, out = _run(capsys, "split", project, "--parts", 3, "--overlap", overlap, "--out", tmp_path / "t")
    assert code == 0 and payload["overlap_queries"] == expected == round(overlap * queries)
    assert f"{expected} queries ({expected / queries:.1%}; {overlap:.1%} asked) are in two parts" in out
    assert sum(payload["queries"]) == queries + expected
    own = [count for count in payload["queries"]]  # each part: its own share and its overlap queries
    assert max(own) - min(own) <= 1 + expected  # own shares differ by one at most; overlap spread over pairs
    with closing(open_project(project, read_only=True)) as db:  # the record gives the same assignment again
        split, _ = recorded_split(db)
        assert [len(share) for share in assign_queries(db, split)] == payload["queries"]


def test_a_recorded_split_assigns_a_query_added_later_like_any_other(tmp_path):
    """The cuts are recorded: a query's part follows from its hash, the seed and the cuts, not the others."""
    hashes = [f"{i:040x}" for i in range(200)]
    split = TeamSplit.fitted("x", 4, 0.1, "seed", hashes)
    again = TeamSplit.from_setting(json.loads(json.dumps(split.as_setting())))
    assert again == split
    assert [split.parts_of(h) for h in hashes] == [again.parts_of(h) for h in hashes]
    assert sum(len(split.parts_of(h)) == 2 for h in hashes) == 20
    own = [split.parts_of(h)[0] for h in hashes if len(split.parts_of(h)) == 1]
    assert sorted(own.count(part) for part in range(4)) == [45, 45, 45, 45]
    old = TeamSplit.from_setting({"id": "x", "parts": 4, "overlap": 0.1, "seed": "seed"})  # before cuts
    assert old.overlap_cut is None and old.parts_of(hashes[0]) == TeamSplit("x", 4, 0.1, "seed").parts_of(hashes[0])


HELD_SPLIT = """
import sys, time
from ageapp.__main__ import main
from ageapp.annotation import team
write = team.write_subset
written = []
def write_and_hold(*args, **kwargs):
    done = write(*args, **kwargs)
    written.append(done)
    print("part", flush=True)
    if len(written) == 2:
        time.sleep(120)
    return done
team.write_subset = write_and_hold
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM / SIGKILL are POSIX")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("out_exists", [False, True])
def test_a_split_killed_midway_leaves_no_part_and_runs_again(tmp_path, capsys, how, out_exists):
    project = _project(tmp_path, queries=60)
    out = tmp_path / "team"
    if out_exists:
        out.mkdir()
        (out / "notes.txt").write_text("the labellers' addresses")
    command = [sys.executable, "-c", HELD_SPLIT, "split", str(project), "--parts", "4", "--out", str(out)]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert [worker.stdout.readline().strip() for _ in range(2)] == ["part", "part"]
    worker.send_signal(how)
    worker.wait()
    worker.stdout.close()
    assert worker.returncode != 0
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == (["notes.txt"] if out_exists else [])  # no part in the folder
    code, payload, _ = _run(capsys, "split", project, "--parts", 4, "--out", out)
    assert code == 0 and len(payload["files"]) == 4
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"lead-part{k}of4.ageproj" for k in (1, 2, 3, 4)] + (["notes.txt"] if out_exists else []))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the killed split's folder went too


# ----------------------------------------------------------------------------------------------------- merge
@pytest.fixture
def lead_and_part(tmp_path):
    """A lead project with 8 answers and a labeller's copy with 10 more (and the lead's 8)."""
    project = _project(tmp_path, queries=30)
    with open_project(project) as db:
        session = AnnotationSession(db, "lead", seed=0)
        for _ in range(8):
            session.answer(session.next_task(), "left", response_ms=1)
    _with_image_files(project, 20, 30)
    part = copy_project(project, tmp_path / "part.ageproj")
    with open_project(part) as db:
        session = AnnotationSession(db, "fay", seed=1)
        for _ in range(10):
            session.answer(session.next_task(), "right", response_ms=1)
    return project, part


def _count(project: Path) -> int:
    with closing(open_project(project, read_only=True)) as db:
        return db.execute("SELECT count(*) FROM comparisons").fetchone()[0]


def test_a_part_merged_twice_says_it_was_merged_already(lead_and_part, capsys):
    project, part = lead_and_part
    code, first, _ = _run(capsys, "merge", project, part)
    assert code == 0 and (first["added"], first["already_present"], first["merged_already"]) == (10, 8, False)
    code, second, out = _run(capsys, "merge", project, part)
    assert code == 0 and (second["added"], second["already_present"], second["merged_already"]) == (0, 18, True)
    assert "part.ageproj was merged already: all its 18 comparisons are in" in out and "nothing added" in out


def _hand_edit(part: Path, *statements: str) -> None:
    """What the sqlite3 shell does: no foreign keys, CHECK constraints ignored, triggers dropped if asked."""
    with closing(sqlite3.connect(part)) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        for statement in statements:
            conn.execute(statement)
        conn.commit()


@pytest.mark.parametrize("edit, expected", [
    (("DELETE FROM annotators WHERE name = 'fay'",),
     "10 comparisons name a labeller that is not in it (labeller ids 2)"),
    (("INSERT INTO comparisons (id, query_image_id, reference_image_id, answer, annotator_id) SELECT 'x-maybe', "
      "query_image_id, reference_image_id, 'maybe', annotator_id FROM comparisons LIMIT 1",),
     "1 comparisons have an answer this app does not know ('maybe'"),
])
def test_a_hand_edited_part_is_refused_and_nothing_is_merged(lead_and_part, capsys, edit, expected):
    project, part = lead_and_part
    _hand_edit(part, *edit)
    code, payload, _ = _run(capsys, "merge", project, part)
    assert code == 1 and expected in payload["error"]
    assert "edited by hand or is damaged, so nothing was merged" in payload["error"]
    assert _count(project) == 8


def test_the_repair_named_by_the_refusal_makes_the_part_mergeable(lead_and_part, capsys):
    project, part = lead_and_part
    _hand_edit(part, "DELETE FROM annotators WHERE name = 'fay'")
    code, payload, _ = _run(capsys, "merge", project, part)
    assert code == 1 and "`ageapp check part.ageproj --repair` restores" in payload["error"]
    code, repaired, _ = _run(capsys, "check", part, "--repair")
    assert code == 0, repaired
    code, merged, _ = _run(capsys, "merge", project, part)
    assert code == 0 and merged["added"] == 10 and _count(project) == 18


def test_a_part_with_a_zeroed_tail_is_refused_with_a_message(lead_and_part, capsys):
    project, part = lead_and_part
    with closing(sqlite3.connect(part)) as conn:  # the tail from the comparisons' first page on
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'comparisons'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(part.read_bytes())
    data[(page - 1) * size:] = bytes(len(data) - (page - 1) * size)
    part.write_bytes(bytes(data))
    code, payload, _ = _run(capsys, "merge", project, part)
    assert code == 1 and "damaged" in payload["error"] and "part.ageproj" in payload["error"]
    assert _count(project) == 8


def test_the_same_uuid_with_the_answer_flipped_is_reported_as_a_conflict(lead_and_part, capsys):
    project, part = lead_and_part
    with closing(open_project(project, read_only=True)) as db:
        flipped, answer = db.execute("SELECT id, answer FROM comparisons ORDER BY rowid LIMIT 1").fetchone()
    other = {"older": "younger", "younger": "older", "unsure": "older"}[answer]
    _hand_edit(part, "DROP TRIGGER comparisons_no_update",
               f"UPDATE comparisons SET answer = '{other}' WHERE id = '{flipped}'")
    code, payload, out = _run(capsys, "merge", project, part)
    assert code == 0 and payload["added"] == 10
    assert payload["conflicts"] == [{"id": flipped, "differs": {"answer": [answer, other]}}]
    assert "warning: 1 comparisons of part.ageproj have the same id as one here but another content (answer)" in out
    with closing(open_project(project, read_only=True)) as db:  # this project's answer is kept
        assert db.execute("SELECT answer FROM comparisons WHERE id = ?", [flipped]).fetchone()[0] == answer
