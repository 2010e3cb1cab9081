"""`ageapp estimate IMAGE_OR_DIR…`: every face's age, as one JSON line per face then a summary line; with
`--out FILE.csv|.json` the faces go to the file and stdout carries only the summary. The model and the detector
are ageapp.model's choice: the ones named, else the project's (`--project`), else the defaults."""

from __future__ import annotations

import sys
from contextlib import closing, nullcontext

from ageapp.cli.output import CommandError, finish, json_line


def register(subparsers) -> None:
    parser = subparsers.add_parser("estimate", help="estimate the age of every face in photos (headless)")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    parser.add_argument("--project", metavar="P.ageproj",
                        help="use this project's active model and face detector (unless --model / --detector "
                             "name others); the project is only read")
    parser.add_argument("--model", help="an ONNX export or checkpoint from `python -m trainer` (default: the "
                                        "project's active model, else the shipped model)")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "torch"),
                        help="inference backend (default auto: ONNX Runtime for .onnx files, torch for checkpoints)")
    parser.add_argument("--no-flip", dest="flip", action="store_false",
                        help="no test-time flip (by default each face's posterior is averaged with its mirror image's)")
    parser.add_argument("--detector", help="YuNet .onnx face detector, or 'haar' (default: the project's, else "
                                           "$AGEAPP_DETECTOR, else OpenCV's Haar cascade)")
    parser.add_argument("--out", help="save all faces as .csv (one row per face: box_x ... detector) or .json; "
                                      "stdout then carries only the summary")
    parser.add_argument("--posteriors", metavar="FILE.npz",
                        help="save every face's posterior apart: .npz arrays (posterior, ages, path, face) or a "
                             "long .csv (path, face, age, probability)")
    parser.add_argument("--no-posterior", action="store_true", help="leave the posterior vector out of the lines")
    parser.set_defaults(func=run)


def _open_project(path):
    from ageapp.store.db import open_project
    from ageapp.store.errors import ProjectError

    try:
        return open_project(path, read_only=True)
    except ProjectError as error:
        raise CommandError(f"--project: {error}") from None


def _check_outputs(args):
    from ageapp.estimation.results import POSTERIOR_SUFFIXES, RESULT_SUFFIXES
    from ageapp.files import OutputPathError, check_output_path

    try:  # the outputs are checked before any photo is looked at
        out = check_output_path(args.out, RESULT_SUFFIXES, "results") if args.out else None
        posteriors = check_output_path(args.posteriors, POSTERIOR_SUFFIXES, "posteriors") if args.posteriors else None
    except OutputPathError as error:
        raise CommandError(str(error)) from None
    if out is not None and posteriors is not None and out.resolve() == posteriors.resolve():
        raise CommandError("--out and --posteriors name the same file: give the posteriors their own file")
    return out, posteriors


def run(args) -> int:
    from tqdm import tqdm

    from ageapp.estimation.photos import collect_photos, estimate_photos
    from ageapp.estimation.pipeline import EstimationPipeline
    from ageapp.model import ModelFileError, choose_detector, load_model, open_detector

    out, posteriors_out = _check_outputs(args)
    with (closing(_open_project(args.project)) if args.project else nullcontext()) as db:
        try:
            estimator, model_choice, _ = load_model(args.model, db, backend=args.backend, flip=args.flip)
        except ModelFileError as error:
            raise CommandError(str(error)) from None
        detector_choice = choose_detector(args.detector, db)
    detector = open_detector(detector_choice)
    print(detector.notice, file=sys.stderr)
    print(f"model: {estimator.summary}" + (f" ({model_choice.label()})" if model_choice else ""), file=sys.stderr)
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
            if out is None:
                _print_faces(result, args.no_posterior)
    except ModelFileError as error:  # outputs that turned non-finite on some photo: the model is damaged
        raise CommandError(f"{error} (after {len(results)} of {len(photos)} photos)") from None
    saved = _save(results, out, posteriors_out)
    faces = sum(len(r.estimates) for r in results)
    summary = f"{faces} face(s) in {len(photos) - len(errors)} of {len(photos)} image(s) ({detector.name} detector)"
    if out is not None:
        summary += f"; saved to {out}"
    return finish(summary, {"images": len(photos), "faces": faces,
                            "no_face": sum(1 for r in results if not r.error and not r.estimates),
                            "too_poor": sum(1 for r in results for e in r.estimates
                                            if e.quality is not None and e.quality.too_poor),
                            "errors": errors, "detector": detector.name, "model": str(estimator.path),
                            "model_source": getattr(model_choice, "source", None), "detector_source": detector_choice.source,
                            **saved},
                  ok=len(errors) < len(photos))


def _print_faces(result, no_posterior: bool) -> None:
    from ageapp.estimation.results import result_rows

    for row in result_rows([result], posterior=not no_posterior):
        if "error" not in row:  # (an unreadable photo is in the summary's errors)
            print(json_line(row))


def _save(results, out, posteriors_out) -> dict:
    from ageapp.estimation.results import save_posteriors, save_results

    saved = {}
    try:
        if out is not None:
            saved["out"] = str(save_results(results, out))
        if posteriors_out is not None:
            saved["posteriors"] = str(save_posteriors(results, posteriors_out)[0])
    except OSError as error:
        where = out if "out" not in saved else posteriors_out
        kept = f"; {saved['out']} was written" if saved else ""
        raise CommandError(f"could not write {where} ({error.strerror or error}); nothing was written there{kept}"
                           ) from None
    return saved
