"""The model's one home: which model is used (named > project's active > shipped default), refusal of files that
are not ours, of newer versions, damaged or non-finite, and the two backends agreeing on real face crops."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from ageapp.core.model_description import ModelFileError
from ageapp.faces.alignment import face_from_aligned_crop
from ageapp.faces.detection import make_detector
from ageapp.faces.images import load_image
from ageapp.model import choose_model, default_model_path, load_model, open_model
from ageapp.store.runs import activate_model, add_model
from tests.conftest import write_untrained_checkpoint
from tests.factories import make_project
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.export import export_onnx


@pytest.fixture
def tiny(tmp_path):
    return write_untrained_checkpoint(tmp_path / "tiny.pt", net="tiny", age_max=40, size=56)


def test_the_resolver_takes_the_named_then_the_active_then_the_default(tmp_path, tiny):
    db, *_ = make_project(tmp_path / "p.ageproj", references=3, queries=1)
    assert choose_model(None, db).source == "default" and choose_model(None, db).path == default_model_path()
    assert choose_model(None, db, backend="torch").path.name == "default.pt"
    activate_model(db, add_model(db, "run 1", str(tiny)))
    active = choose_model(None, db)
    assert (active.source, active.path, active.name) == ("project", tiny, "run 1")
    export_onnx(tiny, tiny.with_suffix(".onnx"))  # an export beside the checkpoint is preferred ...
    assert choose_model(None, db).path == tiny.with_suffix(".onnx")
    assert choose_model(None, db, backend="torch").path == tiny  # ... unless torch is asked for
    named = choose_model(tmp_path / "other.onnx", db)
    assert (named.source, named.path) == ("named", tmp_path / "other.onnx")
    db.close()


def test_a_broken_active_model_gives_way_to_the_default_with_a_notice(tmp_path):
    db, *_ = make_project(tmp_path / "p.ageproj", references=3, queries=1)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x00" * 100)
    activate_model(db, add_model(db, "broken", str(broken)))
    model, choice, notice = load_model(None, db, fall_back=True)
    assert choice.source == "default" and model.path == default_model_path()
    assert "the project's active model broken cannot be used" in notice and "using the default model" in notice
    with pytest.raises(ModelFileError, match="cannot be used"):
        load_model(None, db)
    db.close()


def test_files_that_are_not_usable_models_are_refused_with_what_they_are(tmp_path, tiny):
    export_onnx(tiny, tmp_path / "tiny.onnx")
    import onnx

    foreign = onnx.load(str(tmp_path / "tiny.onnx"))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    with pytest.raises(ModelFileError, match="not an ONNX export of this app"):
        open_model(tmp_path / "foreign.onnx")

    newer = onnx.load(str(tmp_path / "tiny.onnx"))
    for entry in newer.metadata_props:
        if entry.key == "ageapp_model":
            entry.value = json.dumps({**json.loads(entry.value), "version": 99})
    onnx.save(newer, str(tmp_path / "newer.onnx"))
    with pytest.raises(ModelFileError, match="update the app"):
        open_model(tmp_path / "newer.onnx")

    (tmp_path / "garbage.onnx").write_bytes(os.urandom(2000))
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        open_model(tmp_path / "garbage.onnx")

    os.mkfifo(tmp_path / "pipe.onnx")
    with pytest.raises(ModelFileError, match="not a regular file"):
        open_model(tmp_path / "pipe.onnx")  # refused before any read: a FIFO would block

    checkpoint = load_checkpoint(tiny)
    checkpoint["model"] = {k: v.clone() for k, v in checkpoint["model"].items()}
    name = next(k for k, v in checkpoint["model"].items() if v.is_floating_point())
    checkpoint["model"][name][...] = float("nan")
    save_checkpoint(checkpoint, tmp_path / "nan.pt")
    with pytest.raises(ModelFileError, match="not finite"):
        open_model(tmp_path / "nan.pt")


@pytest.mark.shared
def test_the_shipped_model_gives_the_same_posteriors_through_both_backends(utkface_images, yunet_model):
    detector = make_detector(yunet_model)
    from_onnx = open_model(default_model_path())
    from_torch = open_model(default_model_path("torch"))
    assert from_onnx.description == from_torch.description
    crops = [face_from_aligned_crop(load_image(path), detector, from_onnx.template).crop
             for path in sorted(utkface_images.glob("*.jpg"))[:12]]
    onnx_posterior, onnx_female = from_onnx.predict_crops(crops)
    torch.set_num_threads(1)
    torch_posterior, torch_female = from_torch.predict_crops(crops)
    assert np.max(np.abs(onnx_posterior - torch_posterior)) < 1e-4
    assert np.max(np.abs(onnx_female - torch_female)) < 1e-4
