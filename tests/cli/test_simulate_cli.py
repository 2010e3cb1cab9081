"""`ageapp simulate` on tiny generated folders (labels from the names; the files' content only tells duplicates
apart), and on the real data."""

from __future__ import annotations

import json

import pytest

from ageapp.__main__ import main

KEYS = {"policy", "seed", "n_queries", "n_above_range", "median_ci_width", "frac_ci_below_8", "frac_flagged",
        "frac_beyond", "coverage90", "mae_mode", "mean_comparisons", "elapsed_s"}


def touch(path):
    path.write_bytes(path.name.encode())  # distinct content per file: no two are duplicates


@pytest.fixture
def folders(tmp_path):
    references = tmp_path / "fgnet"
    queries = tmp_path / "utkface"
    references.mkdir()
    queries.mkdir()
    for i, age in enumerate(range(0, 70, 3)):  # 24 references aged 0..69
        touch(references / f"{i:03d}A{age:02d}.JPG")
    touch(references / "README.txt")
    for i, age in enumerate(range(1, 70, 4)):  # 18 queries aged 1..69
        touch(queries / f"{age}_{i % 2}_0_2017011617452{i:04d}.jpg.chip.jpg")
    touch(queries / "85_0_0_20170116174525125.jpg.chip.jpg")  # older than every reference
    (queries / "85_0_0_20170116174525126.jpg.chip.jpg").write_bytes(b"85_0_0_20170116174525125.jpg.chip.jpg")
    touch(queries / "broken_name.jpg")
    return references, queries


def simulate(capsys, *args):
    status = main(["simulate", *args])
    lines = capsys.readouterr().out.strip().splitlines()
    return status, lines[:-1], json.loads(lines[-1])


def test_paper_and_active_on_the_same_queries(folders, capsys):
    references, queries = folders
    common = ["--references", str(references), "--queries", str(queries), "--comparisons", "6", "--seed", "1"]
    status, summary, paper = simulate(capsys, *common, "--policy", "paper")
    assert status == 0 and KEYS <= set(paper)
    assert paper["policy"] == "paper" and paper["seed"] == 1
    # every query kept (the 85-year-old too: the range is 0-100), the duplicate and the unreadable name counted
    assert paper["n_queries"] == 19 and paper["n_above_range"] == 0
    assert paper["mean_comparisons"] == 6.0
    assert any("1 unreadable" in line and "1 duplicates" in line for line in summary)
    status, _, active = simulate(capsys, *common, "--policy", "active")
    assert status == 0 and active["n_queries"] == 19
    assert active["mean_comparisons"] <= 6.0
    assert active["frac_beyond"] >= 1 / 19  # the 85-year-old (and those near 69) lie beyond the references
    _, _, narrow = simulate(capsys, *common, "--policy", "active", "--age-max", "70")
    assert narrow["n_queries"] == 19 and narrow["n_above_range"] == 1


def test_same_seed_same_numbers(folders, capsys):
    references, queries = folders
    args = ["--references", str(references), "--queries", str(queries), "--policy", "active", "--seed", "3"]
    _, _, first = simulate(capsys, *args)
    _, _, second = simulate(capsys, *args)
    first.pop("elapsed_s"), second.pop("elapsed_s")
    assert first == second


def test_options_reach_the_protocol(folders, capsys):
    references, queries = folders
    base = ["--references", str(references), "--queries", str(queries), "--policy", "active"]
    _, _, capped = simulate(capsys, *base, "--max-comparisons", "2", "--comparisons", "9")
    assert capped["mean_comparisons"] == 2.0  # --max-comparisons wins over --comparisons
    _, _, limited = simulate(capsys, *base, "--limit-queries", "5", "--age-max", "60")
    assert limited["n_queries"] == 5
    _, _, loose = simulate(capsys, *base, "--target-width", "95")
    # The uniform prior's interval over 0-100 (90 years) already meets it, but every query gets at least one
    # comparison: a label is never the prior alone.
    assert loose["mean_comparisons"] == 1.0


def test_user_errors_exit_1_with_a_json_error(folders, tmp_path, capsys):
    references, _ = folders
    status, _, payload = simulate(capsys, "--references", str(references), "--queries", str(tmp_path / "missing"), "--policy", "paper")
    assert status == 1 and "does not exist" in payload["error"]
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, payload = simulate(capsys, "--references", str(empty), "--queries", str(references), "--policy", "paper")
    assert status == 1 and "FG-NET" in payload["error"]
    status, _, payload = simulate(capsys, "--references", str(references), "--queries", str(references), "--policy", "paper", "--comparisons", "0")
    assert status == 1 and "--comparisons" in payload["error"]


@pytest.mark.shared
@pytest.mark.slow
def test_acceptance_on_fgnet_references_and_utkface_queries(fgnet_images, utkface_images, capsys):
    common = ["--references", str(fgnet_images), "--queries", str(utkface_images), "--comparisons", "6", "--seed", "0"]
    _, _, paper = simulate(capsys, *common, "--policy", "paper")
    _, _, active = simulate(capsys, *common, "--policy", "active")
    assert paper["n_queries"] == active["n_queries"] > 15_000
    assert active["median_ci_width"] < paper["median_ci_width"]
    assert active["mae_mode"] < paper["mae_mode"]  # (speed is measured in the README's benchmarks, not asserted)


def test_the_model_prior_with_a_synthetic_model_whose_posterior_is_known(folders, capsys, monkeypatch):
    import numpy as np

    from ageapp.cli import simulate_prior
    from ageapp.core.names import parse_name

    references, queries = folders
    seen = {}

    def synthetic_model(args, paths, aligned):
        """A model sure of each face's true age (read from its name), over 0..100."""
        seen.update(aligned=aligned, count=len(paths), model=args.model)
        posteriors = np.full((len(paths), 101), 1e-12)
        for row, path in enumerate(paths):
            posteriors[row, min(parse_name(path.name, "utkface").age, 100)] = 1.0
        return posteriors, 0, "synthetic.onnx"

    monkeypatch.setattr(simulate_prior, "run_model", synthetic_model)
    base = ["--references", str(references), "--queries", str(queries), "--policy", "active", "--seed", "2"]
    status, lines, payload = simulate(capsys, *base, "--prior", "model", "--model", "x.onnx", "--prior-power", "1")
    assert status == 0 and seen == {"aligned": True, "count": 19, "model": "x.onnx"}
    assert set(payload) >= KEYS | {"prior", "prior_power", "prior_coverage90"}
    assert payload["prior"] == "model" and payload["prior_power"] == 1.0 and payload["prior_model"] == "synthetic.onnx"
    assert payload["prior_coverage90"] == 1.0  # the synthetic model's intervals hold every true age
    assert payload["mean_comparisons"] == 1.0  # sure enough alone: the one comparison every face gets
    assert payload["coverage90"] == 1.0 and payload["mae_mode"] == 0.0
    assert any("synthetic.onnx to the power 1" in line for line in lines)
    _, _, zero = simulate(capsys, *base, "--prior", "model", "--prior-power", "0")
    _, _, uniform = simulate(capsys, *base)
    assert zero["mean_comparisons"] == uniform["mean_comparisons"] and zero["coverage90"] == uniform["coverage90"]
    assert uniform["prior"] == "uniform" and "prior_coverage90" not in uniform


@pytest.mark.parametrize("extra, message", [
    (["--prior-power", "0.5"], "go with --prior model"),
    (["--prior", "model", "--prior-power", "1.5"], "between 0 and 1"),
])
def test_prior_options_are_checked(folders, capsys, extra, message):
    references, queries = folders
    status, _, payload = simulate(capsys, "--references", str(references), "--queries", str(queries),
                                  "--policy", "active", *extra)
    assert status == 1 and message in payload["error"]
