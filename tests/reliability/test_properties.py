"""Property-based tests (hypothesis) for what tests/core does not already cover: the posterior with per-answer
betas and "can't tell" answers, and as the store holds it; the importers' row and table parsers on arbitrary
text (a parse or a reason, never an exception); the trainer's targets."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ageapp.core.posterior import QUERY_OLDER, QUERY_YOUNGER, posterior_from_comparisons, summarize
from ageapp.datasets import label_files, records
from ageapp.datasets.scan import scan
from ageapp.datasets.records import Labels, ScanError
from trainer.targets import age_range_target, exact_age_target, make_target, posterior_target

AGE_MAX = 80
answers = st.lists(
    st.tuples(st.integers(0, AGE_MAX), st.sampled_from([QUERY_OLDER, QUERY_YOUNGER, None]),
              st.floats(0.02, 4.0)),
    max_size=40,
)


def posterior(triples) -> np.ndarray:
    return posterior_from_comparisons([k for k, _, _ in triples], [c for _, c, _ in triples],
                                      [b for _, _, b in triples], AGE_MAX)


# ---------------------------------------------------------------------------------------------- posterior
@settings(max_examples=80, deadline=None)
@given(answers)
def test_posterior_is_a_distribution_for_any_betas_and_unsure_answers(triples):
    p = posterior(triples)
    assert p.shape == (AGE_MAX + 1,) and np.all(np.isfinite(p)) and np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(answers, st.randoms(use_true_random=False))
def test_posterior_does_not_depend_on_the_order_of_answers(triples, random):
    shuffled = list(triples)
    random.shuffle(shuffled)
    np.testing.assert_allclose(posterior(triples), posterior(shuffled), rtol=1e-9, atol=1e-300)


@settings(max_examples=80, deadline=None)
@given(answers, st.integers(0, AGE_MAX), st.floats(0.02, 4.0))
def test_one_more_answer_moves_the_mean_the_right_way_and_unsure_not_at_all(triples, reference, beta):
    mean = summarize(posterior(triples)).mean
    assert summarize(posterior(triples + [(reference, QUERY_OLDER, beta)])).mean >= mean - 1e-9
    assert summarize(posterior(triples + [(reference, QUERY_YOUNGER, beta)])).mean <= mean + 1e-9
    np.testing.assert_array_equal(posterior(triples + [(reference, None, beta)]), posterior(triples))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["older", "younger", "unsure"])), min_size=1,
                max_size=12), st.randoms(use_true_random=False))
def test_the_stored_posterior_is_the_same_whatever_the_order_answers_were_given(pairs, random):
    from ageapp.annotation.session import recompute_posterior
    from ageapp.store.annotators import annotator_id_for
    from ageapp.store.comparisons import record_comparison
    from ageapp.store.posteriors import load_posterior
    from tests.factories import make_project

    stored = []
    with tempfile.TemporaryDirectory() as folder:
        for order in (pairs, random.sample(pairs, len(pairs))):
            db, references, queries, _ = make_project(Path(folder) / f"p{len(stored)}.ageproj", references=4,
                                                      queries=1)
            annotator = annotator_id_for(db, "a")
            for reference, answer in order:
                record_comparison(db, query_image_id=queries[0], reference_image_id=references[reference],
                                  answer=answer, annotator_id=annotator)
            recompute_posterior(db, queries[0], 70)
            stored.append(load_posterior(db, queries[0]))
            db.close()
    first, second = stored
    np.testing.assert_allclose(first["probabilities"], second["probabilities"], rtol=0, atol=1e-7)
    assert first["n_comparisons"] == second["n_comparisons"] == len(pairs)
    assert first["probabilities"].sum() == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------------------------------------------------- importers
@settings(max_examples=300, deadline=None)
@given(st.text())
def test_an_age_is_read_or_refused_with_a_reason(text):
    age = records.age_or_reason(text)
    assert isinstance(age, str) or 0 <= age <= records.MAX_AGE


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["path", "age", "age_min", "age_max", "gender", "subject"]),
                       st.one_of(st.text(), st.none())),
       st.sets(st.sampled_from(["path", "age", "age_min", "age_max", "gender", "subject"])))
def test_a_csv_row_gives_labels_or_a_reason(row, columns):
    parsed = label_files._parse_csv_row(row, columns)
    assert isinstance(parsed, (Labels, str))
    if isinstance(parsed, Labels) and parsed.age_min is not None:
        assert parsed.age_min <= parsed.age_max


def _scan_text(name: str, text: str, fmt: str, extra: dict[str, str] | None = None):
    """Scan a folder holding one label file with this text; a result or a ScanError, nothing else."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for relative, content in {name: text, **(extra or {})}.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(content, encoding="utf-8", errors="surrogatepass")
        try:
            result = scan(root / name if fmt == "csv" else root, fmt)
        except ScanError as error:
            assert str(error)
            return None
    assert all(problem.reason for problem in result.problems)
    return result


csv_text = st.one_of(
    st.text(),
    st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12), max_size=5),
             max_size=6).map(lambda rows: "\n".join(",".join(row) for row in [["path", "age", "gender"], *rows])),
)


@settings(max_examples=150, deadline=None)
@given(csv_text)
def test_any_csv_is_read_or_refused_with_a_reason(text):
    _scan_text("labels.csv", text, "csv")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(max_size=10), min_size=5, max_size=6), max_size=6))
def test_any_adience_fold_is_read_or_refused_with_a_reason(rows):
    header = "\t".join(label_files.ADIENCE_COLUMNS)
    body = "\n".join("\t".join(value.replace("\t", " ") for value in row) for row in rows)
    _scan_text("fold_0_data.txt", f"{header}\n{body}\n", "adience")


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text())
def test_any_megaage_lists_are_read_or_refused_with_a_reason(names, ages):
    _scan_text("list/train_name.txt", names, "megaage", {"list/train_age.txt": ages})


def test_a_csv_field_beyond_the_csv_modules_limit_is_a_reason_not_a_crash(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("path,age\n" + "a" * 200_000 + ".jpg,31\nb.jpg,20\n")
    try:
        result = scan(path, "csv")
    except ScanError as error:
        assert "too long" in str(error)
    else:
        assert result.problems


# ---------------------------------------------------------------------------------------------- targets
@settings(max_examples=200, deadline=None)
@given(st.floats(-5, 130, allow_nan=False), st.integers(1, 120))
def test_an_exact_age_target_sums_to_one_with_its_mode_at_the_age(age, age_max):
    p = exact_age_target(age, age_max)
    assert p.shape == (age_max + 1,) and p.sum() == pytest.approx(1.0, abs=1e-12) and np.all(p >= 0)
    assert abs(int(np.argmax(p)) - min(max(age, 0), age_max)) <= 0.5


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_range_target_has_the_range_as_its_90_percent_interval(data):
    # Draw only ranges whose Gaussian tails (0.42 of the width beyond each end) lie inside the age grid.
    age_max = data.draw(st.integers(20, 120))
    width = data.draw(st.floats(0.5, age_max / 1.84 - 0.01))
    low = data.draw(st.floats(0.42 * width, age_max - 1.42 * width))
    high = low + width
    p = age_range_target(low, high, age_max)
    summary = summarize(p)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    # the interval holds whole ages: within a year of the range's ends, plus the grid's discretisation
    assert abs(summary.ci_low - low) <= 1.5 and abs(summary.ci_high - high) <= 1.5
    assert abs(summary.mode - (low + high) / 2) <= 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=150), st.integers(1, 120))
def test_a_posterior_target_is_renormalised_onto_the_age_grid(values, age_max):
    assume(sum(values) > 0)
    p = posterior_target(values, age_max)
    assert p.shape == (age_max + 1,) and p.sum() == pytest.approx(1.0, abs=1e-9) and np.all(p >= 0)
    np.testing.assert_allclose(make_target(age_max, age=3, posterior=values), p)  # a posterior wins
