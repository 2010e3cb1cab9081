"""Malformed checkpoints, as `estimate`, `genders` and the labelling page meet them: each is refused with what
is wrong before anything is built or allocated; non-finite weights or outputs are refused (no NaN in any
JSON line, no gender stored from a NaN); a broken active model gives way to the shipped default with a notice.

Every checkpoint here is generated from a real one (the trainer's own code, random weights), then damaged."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.gender import GenderModelError, predict_genders
from ageapp.annotation.rough_estimate import ModelRoughEstimate
from ageapp.model import AgeModel, ModelDescription, ModelFileError, default_model_path, open_model
from ageapp.store.db import open_project
from ageapp.store.runs import activate_model, add_model
from tests.conftest import write_untrained_checkpoint
from tests.factories import make_project


def _v1(checkpoint: dict) -> None:
    checkpoint.pop("model_args")
    checkpoint["version"] = 1


def _first_weight(checkpoint: dict, value: float) -> None:
    next(t for t in checkpoint["model"].values() if t.is_floating_point()).fill_(value)


# name -> (how the checkpoint is damaged, what the refusal says)
DAMAGE = {
    "config missing": (lambda c: (_v1(c), c.pop("config")), "neither a model description nor a training config"),
    "config a list": (lambda c: (_v1(c), c.__setitem__("config", [1, 2])), "neither a model description nor"),
    "config a list (v2)": (lambda c: c.__setitem__("config", [1, 2]), "weights or training settings are missing"),
    "description a list": (lambda c: c.__setitem__("model_args", [1]), "the model description is a list"),
    "age_max 'abc'": (lambda c: c["model_args"].__setitem__("age_max", "abc"), "age range (age_max) is 'abc', not a"),
    "age_max -5": (lambda c: c["model_args"].__setitem__("age_max", -5), "age range (age_max) is -5, outside 1..150"),
    "age_max 100000": (lambda c: c["model_args"].__setitem__("age_max", 100000), "(age_max) is 100000, outside"),
    "unknown net": (lambda c: c["model_args"].__setitem__("net", "bogus"), "network is 'bogus'; this app knows"),
    "unknown head": (lambda c: c["model_args"].__setitem__("head", "bogus"), "head is 'bogus'; this app knows"),
    "size 0": (lambda c: c["model_args"].__setitem__("size", 0), "input size is 0, outside 16..448"),
    "size 200000": (lambda c: c["model_args"].__setitem__("size", 200000), "input size is 200000, outside"),
    "version 'x'": (lambda c: c.__setitem__("version", "x"), "version is 'x', not a whole number"),
    "NaN weights": (lambda c: _first_weight(c, math.nan), "weights are not finite (NaN or infinite values"),
    "inf weights": (lambda c: _first_weight(c, math.inf), "weights are not finite (NaN or infinite values"),
    "weights a list": (lambda c: c.__setitem__("model", [1]), "weights or training settings are missing"),
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("damaged")
    good = write_untrained_checkpoint(folder / "good.pt", net="tiny", age_max=70, size=56)
    base = torch.load(good, weights_only=True)
    files = {"good": good}
    for index, (name, (damage, _)) in enumerate(DAMAGE.items()):
        checkpoint = copy.deepcopy(base)
        damage(checkpoint)
        files[name] = folder / f"damaged{index}.pt"
        torch.save(checkpoint, files[name])
    return files


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_estimate_refuses_each_damaged_checkpoint_with_what_is_wrong(damaged, tmp_path, capsys, name):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((80, 80, 3), 90, np.uint8))
    assert ageapp_main(["estimate", "--model", str(damaged[name]), str(photo)]) == 1
    assert DAMAGE[name][1] in _last_json(capsys)["error"]


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_genders_refuses_each_damaged_checkpoint_and_stores_nothing(damaged, tmp_path, capsys, name):
    project = tmp_path / "p.ageproj"
    make_project(project, references=4, queries=3)[0].close()
    assert ageapp_main(["genders", str(project), "--model", str(damaged[name])]) == 1
    assert DAMAGE[name][1] in _last_json(capsys)["error"]
    with open_project(project, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM faces WHERE gender_predicted IS NOT NULL"
                          " OR gender_probability IS NOT NULL").fetchone()[0] == 0


def test_a_huge_age_range_is_refused_before_the_network_is_built(damaged, monkeypatch):
    """age_max 100000 once asked for 74.5 GiB before the weights were looked at."""
    import trainer.checkpoint

    def must_not_build(description):
        raise AssertionError(f"a network was built for {description}")

    monkeypatch.setattr(trainer.checkpoint, "build_model", must_not_build)
    with pytest.raises(ModelFileError, match=r"age_max\) is 100000, outside 1\.\.150"):
        open_model(damaged["age_max 100000"])
    with pytest.raises(AssertionError, match="a network was built"):  # the stand-in would have caught it
        open_model(damaged["good"])


class TurnsNonFinite(AgeModel):
    """A model whose outputs are fine on the grey probe crop and NaN on anything else (damage the probe misses)."""

    backend = "test"

    def __init__(self):
        super().__init__(Path("turns_nan.pt"), ModelDescription(net="tiny", age_max=70, size=112), flip=False)
        self.probe()

    def _run(self, batch):
        flat = bool(np.all(batch == 128))
        posterior = np.full((len(batch), 71), 1 / 71 if flat else math.nan)
        return posterior, np.full(len(batch), 0.5 if flat else math.nan)


def test_estimate_never_prints_nan_when_outputs_turn_non_finite(monkeypatch, tmp_path, capsys):
    import ageapp.model

    monkeypatch.setattr(ageapp.model, "load_model", lambda *a, **k: (TurnsNonFinite(), None, ""))
    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 255, (120, 100, 3), dtype=np.uint8))
    from ageapp.estimation import pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module.EstimationPipeline, "estimate",
                        lambda self, image: self.model.predict_crops([image[:112, :96]]) and [])
    assert ageapp_main(["estimate", str(photo)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    strict = [json.loads(line, parse_constant=_no_constants) for line in lines]  # each line valid, strict JSON
    assert "non-finite outputs" in strict[-1]["error"]


def _no_constants(word: str):
    raise AssertionError(f"{word} in a JSON line: not valid JSON")


def test_genders_never_stores_a_gender_from_a_nan(tmp_path, monkeypatch, capsys):
    project = tmp_path / "p.ageproj"
    db = make_project(project, references=30, queries=10)[0]

    class NanGender:
        template = "chip"

        def predict_crops(self, crops):
            return np.full((len(crops), 71), 1 / 71), np.full(len(crops), math.nan)

    with pytest.raises(GenderModelError, match="not numbers between 0 and 1 .NaN or out of range"):
        predict_genders(db, NanGender())
    assert db.execute("SELECT count(*) FROM faces WHERE gender_predicted IS NOT NULL").fetchone()[0] == 0
    db.close()
    import ageapp.model

    monkeypatch.setattr(ageapp.model, "open_model", lambda path: TurnsNonFinite())
    assert ageapp_main(["genders", str(project), "--model", str(tmp_path / "any.pt")]) == 1
    assert "non-finite outputs" in _last_json(capsys)["error"]


def _with_broken_active_model(tmp_path: Path, broken: Path):
    db, _, queries, _ = make_project(tmp_path / "p.ageproj", references=30, queries=3)
    activate_model(db, add_model(db, "broken", str(broken)))
    return db, queries


@pytest.mark.parametrize("name", ["config a list", "age_max 100000", "NaN weights"])
def test_a_broken_active_model_gives_way_to_the_default_with_a_notice(damaged, tmp_path, name):
    db, queries = _with_broken_active_model(tmp_path, damaged[name])
    rough = ModelRoughEstimate(db)
    notice = rough.prepare()
    assert "the project's active model broken cannot be used" in notice and DAMAGE[name][1] in notice
    assert "using the default model" in notice
    default = open_model(default_model_path())
    from ageapp.faces.alignment import decode_crop
    from ageapp.model.crops import crop_for_model

    crop, template = db.execute("SELECT crop, template FROM faces WHERE image_id = ?", [queries[0]]).fetchone()
    posterior = default.predict_crops([crop_for_model(crop, template, default.template)])[0][0]
    assert rough(queries[0]) == pytest.approx(float(posterior @ np.arange(len(posterior))), rel=1e-4)  # float32
    assert decode_crop(crop).shape[:2] == (112, 96)
    db.close()
