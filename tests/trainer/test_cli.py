"""The CLI end to end on a tiny generated UTKFace-style folder with the tiny network: train, evaluate on
the saved held-out split, predict, export (ONNX checked against torch), resume, and clear errors."""

import json

import pytest

from trainer.__main__ import main


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(out[-1])


@pytest.fixture
def trained(tiny_utkface, tmp_path, capsys):
    out = tmp_path / "run"
    status, summary = run(capsys, "train", "--data", tiny_utkface, "--format", "utkface", "--aligned",
                          "--out", out, "--net", "tiny", "--age-max", 60, "--epochs", 1, "--batch", 4,
                          "--size", 56, "--cache-dir", tmp_path / "cache", "--quiet", "--seed", 1)
    assert status == 0, summary
    return out, summary


def test_train_evaluate_predict_export(trained, tiny_utkface, tmp_path, capsys):
    out, summary = trained
    # 24 faces: 5 held out (20%), of which a quarter (1) is kept for calibration and too few to fit one
    assert (summary["train"], summary["val"], summary["calib"]) == (19, 4, 1) and "temperature" not in summary
    assert summary["epochs_done"] == 1 and "val_mae" in summary
    for name in ("best.pt", "last.pt", "split.json", "config.json"):
        assert (out / name).is_file()

    status, metrics = run(capsys, "evaluate", "--model", out / "best.pt", "--data", tiny_utkface, "--format",
                          "utkface", "--aligned", "--split-file", out / "split.json",
                          "--cache-dir", tmp_path / "cache", "--quiet")
    assert status == 0
    assert metrics["n"] == 4 and metrics["no_face"] == 0
    for key in ("mae", "mae_mode", "ca3", "ca5", "cs3", "cs5", "coverage90", "mean_ci_width", "nll", "gender_acc"):
        assert key in metrics
    assert metrics["mae"] == pytest.approx(summary["val_mae"], abs=1e-3)  # the same held-out faces

    image = sorted(tiny_utkface.iterdir())[0]
    status, predicted = run(capsys, "predict", "--model", out / "best.pt", "--aligned", "--quiet", image)
    assert status == 0
    face = predicted["results"][0]["faces"][0]
    assert face["ci_low"] <= face["mode"] <= face["ci_high"] and 0 <= face["mean"] <= 60
    assert face["gender"] in ("male", "female")

    status, exported = run(capsys, "export", "--model", out / "best.pt", "--onnx", tmp_path / "m.onnx")
    assert status == 0 and exported["matches"] and exported["max_abs_diff"] <= 1e-4

    status, slim = run(capsys, "export", "--model", out / "best.pt", "--checkpoint", tmp_path / "slim.pt")
    assert status == 0 and slim["bytes"] < (out / "best.pt").stat().st_size
    status, again = run(capsys, "predict", "--model", tmp_path / "slim.pt", "--aligned", "--quiet", image)
    assert status == 0 and again["results"][0]["faces"][0]["mean"] == pytest.approx(face["mean"])


def test_resume_continues_the_run(trained, tiny_utkface, tmp_path, capsys):
    out, _ = trained
    status, summary = run(capsys, "train", "--data", tiny_utkface, "--format", "utkface", "--aligned",
                          "--out", out, "--net", "tiny", "--age-max", 60, "--epochs", 2, "--batch", 4,
                          "--size", 56, "--cache-dir", tmp_path / "cache", "--quiet", "--seed", 1, "--resume")
    assert status == 0 and summary["epochs_done"] == 2


def test_clear_errors(tmp_path, capsys, tiny_utkface):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"nope")
    status, payload = run(capsys, "evaluate", "--model", bogus, "--data", tiny_utkface, "--quiet")
    assert status == 1 and "not a readable" in payload["error"]
    status, payload = run(capsys, "train", "--data", tmp_path / "missing", "--out", tmp_path / "r", "--quiet")
    assert status == 1 and "does not exist" in payload["error"]
