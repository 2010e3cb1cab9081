"""`python -m trainer {train, evaluate, calibrate, predict, export}`: progress on stderr, one JSON line last on stdout.

Also runs under torchrun for data-parallel training:
    torchrun --nproc_per_node 2 -m trainer train --data ... --out ...
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path

from ageapp.core.calibration_fit import MIN_FACES, MIN_MAP_FACES
from ageapp.core.model_description import NETS as NET_NAMES

FORMATS = ("auto", "fgnet", "utkface", "csv", "adience", "megaage", "project")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _finish(payload: dict, ok: bool = True) -> int:
    print(json.dumps(payload, default=str), flush=True)
    return 0 if ok else 1


def _fail(message: str) -> int:
    _log(f"error: {message}")
    return _finish({"error": message}, ok=False)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True,
                        help="image folder with age labels, or an .ageproj project (its references with known ages "
                             "and its queries' comparison posteriors; --format project)")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="how labels are read (default: auto)")
    parser.add_argument("--aligned", action="store_true", help="images are already face crops (UTKFace chips)")
    parser.add_argument("--detector", default=None, help="YuNet .onnx face detector (else $AGEAPP_DETECTOR, else Haar)")
    parser.add_argument("--cache-dir", default=None, help="where face crops are cached (default ~/.cache/ageapp/crops)")
    parser.add_argument("--workers", type=int, default=0, help="processes for face detection (0: in-process)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train an age network")
    _data_arguments(train)
    train.add_argument("--also", action="append", default=[], metavar="PATH",
                       help="another labelled folder or .ageproj project to train on too (format detected; "
                            "repeatable), e.g. FG-NET")
    split = train.add_mutually_exclusive_group()
    split.add_argument("--val", default=None, help="a separate validation folder")
    split.add_argument("--val-split", type=float, default=0.2, help="held-out fraction (default 0.2; by subject)")
    train.add_argument("--project-posterior", default="likelihood", choices=("likelihood", "prior"),
                       help="a project's queries: learn from their likelihood-only posteriors (the answers under the "
                            "uniform prior; default), or from the posteriors as labelled (prior x likelihoods: with "
                            "the model prior, partly the model's own opinion)")
    train.add_argument("--calib-split", type=float, default=0.25,
                       help="share of the held-out part kept apart to calibrate the posterior after training "
                            "(default 0.25; 0 skips calibration)")
    train.add_argument("--calibration", default="mondrian", choices=("none", "temperature", "isotonic", "mondrian"),
                       help="calibration fitted after training (see `calibrate --method`; default mondrian)")
    train.add_argument("--out", required=True, help="run folder: checkpoints, split.json, config.json")
    train.add_argument("--net", default="mobilefacenet", choices=NET_NAMES)
    train.add_argument("--init", default=None, help="start from this checkpoint (ours, MobileFaceNet, state dict)")
    train.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                       help="no ImageNet weights for mobilenet_v3_small / resnet18 (random initialisation)")
    train.add_argument("--loss", default="joint", choices=("joint", "kl", "hyper"))
    train.add_argument("--head", default="paper", choices=("paper", "concentration"))
    train.add_argument("--age-max", type=int, default=100)
    train.add_argument("--beta", type=float, default=0.36)
    train.add_argument("--lam", type=float, default=1.0, help="weight of L_hyper in the joint loss")
    train.add_argument("--gender-weight", type=float, default=5.0, help="weight of the gender cross-entropy")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch", type=int, default=64)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--backbone-lr-mult", type=float, default=1.0,
                       help="backbone learning rate = lr x this (e.g. 0.1 to fine-tune a pretrained backbone gently)")
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--schedule", default="cosine", choices=("cosine", "onecycle"))
    train.add_argument("--size", type=int, default=112, help="input height; width follows 112:96")
    train.add_argument("--no-augment", dest="augment", action="store_false")
    train.add_argument("--balance", type=float, default=0.0,
                       help="draw faces of rare ages more often: weight = smoothed age density ** -BALANCE (0.5: "
                            "square-root inverse frequency; default 0, every face once an epoch)")
    train.add_argument("--degrade", type=float, default=0.5,
                       help="share of training faces whose picture quality is lowered at random (noise, blur, low "
                            "resolution, JPEG, exposure, contrast, colour; default 0.5; 0 for none)")
    train.add_argument("--consistency", type=float, default=0.0,
                       help="show every face twice, clean and degraded, and add this weight times the Jensen-"
                            "Shannon divergence of their age posteriors (AugMix; about twice the time an epoch; "
                            "needs --degrade > 0, though every second view is degraded whatever its share; "
                            "default 0: off)")
    train.add_argument("--no-amp", dest="amp", action="store_false")
    train.add_argument("--channels-last", action="store_true")
    train.add_argument("--compile", action="store_true",
                       help="torch.compile the training steps (about 1.5x faster on a CPU, after a one-off ~2 min)")
    train.add_argument("--template", default="chip", choices=("chip", "mfn"),
                       help="face template of the crops (default chip: the layout of an aligned face chip)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--resume", action="store_true", help="continue RUNDIR/last.pt")
    train.add_argument("--limit", type=int, default=None, help="use at most N images (quick tests)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    evaluate = commands.add_parser("evaluate", help="metrics of a model on labelled data")
    _data_arguments(evaluate)
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--split-file", default=None, help="evaluate only the held-out part saved by train")
    evaluate.add_argument("--batch", type=int, default=128)
    evaluate.add_argument("--limit", type=int, default=None)
    evaluate.add_argument("--no-flip", dest="flip", action="store_false",
                          help="no test-time flip (by default each posterior is averaged with its mirror image's)")
    evaluate.add_argument("--uncalibrated", action="store_true", help="metrics of the raw posteriors")
    evaluate.add_argument("--plot", default=None, metavar="FILE.png",
                          help="write a reliability diagram and the error by age")
    evaluate.add_argument("--quiet", action="store_true")

    calibrate = commands.add_parser("calibrate", help="fit a model's posterior calibration on held-out faces")
    _data_arguments(calibrate)
    calibrate.add_argument("--model", required=True, help="the checkpoint to calibrate (rewritten unless --out)")
    calibrate.add_argument("--out", default=None, help="write the calibrated checkpoint here instead")
    calibrate.add_argument("--split-file", default=None,
                           help="only the calibration part of a run's split.json (else every face in --data: "
                                "faces the model never trained on)")
    calibrate.add_argument("--method", default="mondrian", choices=("none", "temperature", "isotonic", "mondrian"),
                           help="mondrian (default): temperature and CDF map per picture-quality band, fitted on "
                                "the faces and degraded copies of them, then a temperature per predicted-age band "
                                "from 40 up; isotonic: one temperature and CDF map; fewer than "
                                f"{MIN_MAP_FACES} faces: a temperature; fewer than {MIN_FACES}: refused")
    calibrate.add_argument("--save-inputs", default=None, metavar="FILE.npz",
                           help="also save the raw posteriors, ages and quality scores it was fitted on")
    calibrate.add_argument("--no-flip", dest="flip", action="store_false",
                           help="fit on single posteriors (for use without test-time flip)")
    calibrate.add_argument("--limit", type=int, default=None)
    calibrate.add_argument("--quiet", action="store_true")

    predict = commands.add_parser("predict", help="age posterior of the faces in images")
    predict.add_argument("--model", required=True)
    predict.add_argument("images", nargs="+")
    predict.add_argument("--aligned", action="store_true", help="images are already face crops")
    predict.add_argument("--detector", default=None)
    predict.add_argument("--device", default="cpu")
    predict.add_argument("--posterior", action="store_true", help="include the full posterior per face")
    predict.add_argument("--no-flip", dest="flip", action="store_false", help="no test-time flip")
    predict.add_argument("--quiet", action="store_true")

    export = commands.add_parser("export", help="export a model to ONNX and/or a slim checkpoint for inference")
    export.add_argument("--model", required=True)
    export.add_argument("--onnx", help="write an ONNX model here (checked against torch)")
    export.add_argument("--checkpoint", help="write a copy without optimizer state here (what the app ships)")
    export.add_argument("--no-check", dest="check", action="store_false", help="skip the onnxruntime comparison")
    return parser


def command_train(args) -> int:
    from trainer.config import TrainConfig
    from trainer.train import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    config = TrainConfig(**values)
    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        _log("stop requested: finishing the current batch and saving a checkpoint (press again to abort)")
        stop.set()

    previous = signal.signal(signal.SIGINT, on_signal)
    try:
        if _records_in_project(config):
            return _train_recorded(config, stop, args.quiet)
        summary = train(config, stop_event=stop, log=_log, progress=not args.quiet)
    finally:
        signal.signal(signal.SIGINT, previous)
    summary.pop("history", None)
    if summary.pop("rank", 0) != 0:  # under torchrun only rank 0 writes the JSON line
        return 0
    return _finish(summary)


def _records_in_project(config) -> bool:
    """A run on a project (--data P.ageproj) is recorded in it (not under torchrun: one process records)."""
    import os

    return (config.format == "project" or str(config.data).endswith(".ageproj")) \
        and int(os.environ.get("WORLD_SIZE", "1")) <= 1


def _train_recorded(config, stop, quiet: bool) -> int:
    from dataclasses import asdict

    from trainer.runs import RunControl, run_resumed_from, train_recorded

    project = Path(config.data).expanduser()
    resume_id = run_resumed_from(project, config.out) if config.resume else None
    if config.resume and resume_id is None:
        raise ValueError(f"--resume: {project.name} records no run in {config.out}; start without --resume")
    outcome = train_recorded(project, asdict(config), resume_id,
                             RunControl(stop_event=stop, log=_log, progress=not quiet))
    payload = {key: value for key, value in outcome.summary.items() if key not in ("history", "rank")}
    payload.update({"run_id": outcome.run_id, "status": outcome.status, "project": str(project),
                    "checkpoint": outcome.checkpoint})
    if outcome.status == "failed":
        _log(f"error: {outcome.message}")
        return _finish({**payload, "error": outcome.message}, ok=False)
    return _finish(payload)


def _load_model(args):
    import torch

    from trainer.checkpoint import model_from_checkpoint
    from trainer.runtime import pick_device

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model, checkpoint = model_from_checkpoint(args.model, device)
    return model, checkpoint["description"], device


def command_evaluate(args) -> int:
    from trainer.evaluate import evaluate_model, load_labelled_crops, point_estimates
    from trainer.train import _progress

    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise ValueError(f"--plot writes a PNG: name the file *.png, not {args.plot}")
    model, description, device = _load_model(args)
    progress = _progress(not args.quiet)
    crops, info = load_labelled_crops(args.data, args.format, args.aligned, description.template, args.split_file,
                                      "val", args.limit, args.detector, args.cache_dir, args.workers, progress, _log)
    if not crops.samples:
        found = (f" ({info.get('no_face', 0)} without a face found, {info.get('problems', 0)} unreadable or "
                 "without an age)") if info.get("no_face") or info.get("problems") else ""
        raise ValueError(f"no labelled face to evaluate on in {args.data}{found}: point --data at a folder of "
                         "face images with their ages (FG-NET, UTKFace, a CSV or a project), or check --format")
    metrics, prediction, raw = evaluate_model(model, description, crops, device, args.batch, args.flip,
                                              not args.uncalibrated, progress)
    metrics.update({"model": args.model, **info})
    if args.plot and crops.samples:
        from trainer.plots import write_evaluation_plot

        true = [s.true_age for s in crops.samples]
        estimates = point_estimates(prediction, description.hyper_only)["mean"]
        write_evaluation_plot(args.plot, prediction["posterior"], true, estimates,
                              title=f"{Path(args.model).name}: MAE {metrics['mae']:.2f}, {metrics['n']} faces",
                              raw_posteriors=None if description.calibration.is_identity else raw)
        metrics["plot"] = str(args.plot)
    return _finish(metrics)


def command_calibrate(args) -> int:
    from trainer.calibrate import calibrate_checkpoint
    from trainer.evaluate import load_labelled_crops
    from trainer.train import _progress

    _, description, device = _load_model(args)
    progress = _progress(not args.quiet)
    crops, info = load_labelled_crops(args.data, args.format, args.aligned, description.template, args.split_file,
                                      "calibration", args.limit, args.detector, args.cache_dir, args.workers,
                                      progress, _log)
    calibration = calibrate_checkpoint(args.model, crops, args.method, flip=args.flip, device=device,
                                       progress=progress, out=args.out, save_inputs=args.save_inputs)
    _log(f"{calibration.describe()}: temperature {calibration.temperature:.3f}; "
         f"coverage 50/80/90/95% before {_levels(calibration.before)}, after {_levels(calibration.after)}")
    return _finish({"model": str(args.out or args.model), "method": calibration.method, "n": calibration.n,
                    "faces": len(crops.samples), "fallback": calibration.fallback,
                    "temperature": round(calibration.temperature, 4), "flip": calibration.flip,
                    "before": calibration.before, "after": calibration.after,
                    "conformal": calibration.conformal, **info})


def _levels(report: dict) -> str:
    return "/".join(f"{report.get(f'coverage{q}', float('nan')):.1f}" for q in (50, 80, 90, 95))


def command_predict(args) -> int:
    import numpy as np
    import torch

    from ageapp.faces.alignment import detect_faces, face_from_aligned_crop
    from ageapp.faces.detection import make_detector
    from ageapp.faces.images import ImageError, load_image
    from trainer.evaluate import apply_calibration, point_estimates, predict_crops
    from trainer.train import _progress

    model, description, device = _load_model(args)
    detector = make_detector(args.detector, strict=True)  # a named file that is no YuNet: DetectorError
    _log(detector.notice)
    results = []
    for path in _progress(not args.quiet)(args.images, desc="images"):
        entry = {"path": path, "faces": []}
        try:
            image = load_image(path)
        except ImageError as error:
            entry["error"] = str(error)
            results.append(entry)
            continue
        template = description.template
        faces = ([face_from_aligned_crop(image, detector, template)] if args.aligned
                 else detect_faces(image, detector, template))
        if faces:
            crops = torch.from_numpy(np.stack([face.crop for face in faces]))
            prediction = predict_crops(model, crops, 32, description.size, device, flip=args.flip)
            prediction["posterior"] = apply_calibration(description, prediction["posterior"], crops)
            est = point_estimates(prediction, hyper_only=description.hyper_only)
            for i, face in enumerate(faces):
                item = {"box": [round(v, 1) for v in face.box], "mean": round(float(est["mean"][i]), 2),
                        "mode": int(est["mode"][i]), "ci_low": int(est["ci_low"][i]),
                        "ci_high": int(est["ci_high"][i]), "p_female": round(float(prediction["p_female"][i]), 4),
                        "gender": "female" if prediction["p_female"][i] > 0.5 else "male"}
                if args.posterior:
                    item["posterior"] = [round(float(p), 6) for p in prediction["posterior"][i]]
                entry["faces"].append(item)
                if not args.quiet:
                    confidence = max(item["p_female"], 1.0 - item["p_female"])
                    _log(f"{path} face {i + 1}: age {item['mean']:.0f} (90%: {item['ci_low']}-{item['ci_high']}), "
                         f"{item['gender']} {confidence:.0%}")
        results.append(entry)
    return _finish({"model": args.model, "results": results})


def command_export(args) -> int:
    from trainer.export import export_onnx

    from trainer.checkpoint import save_for_inference

    if not (args.onnx or args.checkpoint):
        raise ValueError("export needs --onnx FILE and/or --checkpoint FILE")
    summary = {}
    if args.checkpoint:
        summary.update(save_for_inference(args.model, args.checkpoint))
    if args.onnx:
        summary.update(export_onnx(args.model, args.onnx, check=args.check))
    return _finish(summary)


TRAINING_EXTRA = ("training needs the training extra (torch and torchvision), which is not installed here: "
                  "pip install 'ageapp[train]' (`make run` installs it)")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        return _fail(TRAINING_EXTRA)
    from trainer.checkpoint import CheckpointError

    handlers = {"train": command_train, "evaluate": command_evaluate, "calibrate": command_calibrate,
                "predict": command_predict, "export": command_export}
    try:
        return handlers[args.command](args)
    except (CheckpointError, FileNotFoundError, ValueError, NotImplementedError, RuntimeError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
