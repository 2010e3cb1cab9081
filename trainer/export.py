"""ONNX export of a trained age network, checked against torch with onnxruntime.

The ONNX graph takes `crops`: float32 (N, 3, H, W), BGR channel order, values 0..255 (the face pipeline's
crops as they are, H = the model's input size, W = H * 96 / 112) and gives `posterior` (N, A + 1)
probabilities (raw: the calibration is applied after the graph, by the same numpy code for every backend),
`ordinal` (N, A) the f_k, and `gender` (N, 2) probabilities (male, female). Metadata: `ageapp_model`, the
model's whole description as JSON (ageapp.core.model_description, calibration included), and for other tools
age_max, input_height, input_width, net, head, loss, template.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainer.checkpoint import model_from_checkpoint

TOLERANCE = 1e-4


class ExportWrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, crops):
        out = self.model(crops)
        return out["log_posterior"].exp(), out["f"], torch.softmax(out["gender_logits"], dim=-1)


def export_onnx(model_path: str | Path, onnx_path: str | Path, check: bool = True, opset: int = 17) -> dict:
    """Write the ONNX file; with check, compare onnxruntime against torch on random crops (max abs diff)."""
    model, checkpoint = model_from_checkpoint(model_path, "cpu")
    description = checkpoint["description"]
    height, width = description.input_height, description.input_width
    wrapper = ExportWrapper(model).eval()
    example = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0)) * 255
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (example,), str(onnx_path), input_names=["crops"],
            output_names=["posterior", "ordinal", "gender"], opset_version=opset, dynamo=False,
            dynamic_axes={"crops": {0: "batch"}, "posterior": {0: "batch"}, "ordinal": {0: "batch"},
                          "gender": {0: "batch"}},
        )
    _add_metadata(onnx_path, {"ageapp_model": description.to_json(), "age_max": description.age_max,
                              "input_height": height, "input_width": width, "net": description.net,
                              "head": description.head, "loss": description.loss, "template": description.template,
                              "input": "crops: float32 N x 3 x H x W, BGR, 0..255"})
    result = {"onnx": str(onnx_path), "model": str(model_path), "input_height": height, "input_width": width,
              "age_max": description.age_max, "calibration": description.calibration.method}
    if check:
        result["max_abs_diff"] = check_onnx(wrapper, onnx_path, height, width)
        result["matches"] = result["max_abs_diff"] <= TOLERANCE
        if not result["matches"]:
            raise RuntimeError(f"ONNX output differs from torch by {result['max_abs_diff']:.2e} (> {TOLERANCE})")
    return result


def _add_metadata(path: Path, values: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def check_onnx(wrapper: nn.Module, onnx_path: Path, height: int, width: int, batch: int = 5) -> float:
    """Largest absolute difference between onnxruntime and torch over all outputs (another batch size than
    the export's, to exercise the dynamic axis)."""
    import onnxruntime as ort

    crops = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        expected = [t.numpy() for t in wrapper(crops)]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"crops": crops.numpy()})
    return float(max(np.max(np.abs(a - b)) for a, b in zip(expected, got)))
