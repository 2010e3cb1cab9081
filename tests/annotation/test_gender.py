"""Gender for same-gender references: predictions never replace labels, the reference choice honours labels and
confident predictions only, corrections are labels recorded with who and when."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.annotation.gender import (
    FEMALE,
    LABEL,
    MALE,
    PREDICTED,
    UNKNOWN,
    GenderInfo,
    GenderModelError,
    corrections_of,
    gender_counts,
    gender_info,
    next_gender,
    predict_genders,
    set_gender_label,
)
from ageapp.annotation.session import AnnotationSession
from ageapp.core.selection import GENDER_UNKNOWN, Protocol, next_reference
from ageapp.faces.alignment import decode_crop
from ageapp.store.annotators import annotator_id_for
from ageapp.store.faces import set_gender_prediction
from ageapp.store.settings import set_setting
from tests.factories import make_project


class BrightnessGenderModel:
    """Stands in for the network: P(female) from the crop's mean brightness (the factory's crops differ)."""

    age_max = 70

    def __init__(self, with_gender: bool = True):
        self.with_gender = with_gender
        self.calls = 0

    def p_female(self, crop) -> float:
        return float(np.clip(crop.mean() / 255.0, 0.0, 1.0))

    def predict_crops(self, crops):
        self.calls += 1
        posteriors = np.full((len(crops), self.age_max + 1), 1.0 / (self.age_max + 1))
        if not self.with_gender:
            return posteriors, None
        return posteriors, np.array([self.p_female(c) for c in crops])


def face_rows(db):
    return db.execute("SELECT faces.id, faces.image_id, faces.crop, faces.gender_predicted, faces.gender_probability,"
                      " images.gender FROM faces JOIN images ON images.id = faces.image_id ORDER BY faces.id").fetchall()


def test_prediction_fills_unlabelled_faces_and_never_touches_a_label(tmp_path):
    db, references, queries, _ = make_project(tmp_path / "p.ageproj", references=12, queries=6, query_genders=True)
    labelled_before = dict(db.execute("SELECT id, gender FROM images").fetchall())
    model = BrightnessGenderModel()
    progress = []
    report = predict_genders(db, model, batch_size=5, progress=lambda done, total: progress.append((done, total)))

    assert report.total == report.predicted == 12  # the 12 references have no label; the 6 queries all do
    assert progress[0] == (0, 12) and progress[-1] == (12, 12) and len(progress) == 1 + 3  # batches of 5, 5, 2
    assert dict(db.execute("SELECT id, gender FROM images").fetchall()) == labelled_before  # labels untouched
    for face_id, image_id, crop, predicted, probability, labelled in face_rows(db):
        if labelled is not None:
            assert predicted is None and probability is None  # labelled faces get no prediction
            continue
        p = model.p_female(decode_crop(crop))
        assert predicted == int(p >= 0.5)
        assert probability == pytest.approx(max(p, 1 - p), abs=1e-6)
    assert report.female == sum(row[3] == 1 for row in face_rows(db))

    # only_missing: a second run has nothing to do and does not run the model.
    calls = model.calls
    again = predict_genders(db, model)
    assert (again.total, again.predicted, model.calls) == (0, 0, calls)
    # A label set after a prediction wins, and the next run (even predicting all again) leaves it alone.
    db.execute("UPDATE images SET gender = 0 WHERE id = ?", [references[0]])
    redo = predict_genders(db, model, only_missing=False)
    assert redo.total == 11
    assert db.execute("SELECT gender FROM images WHERE id = ?", [references[0]]).fetchone()[0] == 0
    assert gender_info(db, references[0]) == GenderInfo(LABEL, 0)


def test_prediction_stops_between_batches_and_keeps_what_was_done(tmp_path):
    db, *_ = make_project(tmp_path / "p.ageproj", references=10, queries=0)
    asked = []
    report = predict_genders(db, BrightnessGenderModel(), batch_size=4,
                             should_stop=lambda: asked.append(1) or len(asked) > 1)
    assert report.stopped and report.predicted == 4
    assert db.execute("SELECT count(*) FROM faces WHERE gender_predicted IS NOT NULL").fetchone()[0] == 4
    assert predict_genders(db, BrightnessGenderModel()).predicted == 6  # the rest, next time


def test_a_model_without_gender_output_is_refused_with_what_to_do(tmp_path):
    db, *_ = make_project(tmp_path / "p.ageproj", references=3, queries=0)
    with pytest.raises(GenderModelError, match="no gender output.*choose a model"):
        predict_genders(db, BrightnessGenderModel(with_gender=False))
    assert db.execute("SELECT count(*) FROM faces WHERE gender_predicted IS NOT NULL").fetchone()[0] == 0


def test_gender_info_sources_and_threshold(tmp_path):
    db, references, _, _ = make_project(tmp_path / "p.ageproj", references=4, queries=0)
    a, b, c, d = references
    db.execute("UPDATE images SET gender = 1 WHERE id = ?", [a])
    set_gender_prediction(db, _face(db, b), 0, 0.95)
    set_gender_prediction(db, _face(db, c), 1, 0.62)
    assert gender_info(db, a) == GenderInfo(LABEL, FEMALE)
    assert gender_info(db, b) == GenderInfo(PREDICTED, MALE, 0.95, True)
    assert gender_info(db, c) == GenderInfo(PREDICTED, FEMALE, 0.62, False)
    assert gender_info(db, d) == GenderInfo(UNKNOWN, None)
    assert [gender_info(db, i).effective for i in references] == [FEMALE, MALE, None, None]
    assert gender_info(db, c).describe() == "female? 62% (not used)" and gender_info(db, b).short() == "M 95%"
    assert gender_counts(db) == {"labelled": 1, "confident": 1, "unconfident": 1, "unknown": 1}
    set_setting(db, "gender_confidence", 0.6)
    assert gender_info(db, c).effective == FEMALE
    set_setting(db, "gender_confidence", "nonsense")  # a broken setting reads as the default 0.9
    assert gender_info(db, c).effective is None


def _face(db, image_id):
    return db.execute("SELECT id FROM faces WHERE image_id = ?", [image_id]).fetchone()[0]


def test_correction_key_cycle():
    assert next_gender(GenderInfo(PREDICTED, FEMALE, 0.97, True)) == MALE  # a wrong prediction: the other one
    assert next_gender(GenderInfo(PREDICTED, MALE, 0.6, False)) == FEMALE
    assert next_gender(GenderInfo(LABEL, MALE)) == FEMALE
    assert next_gender(GenderInfo(LABEL, FEMALE)) is None  # can't tell
    assert next_gender(GenderInfo(UNKNOWN, None)) == MALE


def test_correction_is_a_label_recorded_with_who_and_when(tmp_path):
    db, references, queries, _ = make_project(tmp_path / "p.ageproj", references=3, queries=2)
    query = queries[0]
    set_gender_prediction(db, _face(db, query), 1, 0.97)
    alice = annotator_id_for(db, "alice")
    assert set_gender_label(db, query, MALE, alice) == GenderInfo(LABEL, MALE)
    assert db.execute("SELECT gender FROM images WHERE id = ?", [query]).fetchone()[0] == MALE
    # The prediction is kept (the label wins over it); "can't tell" clears it, so the face is compared with both.
    assert gender_info(db, query) == GenderInfo(LABEL, MALE)
    set_gender_label(db, query, None, alice)
    assert gender_info(db, query) == GenderInfo(UNKNOWN, None)
    history = corrections_of(db, query)
    assert [(h["gender"], h["previous"], h["previous_source"], h["annotator"]) for h in history] == [
        (MALE, FEMALE, PREDICTED, "alice"), (None, MALE, LABEL, "alice")]
    assert all(h["created"].startswith("20") for h in history)
    # A corrected image is never predicted again, even with only_missing=False.
    report = predict_genders(db, BrightnessGenderModel(), only_missing=False)
    assert query not in [row[1] for row in face_rows(db) if row[3] is not None]
    assert report.total == 4  # the 3 references and the other query
    with pytest.raises(ValueError, match="gender must be"):
        set_gender_label(db, query, 2)


@pytest.fixture
def mixed_references(tmp_path):
    """References aged 0..39, by ten: labelled female, predicted female 95%, predicted female 60%, labelled
    male. Query 0 is labelled male, query 1 predicted female at 97%, query 2 predicted male at 70%."""
    db, references, queries, ages = make_project(tmp_path / "p.ageproj", references=40, queries=3)
    groups = {"labelled_female": references[:10], "confident_female": references[10:20],
              "unconfident_female": references[20:30], "labelled_male": references[30:]}
    with db.atomic():
        for image in groups["labelled_female"]:
            db.execute("UPDATE images SET gender = 1 WHERE id = ?", [image])
        for image in groups["labelled_male"]:
            db.execute("UPDATE images SET gender = 0 WHERE id = ?", [image])
        for image in groups["confident_female"]:
            set_gender_prediction(db, _face(db, image), 1, 0.95)
        for image in groups["unconfident_female"]:
            set_gender_prediction(db, _face(db, image), 1, 0.60)
        db.execute("UPDATE images SET gender = 0 WHERE id = ?", [queries[0]])
        set_gender_prediction(db, _face(db, queries[1]), 1, 0.97)
        set_gender_prediction(db, _face(db, queries[2]), 0, 0.70)
    return db, groups, queries


def test_reference_pool_counts_labels_and_confident_predictions_only(mixed_references):
    db, groups, queries = mixed_references
    session = AnnotationSession(db, "alice", Protocol("paper"), gold_rate=0.0, seed=0)
    genders = dict(zip(session.pool.ids.tolist(), session.pool.genders.tolist()))
    expected = {"labelled_female": 1, "confident_female": 1, "unconfident_female": GENDER_UNKNOWN, "labelled_male": 0}
    for group, gender in expected.items():
        assert {genders[i] for i in groups[group]} == {gender}, group
    assert [session.query_gender(q) for q in queries] == [MALE, FEMALE, None]


def test_reference_choice_honours_labelled_and_confident_genders(mixed_references):
    db, groups, queries = mixed_references
    session = AnnotationSession(db, "alice", Protocol("paper"), gold_rate=0.0, seed=0)
    rng = np.random.default_rng(0)

    def drawn(query):
        return {next_reference(Protocol("paper", comparisons=6), session.pool, [], session.query_gender(query), rng)
                for _ in range(400)}

    male_query, female_query, unsure_query = (drawn(q) for q in queries)
    # The labelled male query: labelled men, and the references whose prediction is too unsure to count.
    assert male_query == set(groups["labelled_male"]) | set(groups["unconfident_female"])
    # The confidently female query: labelled and confidently predicted women, and the unsure ones.
    assert female_query == set(groups["labelled_female"]) | set(groups["confident_female"]) | set(
        groups["unconfident_female"])
    # A query predicted at 70% counts as unknown: every reference may be shown.
    assert unsure_query == set().union(*groups.values())


def test_the_session_serves_same_gender_references_end_to_end(mixed_references):
    db, groups, queries = mixed_references
    session = AnnotationSession(db, "alice", Protocol("active", target_width=0, max_comparisons=15), gold_rate=0.0,
                                seed=3)
    female = set(groups["labelled_female"]) | set(groups["confident_female"])
    male = set(groups["labelled_male"])
    shown: dict[int, set] = {q: set() for q in queries}
    while (task := session.next_task()) is not None:
        shown[task.query_image_id].add(task.reference_image_id)
        session.answer(task, "left")
    assert shown[queries[0]] and not shown[queries[0]] & female
    assert shown[queries[1]] and not shown[queries[1]] & male
    assert shown[queries[2]] & (female | male)  # the unsure query is compared with both genders


def test_gender_confidence_setting_reaches_the_session(mixed_references):
    db, groups, queries = mixed_references
    set_setting(db, "gender_confidence", 0.55)
    session = AnnotationSession(db, "alice", Protocol("paper"), gold_rate=0.0)
    assert session.gender_confidence == 0.55
    genders = dict(zip(session.pool.ids.tolist(), session.pool.genders.tolist()))
    assert {genders[i] for i in groups["unconfident_female"]} == {1}
    assert session.query_gender(queries[2]) == MALE
    # An explicit threshold still wins over the setting.
    assert AnnotationSession(db, "alice", Protocol("paper"), gold_rate=0.0, gender_confidence=0.99).query_gender(
        queries[1]) is None


def test_a_corrected_reference_follows_in_the_running_session(mixed_references):
    db, groups, queries = mixed_references
    session = AnnotationSession(db, "alice", Protocol("paper"), gold_rate=0.0)
    reference = groups["confident_female"][0]
    set_gender_label(db, reference, MALE)
    session.gender_changed(reference)
    assert session.pool.genders[session.pool.ids == reference][0] == MALE
    predict_genders(db, BrightnessGenderModel(), only_missing=False)
    session.reload_references()
    assert session.pool.genders[session.pool.ids == reference][0] == MALE  # the correction survives


def test_the_queue_shows_each_querys_gender_and_sorts_by_it(tmp_path):
    from ageapp.annotation.queue import QueueFilter, QueueOrder, queue_row, queue_rows

    db, _, queries, _ = make_project(tmp_path / "p.ageproj", references=3, queries=6)
    unknown, predicted_male, labelled_male, predicted_female, labelled_female, unsure = queries
    db.execute("UPDATE images SET gender = 0 WHERE id = ?", [labelled_male])
    db.execute("UPDATE images SET gender = 1 WHERE id = ?", [labelled_female])
    set_gender_prediction(db, _face(db, predicted_male), 0, 0.93)
    set_gender_prediction(db, _face(db, predicted_female), 1, 0.91)
    set_gender_prediction(db, _face(db, unsure), 1, 0.55)
    protocol = Protocol("paper")
    rows = queue_rows(db, protocol, QueueFilter(), QueueOrder("gender"), limit=10)
    assert [r.query_image_id for r in rows] == [labelled_female, labelled_male, predicted_female, unsure,
                                                predicted_male, unknown]
    assert [r.gender.short() for r in rows] == ["F", "M", "F 91%", "F? 55%", "M 93%", "—"]
    descending = queue_rows(db, protocol, QueueFilter(), QueueOrder("gender", descending=True), limit=10)
    assert [r.query_image_id for r in descending] == [r.query_image_id for r in rows][::-1]
    assert queue_row(db, protocol, predicted_male).gender == GenderInfo(PREDICTED, MALE, 0.93, True)
