"""Calibration as a step of training: stored in the checkpoint and the ONNX export and applied by every
backend alike; test-time flip; `evaluate --plot`; `calibrate` on a folder of labelled faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ageapp.core.calibration import Calibration, apply_temperature
from ageapp.core.calibration_fit import MIN_FACES, MIN_MAP_FACES
from ageapp.faces.quality import scores
from ageapp.model import open_model
from tests.trainer.conftest import write_utkface_folder
from trainer.__main__ import main
from trainer.calibrate import calibrate_checkpoint
from trainer.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from trainer.crops import CropSet
from trainer.samples import Sample
from trainer.evaluate import predict_crops
from trainer.export import export_onnx
from trainer.heads import AgeNet

AGE_MAX = 60


def tiny_checkpoint(path, seed=0):
    torch.manual_seed(seed)
    model = AgeNet("tiny", age_max=AGE_MAX, head="concentration", pretrained=False)
    config = {"net": "tiny", "age_max": AGE_MAX, "head": "concentration", "size": 56, "template": "chip"}
    save_checkpoint(make_checkpoint(model, None, None, config, 1, 1, [], seed, None), path)
    return path


def crop_set(n, seed=0):
    rng = np.random.default_rng(seed)
    crops = torch.from_numpy(rng.integers(0, 255, (n, 112, 96, 3), dtype=np.uint8))
    samples = [Sample(key=f"k{i}", path=f"{i}.jpg", age=float(rng.integers(5, 55))) for i in range(n)]
    return CropSet(samples, crops, [])


def test_calibration_is_fitted_stored_and_read_back(tmp_path):
    path = tiny_checkpoint(tmp_path / "m.pt")
    calibration = calibrate_checkpoint(path, crop_set(MIN_MAP_FACES), "mondrian", flip=True, copies=2)
    # every face and two degraded copies of it; the bands by quality and by predicted age are filled
    assert calibration.n == MIN_MAP_FACES and calibration.copies == 2 * MIN_MAP_FACES
    assert calibration.method == "mondrian" and calibration.flip
    assert calibration.before and calibration.after and not calibration.fallback
    assert sum(band.n for band in calibration.quality_bands) == 3 * MIN_MAP_FACES
    assert sum(band.n for band in calibration.age_bands) == 3 * MIN_MAP_FACES
    assert f"{MIN_MAP_FACES:,} held-out faces and {2 * MIN_MAP_FACES:,} degraded copies" in calibration.describe()
    stored = load_checkpoint(path)
    assert Calibration.from_dict(stored["calibration"]) == calibration
    _, loaded = model_from_checkpoint(path)
    assert loaded["description"].calibration == calibration


def test_too_few_faces_for_a_map_get_a_temperature_and_say_so(tmp_path):
    path = tiny_checkpoint(tmp_path / "m.pt")
    calibration = calibrate_checkpoint(path, crop_set(60), "mondrian", flip=True)
    assert calibration.method == "temperature" and calibration.n == 60 and "60 were available" in calibration.fallback
    assert Calibration.from_dict(load_checkpoint(path)["calibration"]).fallback == calibration.fallback


def test_checkpoint_and_onnx_give_the_same_calibrated_posterior(tmp_path):
    """A Mondrian calibration (bands by quality and by age) reads back identically from the checkpoint and the
    ONNX export, and both backends give the same calibrated posterior for the same crops."""
    path = tiny_checkpoint(tmp_path / "m.pt", seed=3)
    calibrate_checkpoint(path, crop_set(MIN_MAP_FACES, seed=1), "mondrian", flip=True, copies=1)
    export_onnx(path, tmp_path / "m.onnx")
    crops = crop_set(7, seed=2).crops.numpy()
    from_torch = open_model(path)
    from_onnx = open_model(tmp_path / "m.onnx")
    assert (from_torch.backend, from_onnx.backend) == ("torch", "onnxruntime")
    assert from_onnx.description == from_torch.description  # calibration included
    torch_posterior, torch_female = from_torch.predict_crops(crops)
    onnx_posterior, onnx_female = from_onnx.predict_crops(crops)
    # two float32 runtimes with their own kernels: equal to 1e-4 of each value; the CDF maps take differences
    # of a CDF near 1, so a probability near 0 keeps an absolute error of float32's order at 1 (1e-5, for other CPUs too)
    np.testing.assert_allclose(onnx_posterior, torch_posterior, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(onnx_female, torch_female, rtol=1e-4)
    assert from_onnx.description.calibration.quality_bands and from_onnx.description.calibration.age_bands
    raw, _ = from_onnx.predict_raw(crops)
    assert np.allclose(onnx_posterior, from_onnx.description.calibration.apply(raw, quality=scores(crops)))
    assert not np.allclose(onnx_posterior, raw, atol=1e-3)  # the calibration did something


def test_flip_averaging_of_a_symmetric_face_equals_the_single_pass():
    torch.manual_seed(0)
    model = AgeNet("tiny", age_max=AGE_MAX, pretrained=False).eval()
    half = torch.randint(0, 255, (3, 112, 48, 3), dtype=torch.uint8)
    symmetric = torch.cat([half, half.flip(2)], dim=2)  # each row reads the same both ways
    single = predict_crops(model, symmetric, size=56)
    flipped = predict_crops(model, symmetric, size=56, flip=True)
    # float32: a mirrored image and a batch of 6 rather than 3 take other summation orders (2e-5 of a value
    # seen); without the flip averaging the asymmetric faces below differ by 2e-3
    np.testing.assert_allclose(flipped["posterior"], single["posterior"], rtol=1e-4, atol=1e-6)
    asymmetric = torch.randint(0, 255, (3, 112, 96, 3), dtype=torch.uint8)
    mirror = predict_crops(model, asymmetric.flip(2), size=56)["posterior"]
    both = predict_crops(model, asymmetric, size=56, flip=True)["posterior"]
    alone = predict_crops(model, asymmetric, size=56)["posterior"]
    np.testing.assert_allclose(both, (alone + mirror) / 2, rtol=1e-4, atol=1e-6)


def test_a_temperature_on_a_real_network_is_found_again(tmp_path):
    """The network's own posteriors made twice too sure: calibrating on ages drawn from the true posteriors
    finds the temperature 2 that undoes it."""
    path = tiny_checkpoint(tmp_path / "m.pt", seed=5)
    model, loaded = model_from_checkpoint(path)
    crops = crop_set(3000, seed=4)
    true = predict_crops(model, crops.crops, size=56)["posterior"]
    rng = np.random.default_rng(0)
    ages = (rng.random(len(true))[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    from ageapp.core.calibration_fit import fit_temperature

    assert fit_temperature(apply_temperature(true, 0.5), ages) == pytest.approx(2.0, rel=0.05)


def test_evaluate_plot_and_calibrate_from_the_command_line(tiny_utkface, tmp_path, capsys):
    path = tiny_checkpoint(tmp_path / "m.pt")
    few = ["--data", str(tiny_utkface), "--format", "utkface", "--aligned", "--cache-dir", str(tmp_path / "c"),
           "--quiet"]
    # 24 faces: refused with the reason, and nothing written
    assert main(["calibrate", "--model", str(path), "--out", str(tmp_path / "few.pt"), "--method", "isotonic",
                 *few]) == 1
    said = capsys.readouterr()
    assert f"at least {MIN_FACES}" in said.out + said.err and "got 24" in said.out + said.err
    assert not (tmp_path / "few.pt").exists()
    n = MIN_FACES + 10
    common = ["--data", str(write_utkface_folder(tmp_path / "utk60", n=n, seed=3)), "--format", "utkface",
              "--aligned", "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert main(["calibrate", "--model", str(path), "--out", str(tmp_path / "cal.pt"), *common]) == 0
    calibrated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # too few for a CDF map: a temperature, and the reason in the JSON line
    assert calibrated["n"] == n and calibrated["method"] == "temperature" and "coverage90" in calibrated["after"]
    assert f"{n} were available" in calibrated["fallback"]
    plot = tmp_path / "plots" / "eval.png"
    assert main(["evaluate", "--model", str(tmp_path / "cal.pt"), "--plot", str(plot), *common]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    for key in ("coverage50", "coverage80", "coverage90", "coverage95", "calibration_error", "nll", "mae_by_age",
                "uncalibrated"):
        assert key in metrics
    assert metrics["calibration"] == "temperature" and metrics["flip"] is True
    assert sum(band["n"] for band in metrics["mae_by_age"].values()) == metrics["n"] == n
    # the calibration was fitted on these very faces: its own coverage at 90% is reproduced
    assert metrics["coverage90"] == pytest.approx(calibrated["after"]["coverage90"], abs=0.01)
    assert main(["evaluate", "--model", str(path), "--plot", str(tmp_path / "x.txt"), *common]) == 1
    assert "PNG" in capsys.readouterr().out
