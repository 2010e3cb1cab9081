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
    script.write_text(BLOCK_TORCH + textwrap.dedent(code))
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
