"""Filling a project from several folders as one task: one progress over every step, a stop that keeps what was
committed, a second run that adds nothing twice, and the references' range against the project's."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.project_import import ImportSource, RangeCheck, check_reference_range, import_sources
from ageapp.datasets.records import ScanError
from ageapp.store.db import open_project
from ageapp.store.settings import set_setting
from tests.data.test_importers import write_image


class HalfFemale:
    """P(female) 0.95 for every second crop it is given, else 0.05 (a model stand-in with a gender output)."""

    template = "chip"

    def __init__(self):
        self.seen = 0

    def predict_crops(self, crops):
        p = np.array([0.95 if (self.seen + i) % 2 else 0.05 for i in range(len(crops))])
        self.seen += len(crops)
        return np.zeros((len(crops), 101)), p


def chips(folder, names):
    for index, name in enumerate(names):
        write_image(folder / name, index + 100 * len(folder.name), size=48)
    return folder


@pytest.fixture
def sources(tmp_path):
    # UTKFace-named references (age and gender in the name) and unlabelled query photos, both face chips.
    references = chips(tmp_path / "refs", [f"{age}_{g}_0_20170109{age:04d}.jpg.chip.jpg"
                                           for age, g in [(1, 0), (15, 1), (40, 0), (66, 1)]])
    queries = chips(tmp_path / "queries", [f"q{i}.jpg" for i in range(6)])
    return [ImportSource(references, "reference", "utkface", aligned=True),
            ImportSource(queries, "query", "folder", aligned=True)]


def test_one_progress_covers_the_folders_and_the_genders_then_a_second_run_adds_nothing(tmp_path, sources):
    db = open_project(tmp_path / "p.ageproj", create=True)
    seen = []
    model = HalfFemale()
    report = import_sources(db, sources, load_model=lambda path: model, gender_model=tmp_path / "m.onnx",
                            on_progress=lambda done, total, step: seen.append((done, total, step)))
    assert (model.seen, report.genders["predicted"]) == (6, 6)  # the 6 queries had no gender label
    assert [r.report.imported for r in report.sources] == [4, 6] and report.as_dict()["imported"] == 10
    # 4 + 6 images, then 6 faces' genders: the total is exact from the start here (every unlabelled image
    # has one face), and it never goes backwards.
    assert seen[-1][:2] == (16, 16) and all(total == 16 for _, total, _ in seen[1:])
    dones = [done for done, _, _ in seen]
    assert dones == sorted(dones)
    steps = list(dict.fromkeys(step for _, _, step in seen))
    assert steps == ["reading the folders", "finding faces in refs (reference images)",
                     "finding faces in queries (query images)", "predicting genders"]
    assert report.range.as_dict()["youngest"] == 1 and report.range.oldest == 66
    assert "span 1-66 but the project's range is 0-100" in report.summary()

    again = import_sources(db, sources, load_model=lambda path: model, gender_model=tmp_path / "m.onnx")
    assert again.as_dict()["imported"] == 0 and again.as_dict()["skipped"] == 10 and again.genders is None
    assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 10


def test_a_stop_keeps_what_was_committed_and_the_next_run_imports_the_rest(tmp_path, sources):
    db = open_project(tmp_path / "p.ageproj", create=True)
    progress = []
    report = import_sources(db, sources, genders=False, workers=1,
                            on_progress=lambda done, total, step: progress.append(done),
                            should_stop=lambda: len(progress) > 3)
    assert report.interrupted and "cancelled: what was imported is kept" in report.summary()
    kept = db.execute("SELECT count(*) FROM images").fetchone()[0]
    assert 0 < kept < 10
    rest = import_sources(db, sources, genders=False)
    assert not rest.interrupted
    assert (rest.as_dict()["imported"], rest.as_dict()["skipped"]) == (10 - kept, kept)
    assert db.execute("SELECT count(*), count(DISTINCT sha1) FROM images").fetchone() == (10, 10)


def test_no_model_is_said_and_the_images_stay(tmp_path, sources, monkeypatch):
    import ageapp.annotation.gender as gender

    monkeypatch.setattr(gender, "gender_model_path", lambda db, explicit=None: None)
    db = open_project(tmp_path / "p.ageproj", create=True)
    report = import_sources(db, sources)
    assert report.genders is None and report.gender_notice.startswith("genders not predicted: no model")
    assert report.as_dict()["imported"] == 10 and not report.interrupted


def test_an_unreadable_folder_is_refused_before_anything_is_written(tmp_path, sources):
    db = open_project(tmp_path / "p.ageproj", create=True)
    with pytest.raises(ScanError, match="does not exist"):
        import_sources(db, sources + [ImportSource(tmp_path / "nowhere", "query")], genders=False)
    assert db.execute("SELECT count(*) FROM images").fetchone()[0] == 0


@pytest.mark.parametrize("span, spans, words", [
    ((12, 1, 70, 0), True, ""),  # within 2 years of both ends of 0-72
    ((12, 0, 69, 3), False, "3 references are older than 72"),
    ((12, 5, 72, 0), False, "span 5-72 but the project's range is 0-72: a query younger than 5 can only"),
    ((12, 0, 60, 0), False, "span 0-60 but the project's range is 0-72: a query older than 60 can only"),
    ((12, 5, 60, 0), False, "a query younger than 5 or older than 60 can only"),
    ((0, None, None, 0), False, "no references of known age"),
    ((4, None, None, 4), False, "all 4 references are older than the project's range 0-72"),
])
def test_the_range_check_in_words(span, spans, words):
    check = RangeCheck(72, *span)
    assert check.spans is spans and words in check.warning() and (check.warning() == "") is spans


def test_the_range_follows_the_project_setting(tmp_path, sources):
    db = open_project(tmp_path / "p.ageproj", create=True)
    import_sources(db, sources[:1], genders=False)
    set_setting(db, "age_max", 40)
    check = check_reference_range(db)
    assert (check.age_max, check.references, check.oldest, check.above_range) == (40, 4, 40, 1)
