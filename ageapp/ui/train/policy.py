"""When a training run may start, and with what: the states a run goes through on the page, why Start is
disabled (in words the user can act on), the face detector for folders added under "Also train on", and runs
that an app killed mid-run left marked 'running'.

No widgets here: the page asks and shows the answers.
"""

from __future__ import annotations

from pathlib import Path

from ageapp.training_extra import training_missing
from ageapp.ui.train.choices import TrainChoices
from trainer import runs as training_runs

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"


def start_problem(db, choices: TrainChoices, labelled: dict) -> str:
    """Why Start is disabled ('' when it is not). labelled: store.training_data.count_labelled of the project."""
    missing = training_missing()  # no torch: the light bundle, or a source install without the training extra
    if missing:
        return missing
    if db is None:
        return "Open a project to train: runs and their models are recorded in the project."
    if getattr(db, "read_only", False):
        return "This project is open read-only, so a run could not be recorded: reopen it writable to train."
    if not choices.sources(db.path):
        return "Choose the data: this project's labelled faces, or another project or folder."
    if choices.use_project and not choices.extra_sources and labelled.get("total", 0) == 0:
        return ("This project has no labelled faces yet: import references with known ages or label some "
                "queries, or add another labelled folder.")
    return ""


def training_detector(db) -> str | None:
    """The detector for folders trained on, as ageapp.model's resolver picks it: the project's own, else the YuNet
    file chosen in the preferences, else $AGEAPP_DETECTOR (None: the Haar cascade)."""
    from ageapp.ui.shell.preferences import detector_file

    return detector_file(db)


def mark_interrupted_runs(db, running_project: Path | None) -> None:
    """Runs left 'running' by an app that was killed: failed, with what to do. running_project: the project
    of the run this app has going (its runs are left alone), else None."""
    if getattr(db, "read_only", False):
        return
    if running_project is not None and running_project == Path(db.path).resolve():
        return  # this project's own run is going
    training_runs.mark_interrupted_runs(db)
