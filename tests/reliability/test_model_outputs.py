"""Model files whose outputs are not posteriors over their ages, that fail when run, or whose calibration is
malformed: each is refused when loaded, with a ModelFileError saying what is wrong (exit 1 on the command
line, the default model with a notice in the window), never a traceback or a wrong age.

The ONNX files are built here with onnx.helper: a graph that ignores the face and returns fixed outputs, with a
valid description of this app in its metadata, so that only the outputs (or the run) are wrong."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from ageapp.__main__ import main as ageapp_main
from ageapp.annotation.rough_estimate import ModelRoughEstimate
from ageapp.core.calibration import Calibration, CalibrationError
from ageapp.core.model_description import ModelDescription, ModelFileError, describe_onnx_metadata
from ageapp.model import open_model
from ageapp.store.runs import activate_model, add_model
from tests.conftest import write_untrained_checkpoint
from tests.factories import make_project

AGE_MAX = 100


def _onnx(path: Path, posterior, *, one_dimension: bool = False, huge: bool = False,
          description: str | None = None, gender=(0.5, 0.5)) -> Path:
    """An ONNX 'age model' whose posterior is `posterior` for every face (N x len(posterior))."""
    posterior = np.asarray(posterior, np.float32)[None]
    nodes = [
        helper.make_node("ReduceMean", ["crops"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Flatten", ["mean"], ["flat"], axis=1),
        helper.make_node("Mul", ["flat", "zero"], ["nothing"]),  # N x 1 zeros: the batch's size
        helper.make_node("Add", ["nothing", "table"], ["rows"]),
        helper.make_node("Add", ["nothing", "gender_table"], ["gender"]),
    ]
    initializers = [helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]),
                    helper.make_tensor("table", TensorProto.FLOAT, posterior.shape, posterior.ravel().tolist()),
                    helper.make_tensor("gender_table", TensorProto.FLOAT, [1, 2], list(gender))]
    last = "rows"
    if one_dimension:
        nodes.append(helper.make_node("ReduceSum", ["rows", "axis1"], ["summed"], keepdims=0))
        initializers.append(helper.make_tensor("axis1", TensorProto.INT64, [1], [1]))
        last = "summed"
    if huge:  # a tensor of N * 10^5 x 3 * 10^5 x H x W floats, made when the model runs (ConstantOfShape)
        nodes += [helper.make_node("Shape", ["crops"], ["shape"]),
                  helper.make_node("Mul", ["shape", "blow_up"], ["huge_shape"]),
                  helper.make_node("ConstantOfShape", ["huge_shape"], ["huge"],
                                   value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])),
                  helper.make_node("ReduceSum", ["huge"], ["total"], keepdims=0),
                  helper.make_node("Mul", ["total", "zero"], ["naught"]),
                  helper.make_node("Add", [last, "naught"], ["blown"])]
        initializers.append(helper.make_tensor("blow_up", TensorProto.INT64, [4], [100000, 100000, 1, 1]))
        last = "blown"
    nodes.append(helper.make_node("Identity", [last], ["posterior"]))
    graph = helper.make_graph(
        nodes, "fake-age-model",
        [helper.make_tensor_value_info("crops", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("posterior", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("gender", TensorProto.FLOAT, None)],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key = "ageapp_model"
    entry.value = description or ModelDescription(net="tiny", age_max=AGE_MAX, size=56).to_json()
    onnx.save(model, str(path))
    return path


UNIFORM = np.full(AGE_MAX + 1, 1 / (AGE_MAX + 1))
# name -> (how the ONNX file is made, what the refusal says)
BAD_OUTPUTS = {
    "1,001 ages for 0-100": (lambda p: _onnx(p, np.full(1001, 1 / 1001)), "shape (1, 1001) where its description (ages 0-100) calls for (1, 101)"),
    "51 ages for 0-100": (lambda p: _onnx(p, np.full(51, 1 / 51)), "calls for (1, 101)"),
    "negative values": (lambda p: _onnx(p, UNIFORM * 2 - np.eye(AGE_MAX + 1)[0] * (1 + 1 / (AGE_MAX + 1))),
                        "negative probabilities"),
    "all zeros": (lambda p: _onnx(p, np.zeros(AGE_MAX + 1)), "sum to 0, not 1"),
    "sum 3e40": (lambda p: _onnx(p, np.full(AGE_MAX + 1, 3e38)), "not 1: its outputs are not probabilities"),
    "one dimension": (lambda p: _onnx(p, UNIFORM, one_dimension=True), "shape (1,) where"),
    "P(female) 3": (lambda p: _onnx(p, UNIFORM, gender=(-2.0, 3.0)), "P(female) outside 0..1"),
    "fails when run": (lambda p: _onnx(p, UNIFORM, huge=True), "fails when run on a test face"),
}


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-models")
    return {name: make(folder / f"bad{index}.onnx") for index, (name, (make, _)) in enumerate(BAD_OUTPUTS.items())}


def test_a_well_formed_fake_model_loads_and_gives_its_fixed_posterior(tmp_path):
    """The builder makes loadable models: only the damage above makes them refused."""
    posterior = np.arange(AGE_MAX + 1, dtype=np.float64)
    posterior /= posterior.sum()
    model = open_model(_onnx(tmp_path / "fine.onnx", posterior))
    crops = np.zeros((3, 112, 96, 3), np.uint8)
    found, female = model.predict_crops(crops)
    np.testing.assert_allclose(found, np.tile(posterior, (3, 1)), rtol=1e-4)
    np.testing.assert_allclose(female, 0.5, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(BAD_OUTPUTS))
def test_a_model_whose_outputs_are_not_posteriors_is_refused_at_load(bad_models, name):
    with pytest.raises(ModelFileError) as refused:
        open_model(bad_models[name])
    assert BAD_OUTPUTS[name][1] in str(refused.value)
    assert "choose another model" in str(refused.value)


@pytest.mark.parametrize("name", ["1,001 ages for 0-100", "all zeros", "one dimension", "fails when run"])
def test_estimate_exits_1_with_the_reason(bad_models, tmp_path, capsys, name):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((80, 80, 3), 90, np.uint8))
    assert ageapp_main(["estimate", "--model", str(bad_models[name]), str(photo)]) == 1
    assert BAD_OUTPUTS[name][1] in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]


def test_simulate_with_a_model_prior_of_51_ages_says_why(bad_models, tmp_path, capsys):
    from tests.trainer.conftest import write_utkface_folder

    folder = write_utkface_folder(tmp_path / "utk", n=24)
    code = ageapp_main(["simulate", "--references", str(folder), "--queries", str(folder), "--policy", "paper",
                        "--prior", "model", "--model", str(bad_models["51 ages for 0-100"])])
    assert code == 1
    assert "calls for (1, 101)" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]


def test_the_window_falls_back_to_the_default_model_when_the_active_one_gives_bad_posteriors(bad_models, tmp_path):
    db = make_project(tmp_path / "p.ageproj", references=30, queries=3)[0]
    activate_model(db, add_model(db, "bad", str(bad_models["sum 3e40"])))
    notice = ModelRoughEstimate(db).prepare()
    assert "the project's active model bad cannot be used" in notice and "not 1" in notice
    assert "using the default model" in notice
    db.close()


# ------------------------------------------------------------------------------------ malformed calibration
@pytest.mark.parametrize("conformal, expected", [([0.5, 0.9], "are a list, not a table"),
                                                 ("0.9", "are a str, not a table")])
def test_conformal_levels_that_are_not_a_table_are_a_calibration_error(conformal, expected):
    with pytest.raises(CalibrationError, match=expected):
        Calibration.from_dict({"method": "temperature", "temperature": 1.5, "conformal": conformal})
    assert Calibration.from_dict({"method": "temperature", "temperature": 1.5,
                                  "conformal": {"0.9": 0.93}}).interval_level(0.9) == 0.93


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("calibrations")
    good = write_untrained_checkpoint(folder / "good.pt", net="tiny", age_max=70, size=56)
    base = torch.load(good, weights_only=True)
    files = {}
    for name, conformal in (("list", [0.5, 0.9]), ("text", "0.9:0.95")):
        checkpoint = copy.deepcopy(base)
        checkpoint["calibration"] = {"version": 1, "method": "temperature", "temperature": 1.2,
                                     "conformal": conformal}
        files[name] = folder / f"{name}.pt"
        torch.save(checkpoint, files[name])
    return files


@pytest.mark.parametrize("name", ["list", "text"])
@pytest.mark.parametrize("command", ["estimate", "trainer"])
def test_a_checkpoint_with_malformed_conformal_levels_is_refused_with_a_message(checkpoints, tmp_path, capsys, name,
                                                                                command):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((80, 80, 3), 90, np.uint8))
    if command == "estimate":
        assert ageapp_main(["estimate", "--model", str(checkpoints[name]), str(photo)]) == 1
        error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    else:
        from trainer.__main__ import main as trainer_main

        assert trainer_main(["predict", "--model", str(checkpoints[name]), str(photo)]) != 0
        error = capsys.readouterr().err
    assert "calibration is damaged" in error and "conformal levels are a" in error


def test_deeply_nested_onnx_metadata_is_a_model_file_error(tmp_path):
    nested = "[" * 200_000 + "]" * 200_000
    with pytest.raises(ModelFileError, match="nested too deeply"):
        describe_onnx_metadata({"ageapp_model": nested})
    model = _onnx(tmp_path / "nested.onnx", UNIFORM, description=nested)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        open_model(model)
    conformal_list = ModelDescription(net="tiny", age_max=AGE_MAX, size=56).to_json().replace(
        '"conformal": {}', '"conformal": [0.9, 0.95]')
    assert "[0.9, 0.95]" in conformal_list
    with pytest.raises(ModelFileError, match="calibration is damaged: the calibration's conformal levels are a list"):
        open_model(_onnx(tmp_path / "conformal-list.onnx", UNIFORM, description=conformal_list))
