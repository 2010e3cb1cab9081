"""`ageapp --selftest`: checks that this installation (a bundle from `make package`, or the source tree) works.

Each step prints one line, `OK` or `FAIL`, its name, its time and what it found; the exit code is 0 only when
every step passed. Nothing here touches the user's own files: preferences, window settings and the test
project live in a temporary folder that is removed at the end.

Steps
- resources: the icon, the style sheet, the default model (and its card) in `resources/`.
- posterior: one "older" answer against a 30-year-old reference with beta 0.36 gives σ(0.36 (a − 30)),
  normalised over 0..70; compared with that formula written out here, term by term.
- project: create a project, add a reference (30) and a query, record one comparison, close, reopen; the
  comparison and its stored posterior (the same as the step above) are read back.
- window: Qt offscreen; the main window with all its pages is built, opens the project, and closes it.
- detector: OpenCV's Haar cascade loads (`cv2.data.haarcascades`) and runs on a generated face-like picture.
- model: the default model (or `--selftest-model PATH`) loads and estimates the generated picture's aligned
  crop: a distribution over ages 0..age_max and a P(female) in [0, 1]; the whole photo pipeline runs too.
- training: where torch is installed (the full bundle, a source install with the training extra), every training
  module imports and the torch checkpoint (`models/default.pt`, or a `--selftest-model` checkpoint) estimates the
  same crop through torch, matching its ONNX export beside it where there is one. Without torch (the light
  bundle) the step passes and says that this build does not train.

No Qt here: the window step sets QT_QPA_PLATFORM=offscreen, then calls ageapp/ui/shell/selftest_window.py.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REFERENCE_AGE = 30
BETA = 0.36
AGE_MAX = 70


class StepFailed(Exception):
    """A check that did not hold; the message says what was expected and what was found."""


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str


def expected_posterior_one_older(reference_age: int = REFERENCE_AGE, beta: float = BETA,
                                 age_max: int = AGE_MAX) -> list[float]:
    """σ(β (a − r)) for a = 0..age_max, normalised: the hand-checkable case, without numpy."""
    weights = [1.0 / (1.0 + math.exp(-beta * (age - reference_age))) for age in range(age_max + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def face_like_image(size: int = 360):
    """A grey picture with a face drawn on it (skin oval, eyes, brows, nose, mouth): a stand-in photo.
    A detector may or may not find a face in it; the model step does not depend on that."""
    import cv2
    import numpy as np

    image = np.full((size, size, 3), 200, np.uint8)
    centre = (size // 2, size // 2)
    cv2.ellipse(image, centre, (int(size * 0.28), int(size * 0.37)), 0, 0, 360, (140, 170, 215), -1)
    for side in (-1, 1):
        eye = (centre[0] + side * int(size * 0.11), centre[1] - int(size * 0.07))
        cv2.ellipse(image, eye, (int(size * 0.05), int(size * 0.025)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(image, eye, int(size * 0.018), (40, 30, 30), -1)
        brow = (eye[0] - int(size * 0.05), eye[1] - int(size * 0.05), eye[0] + int(size * 0.05), eye[1] - int(size * 0.04))
        cv2.rectangle(image, brow[:2], brow[2:], (50, 60, 80), -1)
    nose = np.array([[centre[0], centre[1] - 10], [centre[0] - 14, centre[1] + 40], [centre[0] + 14, centre[1] + 40]])
    cv2.fillConvexPoly(image, nose.astype(np.int32), (120, 145, 190))
    cv2.ellipse(image, (centre[0], centre[1] + int(size * 0.16)), (int(size * 0.09), int(size * 0.03)), 0, 0, 360,
                (90, 90, 170), -1)
    return cv2.GaussianBlur(image, (5, 5), 0)


def aligned_crop(image):
    """The picture's face region resized to the network's 112 x 96 (H x W) crop."""
    import cv2

    from ageapp.faces.alignment import CROP_HEIGHT, CROP_WIDTH

    size = image.shape[0]
    top, bottom = int(size * 0.1), int(size * 0.9)
    left, right = int(size * 0.16), int(size * 0.84)
    return cv2.resize(image[top:bottom, left:right], (CROP_WIDTH, CROP_HEIGHT), interpolation=cv2.INTER_AREA)


# Steps --------------------------------------------------------------------------------------------------------

def step_resources(model_path: Path | None) -> str:
    from ageapp.resources import DEFAULT_MODEL_CARD, resource_path

    missing = [relative for relative in ("icons/ageapp.png", "icons/ageapp.svg", "style.qss")
               if not resource_path(relative).is_file()]
    if missing:
        raise StepFailed(f"missing from {resource_path('')}: {', '.join(missing)} (rebuild with `make package`)")
    card = "model card present" if resource_path(DEFAULT_MODEL_CARD).is_file() else "no model card (models/default.md)"
    return f"icons and style in {resource_path('')}; {card}"


def step_posterior() -> str:
    from ageapp.core.posterior import QUERY_OLDER, posterior_from_comparisons

    computed = posterior_from_comparisons([REFERENCE_AGE], [QUERY_OLDER], BETA, AGE_MAX)
    expected = expected_posterior_one_older()
    if len(computed) != len(expected):
        raise StepFailed(f"{len(computed)} ages, expected {len(expected)} (0..{AGE_MAX})")
    error = max(abs(float(c) - e) for c, e in zip(computed, expected))
    if error > 1e-12:
        raise StepFailed(f"differs from σ({BETA}(a−{REFERENCE_AGE})) normalised by {error:.3g}")
    return f"P(a | older than {REFERENCE_AGE}) = normalised σ({BETA}(a−{REFERENCE_AGE})), max error {error:.1e}"


def make_test_project(path: Path) -> tuple[int, int]:
    """A project with one reference (age 30) and one query, one 'older' answer; returns (query, reference)."""
    import numpy as np

    from ageapp.annotation.session import recompute_posterior
    from ageapp.faces.alignment import CURRENT_TEMPLATE, encode_crop
    from ageapp.core.beta_model import AnnotatorModel
    from ageapp.store.annotators import annotator_id_for, save_annotator_model
    from ageapp.store.comparisons import record_comparison
    from ageapp.store.db import open_project
    from ageapp.store.faces import add_face
    from ageapp.store.images import add_image, root_id_for

    crop = encode_crop(aligned_crop(face_like_image()))
    with open_project(path, create=True) as db:
        root = root_id_for(db, path.parent)
        ids = {}
        for role, age in (("reference", float(REFERENCE_AGE)), ("query", None)):
            ids[role] = add_image(db, root_id=root, relative_path=f"{role}.jpg", sha1=f"selftest-{role}",
                                  size_bytes=1, source_format="selftest", role=role, age=age)
            add_face(db, ids[role], box=(0, 0, 96, 112), landmarks=np.zeros((5, 2)), score=1.0,
                     detector="selftest", crop=crop, template=CURRENT_TEMPLATE)
        annotator = annotator_id_for(db, "selftest")
        save_annotator_model(db, annotator, AnnotatorModel.known(BETA))  # the hand-checked formula's β, exactly
        record_comparison(db, query_image_id=ids["query"], reference_image_id=ids["reference"], answer="older",
                          annotator_id=annotator)
        recompute_posterior(db, ids["query"], AGE_MAX)
    return ids["query"], ids["reference"]


def step_project(folder: Path) -> str:
    from ageapp.store.comparisons import active_comparisons
    from ageapp.store.db import open_project
    from ageapp.store.posteriors import load_posterior

    path = folder / "selftest.ageproj"
    query, reference = make_test_project(path)
    with open_project(path) as db:  # reopened: what was committed is on disk
        rows = active_comparisons(db, query)
        stored = load_posterior(db, query)
    if [(row["reference_image_id"], row["answer"]) for row in rows] != [(reference, "older")]:
        raise StepFailed(f"reopened project holds {[(r['reference_image_id'], r['answer']) for r in rows]}, "
                         f"expected one 'older' answer against image {reference}")
    if stored is None:
        raise StepFailed("the query's posterior was not stored")
    error = max(abs(float(s) - e) for s, e in zip(stored["probabilities"], expected_posterior_one_older()))
    if error > 1e-6:  # stored as float32
        raise StepFailed(f"stored posterior differs from the expected one by {error:.3g}")
    return f"created, 1 comparison written, reopened and read back ({path.name}, posterior error {error:.1e})"


def step_window(folder: Path) -> str:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before QApplication
    from ageapp.ui.shell import selftest_window  # the Qt part lives in ageapp/ui

    project = folder / "selftest.ageproj"
    if not project.exists():
        make_test_project(project)
    try:
        return selftest_window.check_main_window(folder, project)
    except selftest_window.StepFailed as error:
        raise StepFailed(str(error)) from None


def step_detector() -> str:
    import cv2

    from ageapp.faces.detection import HaarDetector

    cascade = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    detector = HaarDetector("self-test")  # raises when the cascade is missing or empty
    found = detector.detect(face_like_image())
    return f"Haar cascade loaded from {cascade} ({len(found)} face(s) in the drawn picture)"


def step_model(model_path: Path | None) -> str:
    from ageapp.model import ModelFileError, choose_model, open_model
    from ageapp.model.resolve import DEFAULT_ONNX

    path = choose_model(model_path).path
    if not path.is_file():
        if model_path is None:
            raise StepFailed(f"the default model {path} is missing: this build has no {DEFAULT_ONNX}. Export the "
                             f"trained checkpoint to resources/{DEFAULT_ONNX} and build again (make package)")
        raise StepFailed(f"model file {path} not found: check the --selftest-model path")
    import numpy as np

    from ageapp.faces.detection import HaarDetector
    from ageapp.estimation.pipeline import EstimationPipeline

    try:
        estimator = open_model(path, threads=max(1, min(2, os.cpu_count() or 1)))
    except ModelFileError as error:
        raise StepFailed(f"{path} could not be loaded: {error}") from None
    posterior, female = estimator.predict_crops([aligned_crop(face_like_image())])
    if posterior.shape != (1, estimator.age_max + 1):
        raise StepFailed(f"posterior shape {posterior.shape}, expected (1, {estimator.age_max + 1})")
    total = float(posterior.sum())
    if not np.all(np.isfinite(posterior)) or np.any(posterior < 0) or abs(total - 1.0) > 1e-4:
        raise StepFailed(f"the posterior is not a distribution (sum {total:.6f}, min {float(posterior.min()):.3g})")
    if not 0.0 <= float(female[0]) <= 1.0:
        raise StepFailed(f"P(female) {float(female[0])} is outside [0, 1]")
    mode = int(np.argmax(posterior[0]))
    faces = EstimationPipeline(HaarDetector("self-test"), estimator, fuse=False).estimate(face_like_image())
    return (f"{estimator.summary}: aligned crop → mode {mode} years, P(female) {float(female[0]):.2f}; "
            f"photo pipeline ran ({len(faces)} face(s) found in the drawn picture)")


def step_training(model_path: Path | None) -> str:
    from ageapp.training_extra import training_available

    if not training_available():
        return "not in this build: no torch, so no training (labelling and estimation run through ONNX Runtime)"
    import numpy as np
    import torch

    import trainer.train  # noqa: F401 - every training module (a bundle may lack one that analysis missed)
    from ageapp.model import open_model
    from ageapp.model.resolve import default_model_path

    named = model_path is not None and model_path.suffix.lower() != ".onnx"
    checkpoint = model_path if named else default_model_path("torch")
    if not checkpoint.is_file():
        if named:
            raise StepFailed(f"model file {checkpoint} not found: check the --selftest-model path")
        raise StepFailed(f"torch is installed but the checkpoint {checkpoint} is missing: put the trained "
                         "checkpoint there and build again (make package-full)")
    crop = aligned_crop(face_like_image())
    posterior, _female = open_model(checkpoint, backend="torch", threads=1).predict_crops([crop])
    detail = (f"torch {torch.__version__}, training modules imported; {checkpoint.name} through torch: mode "
              f"{int(np.argmax(posterior[0]))} years")
    export = checkpoint.with_suffix(".onnx")
    if export.is_file():
        difference = float(np.max(np.abs(open_model(export, threads=1).predict_crops([crop])[0] - posterior)))
        if difference > 1e-4:
            raise StepFailed(f"{checkpoint.name} (torch) and {export.name} (ONNX Runtime) differ by {difference:.1e} "
                             "on the same crop: export the checkpoint again (python -m trainer export)")
        detail += f", {export.name} matches it to {difference:.1e}"
    return detail


# Running ------------------------------------------------------------------------------------------------------

def run_step(name: str, check: Callable[[], str]) -> StepResult:
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except StepFailed as error:
        detail, ok = str(error), False
    except Exception as error:  # an unexpected failure is a FAIL with its type, not a crash of the self-test
        detail, ok = f"{type(error).__name__}: {error}", False
    return StepResult(name, ok, time.perf_counter() - started, detail)


def run_selftest(model_path: str | Path | None = None, out=None) -> int:
    out = out or sys.stdout
    from ageapp import __version__

    model = Path(model_path).expanduser() if model_path else None
    frozen = "bundle " + str(getattr(sys, "_MEIPASS", "")) if getattr(sys, "frozen", False) else "source tree"
    print(f"ageapp {__version__} self-test ({frozen}, Python {sys.version.split()[0]})", file=out, flush=True)
    folder = Path(tempfile.mkdtemp(prefix="ageapp-selftest-"))
    saved_env = {key: os.environ.get(key) for key in ("AGEAPP_CONFIG_DIR",)}
    os.environ["AGEAPP_CONFIG_DIR"] = str(folder / "config")  # the preferences the window reads and writes
    started = time.perf_counter()
    results: list[StepResult] = []
    try:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("resources", lambda: step_resources(model)),
            ("posterior", step_posterior),
            ("project", lambda: step_project(folder)),
            ("window", lambda: step_window(folder)),
            ("detector", step_detector),
            ("model", lambda: step_model(model)),
            ("training", lambda: step_training(model)),
        ]
        for name, check in steps:
            result = run_step(name, check)
            results.append(result)
            print(f"{'OK  ' if result.ok else 'FAIL'} {name:<10} {result.seconds * 1000:8.0f} ms  {result.detail}",
                  file=out, flush=True)
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(folder, ignore_errors=True)
    failed = [r.name for r in results if not r.ok]
    total = time.perf_counter() - started
    if failed:
        print(f"self-test FAILED ({', '.join(failed)}) in {total:.1f} s", file=out, flush=True)
        return 1
    print(f"self-test passed: {len(results)} steps in {total:.1f} s", file=out, flush=True)
    return 0
