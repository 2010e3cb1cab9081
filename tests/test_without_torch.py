"""Labelling, estimation and the commands that only infer work with torch absent (the light bundle has none):
a subprocess makes torch unimportable, imports those paths, runs them, and checks torch never loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ImportError(f"No module named {name!r} (blocked: this test runs without torch)")
            return None

    sys.meta_path.insert(0, NoTorch())
""")


def run_without_torch(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "no_torch.py"
    # this checkout first (the script's own folder is sys.path[0]; an editable install may point elsewhere)
    script.write_text(BLOCK_TORCH + f"sys.path.insert(0, {str(REPO)!r})\n" + textwrap.dedent(code))
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_inference_paths_import_and_run_without_torch(tmp_path):
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    result = run_without_torch(f"""
        import json, sys
        import numpy as np
        import ageapp.__main__
        import ageapp.annotation.session, ageapp.annotation.rough_estimate, ageapp.annotation.gender
        import ageapp.estimation.pipeline, ageapp.estimation.photos
        import ageapp.ui.shell.main_window, ageapp.ui.label.page, ageapp.ui.estimate.page
        from ageapp.model import load_model
        model, choice, _ = load_model()
        posterior, female = model.predict_crops([np.full((112, 96, 3), 120, np.uint8)])
        assert model.backend == "onnxruntime" and choice.source == "default"
        assert abs(posterior.sum() - 1) < 1e-6 and 0 <= female[0] <= 1
        status = ageapp.__main__.main(["estimate", {str(photo)!r}, "--no-posterior"])
        assert status in (0, 1), status
        print(json.dumps({{"torch_loaded": any(m.split(".")[0] == "torch" for m in sys.modules)}}))
    """, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"torch_loaded": False}


def test_a_torch_checkpoint_without_torch_says_to_use_the_onnx_export_or_the_training_extra(tmp_path):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not read: torch is missing")
    result = run_without_torch(f"""
        from ageapp.model import ModelFileError, open_model
        try:
            open_model({str(checkpoint)!r})
        except ModelFileError as error:
            print(error)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "torch is not installed" in result.stdout and "pip install 'ageapp[train]'" in result.stdout


def test_training_commands_say_training_needs_the_extra(tmp_path):
    result = run_without_torch("""
        import runpy, sys
        sys.argv = ["trainer", "train", "--data", "x", "--out", "y"]
        try:
            runpy.run_module("trainer", run_name="__main__")
        except SystemExit as exit:
            print("exit", exit.code)
    """, tmp_path)
    assert "training needs the training extra" in result.stdout + result.stderr, result.stdout + result.stderr
    assert "pip install 'ageapp[train]'" in result.stdout + result.stderr


def test_the_train_page_says_training_is_not_installed_and_never_starts_a_run(tmp_path):
    """Start is disabled with the reason; a resumed run (which skips that check) fails with it; the run record
    function returns a failed outcome instead of raising; the page is idle again: no traceback, no stuck run."""
    project = tmp_path / "p.ageproj"
    result = run_without_torch(f"""
        import json, sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from tests.factories import make_project
        from pathlib import Path
        db, *_ = make_project(Path({str(project)!r}), references=12, queries=2, age_max=70)
        db.close()
        from ageapp.ui.shell.main_window import MainWindow
        from ageapp.ui.train.page import PAGE_NAME, install_train_page
        from ageapp.ui.train.worker import TrainWorker
        from trainer.runs import train_recorded
        window = MainWindow()
        page = install_train_page(window)
        assert window.open_project_path({str(project)!r})
        window.show_page(PAGE_NAME)
        failures = []
        worker = TrainWorker({str(project)!r}, resume_run_id=1)
        worker.failed.connect(lambda reason, checkpoint: failures.append(reason))
        worker.run()  # in this thread: the signal is delivered directly
        outcome = train_recorded({str(project)!r}, {{"net": "tiny", "epochs": 1}})
        print(json.dumps({{"start_enabled": page.controls.start_button.isEnabled(),
                          "hint": page.controls.form_hint.text(), "started": page.start_training(),
                          "state": page.state, "banner": page.banner_text(), "worker": failures,
                          "outcome": [outcome.status, outcome.run_id, outcome.message],
                          "torch_loaded": any(m.split(".")[0] == "torch" for m in sys.modules)}}))
        page.shutdown()
    """, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    reason = "Training needs torch and torchvision, which are not installed: install the training extra"
    assert report["start_enabled"] is False and report["hint"].startswith(reason)
    assert report["started"] is False and report["state"] == "idle" and report["banner"].startswith(reason)
    assert len(report["worker"]) == 1 and report["worker"][0].startswith(reason)
    assert report["outcome"][:2] == ["failed", None] and report["outcome"][2].startswith(reason)
    assert report["torch_loaded"] is False


def test_the_selftest_passes_without_torch_and_says_this_build_does_not_train(tmp_path):
    """What the light bundle's `ageapp --selftest` runs: the posterior, the window, the default ONNX model."""
    result = run_without_torch("""
        import sys
        from ageapp.selftest import run_selftest
        status = run_selftest()
        print("torch loaded:", any(m.split(".")[0] == "torch" for m in sys.modules))
        sys.exit(status)
    """, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK   model" in result.stdout and "(default.onnx, onnxruntime)" in result.stdout
    assert "OK   training" in result.stdout and "not in this build: no torch" in result.stdout
    assert "self-test passed: 7 steps" in result.stdout and "torch loaded: False" in result.stdout
