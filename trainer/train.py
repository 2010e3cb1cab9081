"""Everything `python -m trainer train` does, as one function: samples from the sources, de-duplicated and
split (training, validation, calibration), crops, the network (initialised from a checkpoint), the loop, and
after it the posterior's calibration fitted on the calibration part and stored in best.pt.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ageapp.core.calibration_fit import MIN_FACES
from trainer import checkpoint as ckpt
from trainer.balance import balanced_weights
from trainer.batches import Augment, BatchLoader, genders_tensor, targets_tensor
from trainer.crops import build_crops
from trainer.degrade import Degrade
from trainer.samples import make_source
from trainer.splits import TRAIN, deduplicate, inherit_split, key_digest, recorded_parts, save_split, \
    split_calibration, split_parts, split_samples
from trainer.heads import AgeNet
from trainer.config import RESUME_MAY_CHANGE, TrainConfig
from trainer.runtime import pick_device, set_seed, setup_distributed, wrap_distributed
from trainer.loop import Trainer
from trainer.runs import best_checkpoint


def _progress(enabled: bool):
    return lambda it, **kw: tqdm(it, file=sys.stderr, disable=not enabled, dynamic_ncols=True, **kw)


def training_sources(config: TrainConfig) -> list:
    """--data read with --format, then each --also folder with its format detected."""
    chosen = config.project_posterior
    return ([make_source(config.data, config.format, config.aligned, chosen)]
            + [make_source(path, project_posterior=chosen) for path in config.also])


def prepare_samples(config: TrainConfig, log: Callable, progress, inherited: dict[bytes, int] | None = None
                    ) -> tuple[list, list, list, list[str], dict]:
    """(train, validation, calibration samples, problems, info) after de-duplication, --limit and the split
    (`inherited`: the starting checkpoint's recorded split, kept; see trainer.splits.inherit_split)."""
    samples, problems = [], []
    for source in training_sources(config):
        found, trouble = source.samples(progress=lambda it: progress(it, desc="hashing"))
        samples += found
        problems += trouble
    samples, dropped = deduplicate(samples)
    info = {"found": len(samples) + dropped, "duplicates_dropped": dropped}
    if config.limit:
        order = np.random.default_rng(config.seed).permutation(len(samples))[: config.limit]
        samples = [samples[i] for i in sorted(order)]
    if config.val:
        val_samples, val_problems = make_source(config.val, config.format, config.aligned).samples()
        problems += val_problems
        val_samples, _ = deduplicate(val_samples)
        train_keys = {s.key for s in samples}
        overlap = sum(s.key in train_keys for s in val_samples)
        if overlap:
            log(f"warning: {overlap} validation images are also in the training data; they are dropped from training")
            val_keys = {s.key for s in val_samples}
            samples = [s for s in samples if s.key not in val_keys]
        train_samples = samples
        if inherited is not None:
            parts = recorded_parts(samples, inherited)
            train_samples = [s for s, part in zip(samples, parts) if part in (None, TRAIN)]
            if len(train_samples) < len(samples):
                log(f"{len(samples) - len(train_samples)} training images were held out by the starting checkpoint "
                    "(validated or calibrated on): they are left out of training")
            seen = sum(inherited.get(key_digest(s.key)) == TRAIN for s in val_samples)
            if seen:
                log(f"warning: the starting checkpoint trained on {seen} of the --val images: its validation "
                    "figures on them will flatter it")
    elif inherited is not None:
        train_samples, val_samples, calib_samples, kept = inherit_split(samples, inherited, config.val_split,
                                                                        config.calib_split, config.seed)
        log(f"split kept from the starting checkpoint: {kept['train']} training, {kept['val']} validation and "
            f"{kept['calibration']} calibration images where it had them"
            + (f" ({kept['moved']} held out with their subject)" if kept["moved"] else "")
            + f"; {kept['new']} new to it, split by this run's seed ({config.seed})")
        if not val_samples:
            log("warning: no validation images: the starting checkpoint held none of these out (was it validated "
                "on a --val folder?); pass --val, or best.pt is simply the last epoch and nothing is calibrated")
        return train_samples, val_samples, calib_samples, problems, info
    else:
        train_samples, val_samples = split_samples(samples, config.val_split, config.seed)
    val_samples, calib_samples = split_calibration(val_samples, config.calib_split, config.seed)
    return train_samples, val_samples, calib_samples, problems, info


def starting_split(config: TrainConfig, previous: dict | None, log: Callable) -> dict[bytes, int] | None:
    """The split this run keeps: its own (last.pt) on --resume, else its --init checkpoint's. A checkpoint of
    ours made before checkpoints recorded their split gets a warning where this run would split differently."""
    if previous is not None:
        try:
            return ckpt.recorded_split(previous, "the run's last.pt")
        except ckpt.CheckpointError as error:  # the split it inherited can be made again from its --init
            log(f"warning: {error}; the split is made again from the run's settings")
    if not config.init:
        return None
    checkpoint = ckpt.safe_load(config.init)
    parts = ckpt.recorded_split(checkpoint, config.init)
    saved = checkpoint.get("config") if checkpoint.get("format") == ckpt.FORMAT else None
    if parts is None and isinstance(saved, dict):
        names = {"seed": "--seed", "val_split": "--val-split", "calib_split": "--calib-split", "limit": "--limit"}
        differ = {key: saved.get(key) for key in names if key in saved and saved.get(key) != getattr(config, key)}
        if differ:
            log(f"warning: {config.init} does not record its split (made before checkpoints kept it); it was "
                f"trained with {' '.join(f'{names[k]} {v}' for k, v in differ.items())}: on the same data, "
                "use those, or the faces it was validated and calibrated on are trained on here")
    return parts


def train(config: TrainConfig, stop_event: threading.Event | None = None,
          callbacks: dict[str, list[Callable]] | None = None, log: Callable = print, progress: bool = True,
          pause_event: threading.Event | None = None) -> dict:
    """Everything `python -m trainer train` does; returns the final summary (the CLI's JSON line)."""
    if config.consistency < 0 or (config.consistency > 0 and config.degrade <= 0):
        raise ValueError(f"--consistency {config.consistency:g} needs a weight of 0 or more and --degrade above 0: "
                         "its second view of each face is a degraded one")
    info_dist = setup_distributed(config.device)
    show = progress and info_dist.main
    say = log if info_dist.main else (lambda *a, **k: None)
    out = Path(config.out)
    resume_from = out / "last.pt"
    previous = None
    if config.resume:
        if not resume_from.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint {resume_from}; start without --resume")
        previous = ckpt.load_checkpoint(resume_from)
        saved = previous["config"]
        changed = {k: (saved.get(k), getattr(config, k)) for k in saved
                   if k not in RESUME_MAY_CHANGE and saved.get(k) != getattr(config, k, None)}
        if changed:
            say(f"--resume keeps the run's settings; ignoring changes to: {', '.join(sorted(changed))}")
        kept = {k: getattr(config, k) for k in RESUME_MAY_CHANGE}
        if saved.get("schedule") == "onecycle" and kept["epochs"] != saved.get("epochs"):
            say("--resume: a one-cycle schedule cannot be lengthened; keeping the run's --epochs")
            kept["epochs"] = saved.get("epochs")
        config = TrainConfig.from_dict({**saved, **kept, "resume": True})
    set_seed(config.seed + info_dist.rank)
    device = pick_device(config.device, info_dist.local_rank)
    if config.threads:
        torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)

    train_samples, val_samples, calib_samples, problems, info = prepare_samples(
        config, say, _progress(show), starting_split(config, previous, say))
    say(f"{info['found']} labelled images, {info['duplicates_dropped']} duplicates dropped, "
        f"{len(problems)} problems; train {len(train_samples)}, validation {len(val_samples)}, "
        f"calibration {len(calib_samples)}")
    if info_dist.main:
        save_split(out / "split.json", val_samples, calib_samples, data=str(config.data), format=config.format,
                   seed=config.seed, val_split=config.val_split if not config.val else None, val_path=config.val,
                   calib_split=config.calib_split)
        (out / "config.json").write_text(json.dumps(asdict(config), indent=1))
        if problems:
            (out / "problems.txt").write_text("\n".join(problems) + "\n")

    identity = "+".join(source.identity for source in training_sources(config))
    build = lambda samples, ident: build_crops(  # noqa: E731
        samples, ident, config.detector, config.aligned, config.cache_dir, config.workers,
        progress=_progress(show), log=say, template=config.template)
    if info_dist.world > 1 and not info_dist.main:
        dist.barrier()  # rank 0 detects faces and fills the cache first
    train_set = build(train_samples, identity)
    val_identity = make_source(config.val, config.format, config.aligned).identity if config.val else identity
    val_set = build(val_samples, val_identity)
    calib_set = build(calib_samples, val_identity) if calib_samples else None
    if info_dist.world > 1 and info_dist.main:
        dist.barrier()
    say(f"faces: train {len(train_set.samples)} (no face: {len(train_set.no_face)}), "
        f"validation {len(val_set.samples)} (no face: {len(val_set.no_face)})")

    batch = config.batch
    per_rank = len(train_set.samples) // max(1, info_dist.world)
    if 2 <= per_rank < batch:  # a small labelled set (a first project): one smaller batch rather than none
        batch = per_rank
        say(f"batch {config.batch} is larger than the {per_rank} training faces: batches of {batch} instead")
    sampler = None
    if info_dist.world > 1:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(len(train_set.samples)), num_replicas=info_dist.world,
                                     rank=info_dist.rank, shuffle=True, seed=config.seed, drop_last=True)
    train_targets = targets_tensor(train_set.samples, config.age_max)
    weights = None
    if config.balance > 0 and sampler is None:
        weights = balanced_weights(train_targets, config.balance)
        say(f"balanced sampling (power {config.balance:g}): weights {float(weights.min()):.2f}-"
            f"{float(weights.max()):.2f}")
    elif config.balance > 0:
        say("--balance is not applied under torchrun (each rank draws its own share of the faces)")
    train_loader = BatchLoader(train_set.crops, train_targets,
                               genders_tensor(train_set.samples), batch, shuffle=True,
                               augment=Augment() if config.augment else None, size=config.size, seed=config.seed,
                               device=device, drop_last=True, sampler=sampler, channels_last=config.channels_last,
                               degrade=Degrade(probability=config.degrade) if config.degrade > 0 else None,
                               weights=weights, paired=config.consistency > 0)
    val_loader = BatchLoader(val_set.crops, targets_tensor(val_set.samples, config.age_max),
                             genders_tensor(val_set.samples), config.batch * 2, size=config.size, device=device,
                             channels_last=config.channels_last) if val_set.samples else None

    model = AgeNet(config.net, config.age_max, config.head, config.beta,
                   pretrained=config.pretrained and not config.resume)
    notice = getattr(model.backbone, "notice", "")
    if notice:
        say(notice)
    loaded = ""
    if config.init and not config.resume:
        loaded = ckpt.load_init_weights(model, config.init)
        say("init: " + loaded)
    if not config.resume and not loaded.startswith("whole model"):
        model.ordinal.init_from_targets(train_loader.targets)
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = wrap_distributed(model, info_dist, device)

    trainer = Trainer(config, model, train_loader, val_loader, val_set.samples, device, info_dist, stop_event,
                      progress=show, log=say, pause_event=pause_event,
                      split_record=ckpt.encode_split(split_parts(train_samples, val_samples, calib_samples)))
    for event, functions in (callbacks or {}).items():
        for function in functions:
            trainer.add_callback(event, function)
    if config.resume:
        trainer.restore(previous)
        say(f"resumed from {resume_from} at epoch {trainer.epoch}, step {trainer.step}")
    result = trainer.run()
    calibration = {}
    calib_faces = len(calib_set.samples) if calib_set is not None else 0
    if info_dist.main and not result["stopped"] and 0 < calib_faces < MIN_FACES:
        say(f"calibration skipped: {calib_faces} held-out faces for it (needs {MIN_FACES}); run "
            "`python -m trainer calibrate` on more labelled faces the model never trained on")
    elif info_dist.main and not result["stopped"] and calib_faces and config.calibration != "none":
        from trainer.calibrate import calibrate_checkpoint

        say(f"calibrating on {len(calib_set.samples)} held-out faces ({config.calibration})")
        fitted = calibrate_checkpoint(out / "best.pt", calib_set, config.calibration, flip=True, device=device,
                                      progress=_progress(show), seed=config.seed)
        calibration = {"calibration": fitted.method, "calibration_n": fitted.n, "temperature": fitted.temperature,
                       "calibration_fallback": fitted.fallback, "calibration_before": fitted.before,
                       "calibration_after": fitted.after}
        say(f"{fitted.describe()}; before {json.dumps(fitted.before)}; after {json.dumps(fitted.after)}")
    last = result["history"][-1] if result["history"] else {}
    summary = {
        "out": str(out), "epochs_done": result["epoch"], "stopped": result["stopped"],
        "best_val_mae": result["best_mae"], "train": len(train_set.samples), "val": len(val_set.samples),
        "calib": len(calib_set.samples) if calib_set else 0, **calibration,
        "no_face": len(train_set.no_face) + len(val_set.no_face), "duplicates_dropped": info["duplicates_dropped"],
        "problems": len(problems), "device": str(device), "world_size": info_dist.world,
        **{k: v for k, v in last.items() if k != "epoch"},
        "best": str(best_checkpoint(out)), "last": str(out / "last.pt"), "split_file": str(out / "split.json"),
        "history": result["history"],
        "rank": info_dist.rank,
    }
    if info_dist.world > 1:
        dist.destroy_process_group()
    return summary
