"""The project schema as numbered migrations.

`PRAGMA user_version` holds the number of the last migration applied. Each migration runs in its own
transaction together with the version bump, so a crash leaves the file at the previous version, never half
way. A migration, once released, is never edited: a change to the schema is a new numbered migration.

Conventions the tables follow:
- images: `age` is set only for an exact known age, and then age_min = age_max = age; a range (Adience
  "(25, 32)") sets age_min/age_max alone. So "has a known age" is `age_min IS NOT NULL`. gender 0 male, 1 female.
- comparisons are append-only facts (triggers refuse UPDATE and DELETE). An undo is a row in `undone`
  naming the comparison's UUID (also append-only); store.comparisons.active_comparisons leaves those out.
  `answer` says whether the QUERY is older or younger than the reference. A gold comparison (is_gold = 1)
  pits two references: `second_reference_image_id` is shown in the query's place and the answer is about it;
  it has no query_image_id.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

# "AGEP": marks the SQLite file as an ageapp project (PRAGMA application_id).
APPLICATION_ID = 0x41474550

NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

INITIAL_SCHEMA = f"""
CREATE TABLE roots (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    root_id INTEGER NOT NULL REFERENCES roots(id),
    relative_path TEXT NOT NULL,
    sha1 TEXT NOT NULL UNIQUE,
    size_bytes INTEGER NOT NULL CHECK (size_bytes > 0),
    width INTEGER,
    height INTEGER,
    source_format TEXT NOT NULL,
    subject TEXT,
    gender INTEGER CHECK (gender IN (0, 1)),
    role TEXT NOT NULL CHECK (role IN ('reference', 'query')),
    age REAL CHECK (age >= 0),
    age_min REAL CHECK (age_min >= 0),
    age_max REAL,
    imported TEXT NOT NULL DEFAULT {NOW},
    UNIQUE (root_id, relative_path),
    CHECK ((age_min IS NULL) = (age_max IS NULL)),
    CHECK (age_min <= age_max),
    CHECK (age IS NULL OR (age_min IS age AND age_max IS age))
);
CREATE INDEX images_by_role ON images(role);
CREATE INDEX images_by_subject ON images(subject);

CREATE TABLE faces (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    box_x REAL NOT NULL,
    box_y REAL NOT NULL,
    box_w REAL NOT NULL,
    box_h REAL NOT NULL,
    landmarks TEXT NOT NULL,
    score REAL,
    detector TEXT NOT NULL,
    crop BLOB NOT NULL,
    gender_predicted INTEGER CHECK (gender_predicted IN (0, 1)),
    gender_probability REAL CHECK (gender_probability BETWEEN 0 AND 1),
    created TEXT NOT NULL DEFAULT {NOW}
);
CREATE INDEX faces_by_image ON faces(image_id);

CREATE TABLE annotators (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    beta REAL NOT NULL DEFAULT 0.36 CHECK (beta > 0),
    created TEXT NOT NULL DEFAULT {NOW}
);

CREATE TABLE comparisons (
    id TEXT PRIMARY KEY,
    query_image_id INTEGER REFERENCES images(id),
    query_face_id INTEGER REFERENCES faces(id),
    reference_image_id INTEGER NOT NULL REFERENCES images(id),
    answer TEXT NOT NULL CHECK (answer IN ('older', 'younger', 'unsure')),
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    created TEXT NOT NULL DEFAULT {NOW},
    response_ms INTEGER CHECK (response_ms >= 0),
    query_side TEXT CHECK (query_side IN ('left', 'right')),
    is_gold INTEGER NOT NULL DEFAULT 0 CHECK (is_gold IN (0, 1)),
    second_reference_image_id INTEGER REFERENCES images(id),
    CHECK ((is_gold = 0 AND query_image_id IS NOT NULL AND second_reference_image_id IS NULL)
        OR (is_gold = 1 AND query_image_id IS NULL AND second_reference_image_id IS NOT NULL))
);
CREATE INDEX comparisons_by_query ON comparisons(query_image_id);
CREATE INDEX comparisons_by_annotator ON comparisons(annotator_id);

CREATE TABLE undone (
    comparison_id TEXT PRIMARY KEY REFERENCES comparisons(id),
    undone TEXT NOT NULL DEFAULT {NOW}
);

CREATE TRIGGER comparisons_no_update BEFORE UPDATE ON comparisons
BEGIN SELECT RAISE(ABORT, 'comparisons are append-only: record an undo instead of changing one'); END;
CREATE TRIGGER comparisons_no_delete BEFORE DELETE ON comparisons
BEGIN SELECT RAISE(ABORT, 'comparisons are append-only: record an undo instead of deleting one'); END;
CREATE TRIGGER undone_no_update BEFORE UPDATE ON undone
BEGIN SELECT RAISE(ABORT, 'undos are append-only: record a new comparison instead'); END;
CREATE TRIGGER undone_no_delete BEFORE DELETE ON undone
BEGIN SELECT RAISE(ABORT, 'undos are append-only: record a new comparison instead'); END;

CREATE TABLE posteriors (
    query_image_id INTEGER PRIMARY KEY REFERENCES images(id),
    age_max INTEGER NOT NULL CHECK (age_max > 0),
    probabilities BLOB NOT NULL,
    mode INTEGER NOT NULL,
    mean REAL NOT NULL,
    ci_low INTEGER NOT NULL,
    ci_high INTEGER NOT NULL,
    flagged INTEGER NOT NULL CHECK (flagged IN (0, 1)),
    n_comparisons INTEGER NOT NULL CHECK (n_comparisons >= 0),
    updated TEXT NOT NULL DEFAULT {NOW},
    CHECK (length(probabilities) = 4 * (age_max + 1))
);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    config TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'finished', 'failed', 'cancelled')),
    epochs TEXT NOT NULL DEFAULT '[]',
    checkpoint_path TEXT,
    evaluation TEXT,
    message TEXT,
    created TEXT NOT NULL DEFAULT {NOW},
    finished TEXT
);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checkpoint_path TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(id),
    active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    created TEXT NOT NULL DEFAULT {NOW}
);
CREATE UNIQUE INDEX models_one_active ON models(active) WHERE active = 1;

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
PRAGMA application_id = {APPLICATION_ID};
"""


def _initial_schema(db: sqlite_utils.Database) -> None:
    db.executescript(INITIAL_SCHEMA)


def _index_unfinished_posteriors(db: sqlite_utils.Database) -> None:
    """Indexes behind "the next query to resume" (store.progress.unfinished_condition), so it stays a
    lookup at MegaAge scale instead of a scan of every posterior: the paper protocol's test is a range of
    n_comparisons, the active protocol's a range of the 90% interval's width (n_comparisons rides along)."""
    db.execute("CREATE INDEX posteriors_by_comparisons ON posteriors(n_comparisons)")
    db.execute("CREATE INDEX posteriors_by_width ON posteriors(ci_high - ci_low, n_comparisons)")


GENDER_STUDY_REQUEUE = f"""
CREATE TABLE gender_corrections (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    gender INTEGER CHECK (gender IN (0, 1)),
    previous INTEGER CHECK (previous IN (0, 1)),
    previous_source TEXT NOT NULL CHECK (previous_source IN ('label', 'predicted', 'unknown')),
    annotator_id INTEGER REFERENCES annotators(id),
    created TEXT NOT NULL DEFAULT {NOW}
);
CREATE INDEX gender_corrections_by_image ON gender_corrections(image_id);

CREATE TABLE study_answers (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL,
    sitting TEXT NOT NULL,
    test TEXT NOT NULL CHECK (test IN ('guess', 'compare')),
    image_id INTEGER NOT NULL REFERENCES images(id),
    second_image_id INTEGER REFERENCES images(id),
    answer REAL NOT NULL,
    true_age REAL NOT NULL,
    second_true_age REAL,
    response_ms INTEGER CHECK (response_ms >= 0),
    created TEXT NOT NULL DEFAULT {NOW},
    CHECK ((test = 'guess' AND second_image_id IS NULL AND second_true_age IS NULL AND answer >= 0)
        OR (test = 'compare' AND second_image_id IS NOT NULL AND second_true_age IS NOT NULL
            AND answer IN (0, 1)))
);
CREATE INDEX study_answers_by_person ON study_answers(person, test);

CREATE TABLE requeued (
    query_image_id INTEGER PRIMARY KEY REFERENCES images(id),
    requeued TEXT NOT NULL DEFAULT {NOW},
    times INTEGER NOT NULL DEFAULT 1 CHECK (times >= 1),
    width_at INTEGER NOT NULL,
    comparisons_at INTEGER NOT NULL CHECK (comparisons_at >= 0),
    until_comparisons INTEGER NOT NULL CHECK (until_comparisons > comparisons_at),
    annotator_id INTEGER REFERENCES annotators(id)
);
"""


def _gender_study_requeue(db: sqlite_utils.Database) -> None:
    """Three small tables (the paper's protocol beyond the comparisons themselves):

    - gender_corrections: a labeller's correction of a face's gender (from the comparison panel or the
      queue). The correction itself is written to images.gender (a label from then on; NULL for "can't
      tell", which also clears the image's predicted gender); this table says who changed what, when.
      An image with a correction is never given a predicted gender again (annotation.gender).
    - study_answers: the user study (the paper's section 2.1). test 'guess': the person typed `answer` years
      for image_id (true_age); test 'compare': image_id was shown left and second_image_id right, `answer` 1
      when the left face was judged older, 0 when the right one was. `sitting` groups one run of the study.
    - requeued: flagged queries sent back for more comparisons (store.requeue). The session serves one
      while its 90% interval is wider than the outlier width and it has fewer than until_comparisons answers;
      `requeued` is when it was (last) sent back, `times` how often.
    """
    # One statement at a time: executescript would commit first, outside the migration's transaction.
    for statement in GENDER_STUDY_REQUEUE.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _face_templates(db: sqlite_utils.Database) -> None:
    """faces.template: the face template a crop was aligned to (ageapp.faces.alignment.TEMPLATES). Crops stored
    before templates had names used the face-verification one, "mfn"; `ageapp check --repair` re-crops them
    from their images with the current template, and readers convert them meanwhile."""
    db.execute("ALTER TABLE faces ADD COLUMN template TEXT NOT NULL DEFAULT 'mfn'")


def _beta_estimates_and_range(db: sqlite_utils.Database) -> None:
    """An annotator's β as an estimate (ageapp.core.beta_model): the sd of log β (the posterior integrates over
    it; 0.5 is the population's spread, for a labeller with no gold answers yet), β by the reference's age
    (JSON knots and values, NULL: one β), where it comes from (default, gold pairs, study), how many answers,
    and its 95% interval. A posterior's "beyond the references" state: the side (+1 older than every reference
    the query can be shown, -1 younger), that reference's age and the posterior's mass beyond it. And the age
    range: projects made before the default became 0-100 keep the 0-70 their posteriors were computed on."""
    for statement in (
        "ALTER TABLE annotators ADD COLUMN beta_log_sd REAL NOT NULL DEFAULT 0.5 CHECK (beta_log_sd >= 0)",
        "ALTER TABLE annotators ADD COLUMN beta_curve TEXT",
        "ALTER TABLE annotators ADD COLUMN beta_source TEXT NOT NULL DEFAULT 'default'",
        "ALTER TABLE annotators ADD COLUMN beta_n INTEGER NOT NULL DEFAULT 0 CHECK (beta_n >= 0)",
        "ALTER TABLE annotators ADD COLUMN beta_low REAL",
        "ALTER TABLE annotators ADD COLUMN beta_high REAL",
        "ALTER TABLE posteriors ADD COLUMN beyond INTEGER NOT NULL DEFAULT 0 CHECK (beyond IN (-1, 0, 1))",
        "ALTER TABLE posteriors ADD COLUMN beyond_age INTEGER",
        "ALTER TABLE posteriors ADD COLUMN beyond_mass REAL NOT NULL DEFAULT 0",
    ):
        db.execute(statement)
    has_images = db.execute("SELECT 1 FROM images LIMIT 1").fetchone() is not None
    has_range = db.execute("SELECT 1 FROM settings WHERE key = 'age_max'").fetchone() is not None
    if has_images and not has_range:
        db.execute("INSERT INTO settings (key, value) VALUES ('age_max', '70')")


def _model_priors(db: sqlite_utils.Database) -> None:
    """The model as the prior (ageapp.core.prior): `model_priors` keeps the age model's posterior for a query's
    face (float32 over 0..age_max, the model's range; `model` names the model), computed once when the query is
    first served under the project's "model" prior (store.priors). A posterior says which prior it used
    (`prior`: 'uniform' or 'model NAME ^POWER') and keeps the likelihood-only posterior (`likelihood`, the same
    answers under the uniform prior; NULL when the prior was uniform: then it is `probabilities`)."""
    for statement in (
        f"CREATE TABLE model_priors (query_image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,"
        f" model TEXT NOT NULL, age_max INTEGER NOT NULL CHECK (age_max > 0), probabilities BLOB NOT NULL,"
        f" created TEXT NOT NULL DEFAULT {NOW}, CHECK (length(probabilities) = 4 * (age_max + 1)))",
        "ALTER TABLE posteriors ADD COLUMN prior TEXT NOT NULL DEFAULT 'uniform'",
        "ALTER TABLE posteriors ADD COLUMN likelihood BLOB",
    ):
        db.execute(statement)


# Position in this list + 1 is the migration's number (its user_version once applied).
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _initial_schema, _index_unfinished_posteriors, _gender_study_requeue, _face_templates,
    _beta_estimates_and_range, _model_priors,
]
CURRENT_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database, target: int | None = None) -> list[int]:
    """Apply the pending migrations up to `target` (default: the latest); return the numbers applied."""
    target = len(MIGRATIONS) if target is None else target
    current = db.execute("PRAGMA user_version").fetchone()[0]
    applied = []
    for number in range(current + 1, target + 1):
        with db.atomic():
            MIGRATIONS[number - 1](db)
            db.execute(f"PRAGMA user_version = {number}")
        applied.append(number)
    return applied
