"""`ageapp estimate IMAGE_OR_DIR…`: one JSON line per face, then a summary JSON line."""

from __future__ import annotations

import sys

from ageapp.cli.output import CommandError, finish, json_line


def register(subparsers) -> None:
    parser = subparsers.add_parser("estimate", help="estimate the age of every face in photos (headless)")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    parser.add_argument("--model", help="an ONNX export or checkpoint from `python -m trainer` (default: the shipped "
                                        "model)")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "torch"),
                        help="inference backend (default auto: ONNX Runtime for .onnx files, torch for checkpoints)")
    parser.add_argument("--no-flip", dest="flip", action="store_false",
                        help="no test-time flip (by default each face's posterior is averaged with its mirror image's)")
    parser.add_argument("--detector", help="YuNet .onnx face detector (default: $AGEAPP_DETECTOR, else Haar)")
    parser.add_argument("--out", help="also save all faces as .csv or .json")
    parser.add_argument("--no-posterior", action="store_true", help="leave the posterior vector out of the lines")
    parser.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from ageapp.faces.detection import DetectorError, make_detector
    from ageapp.estimation.photos import RESULT_SUFFIXES, collect_photos, estimate_photos, save_results
    from ageapp.estimation.pipeline import EstimationPipeline
    from ageapp.files import OutputPathError, check_output_path
    from ageapp.model import ModelFileError, load_model

    try:  # the output is checked before any photo is looked at
        out = check_output_path(args.out, RESULT_SUFFIXES, "results") if args.out else None
    except OutputPathError as error:
        raise CommandError(str(error)) from None
    try:
        estimator, _, _ = load_model(args.model, backend=args.backend, flip=args.flip)
    except ModelFileError as error:
        raise CommandError(str(error)) from None
    try:
        detector = make_detector(args.detector, strict=True)
    except DetectorError as error:
        raise CommandError(str(error)) from None
    print(detector.notice, file=sys.stderr)
    print(f"model: {estimator.summary}", file=sys.stderr)
    photos = collect_photos(args.inputs)
    if not photos:
        raise CommandError(f"no images found in {' '.join(args.inputs)}")
    pipeline = EstimationPipeline(detector, estimator, fuse=False)
    results, errors = [], []
    try:
        for result in tqdm(estimate_photos(photos, pipeline), total=len(photos), desc="estimate", file=sys.stderr,
                           disable=len(photos) < 2):
            results.append(result)
            if result.error:
                errors.append({"path": str(result.path), "reason": result.error})
            for index, estimate in enumerate(result.estimates):
                line = {"path": str(result.path), "face": index, **estimate.as_dict()}
                if args.no_posterior:
                    line.pop("posterior")
                print(json_line(line))
    except ModelFileError as error:  # outputs that turned non-finite on some photo: the model is damaged
        raise CommandError(f"{error} (after {len(results)} of {len(photos)} photos)") from None
    if out is not None:
        try:
            save_results(results, out)
        except OSError as error:
            raise CommandError(f"could not write {out} ({error.strerror or error}); nothing was written there, the "
                               "estimates are in the lines above") from None
    faces = sum(len(r.estimates) for r in results)
    summary = f"{faces} face(s) in {len(photos) - len(errors)} of {len(photos)} image(s) ({detector.name} detector)"
    return finish(summary, {"images": len(photos), "faces": faces, "no_face": sum(1 for r in results if not r.error and not r.estimates),
                            "errors": errors, "detector": detector.name, "model": str(estimator.path)},
                  ok=len(errors) < len(photos))
