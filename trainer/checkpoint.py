"""Checkpoints: ONE dict {format, version, model_args, calibration, model, optimizer, scheduler, config,
epoch, step, history, seed, best_mae, split}, saved atomically (tmp + os.replace), and ALWAYS read with
torch.load(path, map_location="cpu", weights_only=True): a file carrying code is refused, never executed.

`model_args` is the model's description (ageapp.core.model_description: network, ages, head, input size, face
template, loss) and `calibration` its posterior calibration; `config` is the training settings, kept to say
how the model was made and to resume; `split` the faces it trained, validated and calibrated on (a 20-byte
digest of each content key and its part, trainer.splits), which a run started from it inherits. Version-1
checkpoints (config only) are upgraded when read.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from ageapp.core.model_description import DESCRIPTION_VERSION, FORMAT, ModelDescription, ModelFileError, \
    describe_checkpoint

VERSION = DESCRIPTION_VERSION


class CheckpointError(ModelFileError):
    """A file that is not a usable checkpoint, with a reason a user can act on."""


def safe_load(path: str | Path) -> dict:
    """torch.load with weights_only=True; every failure becomes a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "global" not in str(error).lower():  # not a pickle of allowed types at all: garbage or truncated
            raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (damaged or another kind of file)") from None
        raise CheckpointError(
            f"{path} was refused: it is not a plain-weights checkpoint (loading it would need to run code "
            f"stored in the file). Only checkpoints written by `python -m trainer` or plain state dicts "
            f"are accepted. ({_first_global_line(error)})"
        ) from None
    except Exception as error:  # truncated zip, not a torch file at all ...
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not a checkpoint dict")
    return data


def _first_global_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if "global" in line.lower()]
    return lines[0] if lines else str(error).splitlines()[0]


def save_checkpoint(checkpoint: dict, path: str | Path) -> None:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def make_checkpoint(model, optimizer, scheduler, config: dict, epoch: int, step: int, history: list,
                    seed: int, best_mae: float | None, description: ModelDescription | None = None,
                    split: dict | None = None) -> dict:
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    model = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    description = description or describe_config(config)
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_args": description.model_args(),
        "calibration": description.calibration.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "config": dict(config),
        "epoch": int(epoch),
        "step": int(step),
        "history": list(history),
        "seed": int(seed),
        "best_mae": None if best_mae is None else float(best_mae),
        **({"split": split} if split is not None else {}),
    }


def encode_split(parts: dict[bytes, int]) -> dict:
    """A split ({20-byte key digest: part}, trainer.splits.split_parts) as the tensors a checkpoint keeps."""
    digests = bytearray(b"".join(parts))
    keys = torch.frombuffer(digests, dtype=torch.uint8).reshape(-1, 20).clone() if digests else \
        torch.empty((0, 20), dtype=torch.uint8)
    return {"keys": keys,
            "parts": torch.tensor(list(parts.values()), dtype=torch.int8)}


def recorded_split(checkpoint: dict, source: str | Path = "the checkpoint") -> dict[bytes, int] | None:
    """The split a checkpoint recorded ({key digest: part}), or None where it records none (made before
    checkpoints kept it, or not one of ours). A damaged record is refused."""
    record = checkpoint.get("split") if checkpoint.get("format") == FORMAT else None
    if record is None:
        return None
    keys, parts = (record.get(name) if isinstance(record, dict) else None for name in ("keys", "parts"))
    if not (isinstance(keys, torch.Tensor) and isinstance(parts, torch.Tensor) and keys.dtype == torch.uint8
            and keys.dim() == 2 and keys.shape[1] == 20 and parts.shape == (keys.shape[0],)
            and bool(((parts >= 0) & (parts <= 2)).all())):
        raise CheckpointError(f"{source}: its record of its split (the faces it trained and was validated on) "
                              "is damaged")
    data = keys.numpy().tobytes()
    return {data[i * 20:(i + 1) * 20]: int(part) for i, part in enumerate(parts.tolist())}


def describe_config(config: dict) -> ModelDescription:
    """The model description of a training config (TrainConfig as a dict)."""
    from ageapp.core.model_description import validate_args

    return validate_args({key: config.get(key) for key in ("net", "age_max", "head", "beta", "size", "template",
                                                            "loss") if config.get(key) is not None})


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by this trainer: format marker, version and model description checked (newer
    versions and damaged descriptions refused) before any weight is looked at."""
    data = safe_load(path)
    if data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an age-network checkpoint of this app (no '{FORMAT}' marker); "
            "to start training from other weights, pass it to `train --init` instead"
        )
    try:
        describe_checkpoint(data)
    except ModelFileError as error:
        raise CheckpointError(f"{path}: {error}") from None
    if not isinstance(data.get("config", {}), dict) or not isinstance(data.get("model"), dict):
        raise CheckpointError(f"{path}: the checkpoint's weights or training settings are missing or damaged")
    return data


def description_of(checkpoint: dict) -> ModelDescription:
    """The (validated, upgraded) description of a checkpoint dict."""
    try:
        return describe_checkpoint(checkpoint)
    except ModelFileError as error:
        raise CheckpointError(str(error)) from None


def save_for_inference(source: str | Path, target: str | Path) -> dict:
    """A copy of a checkpoint without optimizer and scheduler state: what ships with the app (a third the size).

    Everything else (weights, config, epochs, metrics history, seed) is kept, so the copy still says how it
    was made; it can be evaluated, exported and used to initialise training, but not resumed."""
    checkpoint = load_checkpoint(source)
    slim = {**checkpoint, "optimizer": None, "scheduler": None}
    save_checkpoint(slim, target)
    return {"checkpoint": str(target), "bytes": Path(target).stat().st_size, "epoch": slim["epoch"]}


def build_model(description: ModelDescription):
    """An AgeNet as described (no downloads: weights come from the checkpoint)."""
    from trainer.heads import AgeNet

    return AgeNet(net=description.net, age_max=description.age_max, head=description.head,
                  beta=description.beta, pretrained=False)


def model_from_checkpoint(path_or_checkpoint, device: str | torch.device = "cpu"):
    """(model in eval mode, checkpoint dict). Architecture mismatches and non-finite weights give a
    CheckpointError; the checkpoint dict gains "description" (its ModelDescription)."""
    checkpoint = path_or_checkpoint if isinstance(path_or_checkpoint, dict) else load_checkpoint(path_or_checkpoint)
    description = description_of(checkpoint)
    state = checkpoint["model"]
    bad = [name for name, tensor in state.items()
           if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise CheckpointError(f"the model's weights are not finite (NaN or infinite values in {bad[0]}"
                              f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}): the file is damaged")
    model = build_model(description)
    load_state_strict(model, state, what=f"a {description.net} age network")
    checkpoint = {**checkpoint, "description": description}
    return model.to(device).eval(), checkpoint


def load_state_strict(module, state: dict, what: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        lines = str(error).splitlines()
        raise CheckpointError(
            f"the weights do not fit {what} (another architecture, age range or head?): "
            + " ".join(line.strip() for line in lines[:4])[:600]
        ) from None


def load_init_weights(model, path: str | Path) -> str:
    """Initialise from a checkpoint: one of ours (whole model, or its backbone when the heads differ), a
    {'net_state_dict': ...} file such as the MobileFaceNet face-verification model, or a plain state dict
    of the backbone. Returns what was loaded; raises CheckpointError if nothing fits."""
    data = safe_load(path)
    if data.get("format") == FORMAT:
        state = data["model"]
    else:
        state = data.get("net_state_dict", data.get("state_dict", data.get("model", data)))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors")
    if any(k.startswith("backbone.") for k in state):
        model_keys = model.state_dict()
        if set(state) == set(model_keys) and all(state[k].shape == model_keys[k].shape for k in state):
            load_state_strict(model, state, "this network")
            return f"whole model from {path}"
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    load_state_strict(model.backbone, state, f"the {model.net_name} backbone")
    return f"backbone ({len(state)} tensors, strict) from {path}{_heads_left(data, model)}"


def _heads_left(data: dict, model) -> str:
    """Why a checkpoint of ours gave only its backbone: the head or age range this run chose differs."""
    if data.get("format") != FORMAT:
        return ""
    try:
        theirs = describe_checkpoint(data)
    except ModelFileError:
        return ""
    differ = [f"{what} against its {its}" for what, its, same in (
        (f"head {model.head_mode}", theirs.head, model.head_mode == theirs.head),
        (f"ages 0-{model.age_max}", f"0-{theirs.age_max}", model.age_max == theirs.age_max)) if not same]
    if not differ:
        return ""
    return (f"; its heads were left out, this run's choices differing ({'; '.join(differ)}): choose its head and "
            "age range to start from the whole model")
