"""The shift benchmark (method.md section 7): are the model's intervals honest when the picture is poor?

The model's held-out UTKFace faces (the "val" part of its split file), each also degraded with ImageNet-C
corruptions (the `imagecorruptions` package; Hendrycks and Dietterich, ICLR 2019) at severities 1-5, go through
the app's own path: YuNet on the (degraded) chip, 5-landmark alignment (the chip layout where YuNet finds no
face), the model through ONNX Runtime with test-time flip, and the model's stored calibration.

    python benchmarks/shift.py [--model resources/models/default.onnx] [--limit N] [--corrupted N]
                               [--plot docs/shift_coverage.png] [--table FILE.md]

Clean faces: the whole part (or --limit); corrupted faces: a seeded subset of --corrupted of them (default
1,000, as in the issue's own measurement: 45 conditions of 2,812 faces take hours on two cores).

Per corruption and severity: faces, faces found by the detector, MAE, coverage at 50/80/90/95%, NLL, mean 90%
width, mean quality and the share judged too poor; on clean faces also coverage and MAE by age band (0-12,
13-19, 20-39, 40-59, 60-79, 80+). One JSON line last. The model's raw outputs and the aligned crops are cached
per condition (benchmarks' cache in the system temporary folder, keyed by the model file's hash), so an
interrupted run resumes where it stopped, and a re-run with a new calibration of the same weights, or a new
quality measure (measured again on the cached crops at every run), costs seconds.

The benchmark's corruptions are never used in training (trainer/degrade.py is the training's own degradation,
from torchvision and OpenCV): motion blur, shot noise and pixelation are shifts the model never saw. Fog is no
longer one: the training's haze (its own code) was shaped after seeing this benchmark's fog fail the model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))

from benchmarks.shift_report import condition_metrics, plot_coverage, summary_table  # noqa: E402

CORRUPTIONS = ("gaussian_noise", "shot_noise", "motion_blur", "defocus_blur", "jpeg_compression", "pixelate",
               "brightness", "contrast", "fog")
SEVERITIES = (1, 2, 3, 4, 5)
CLEAN = ("clean", 0)
BATCH = 64
CACHE_FORMAT = 2  # 2: the aligned crops are kept (quality is measured on them at each run)


def load_corrupt():
    """imagecorruptions' `corrupt`, made to import under numpy 2 (its fog uses the removed `np.float_`) and
    without setuptools' removed `pkg_resources` (used only to find its frost images): both restored here,
    in this process only."""
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")

            def resource_filename(package: str, name: str) -> str:
                return str(Path(sys.modules[package].__file__).parent / name)

            shim.resource_filename = resource_filename
            sys.modules["pkg_resources"] = shim
    try:
        with warnings.catch_warnings():  # its own scipy imports are deprecated: not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            from imagecorruptions import corrupt
    except ImportError as error:
        raise SystemExit(f"imagecorruptions is needed for this benchmark ({error}): `make venv` installs it "
                         "(without its opencv-python dependency, which would clash with opencv-python-headless)")
    return corrupt


def held_out_faces(data: str, split_file: str, part: str, limit: int | None, seed: int) -> list[tuple[str, float]]:
    """(path, true age) of the split's part, sorted by path; a seeded subset with --limit."""
    from trainer.samples import make_source
    from trainer.splits import deduplicate, load_split_keys

    samples, _ = make_source(data, "utkface", True).samples()
    samples, _ = deduplicate(samples)
    keys = load_split_keys(split_file, part)
    faces = sorted((s.path, float(s.true_age)) for s in samples if s.key in keys and s.true_age is not None)
    if limit and limit < len(faces):
        chosen = np.sort(np.random.default_rng(seed).choice(len(faces), limit, replace=False))
        faces = [faces[i] for i in chosen]
    return faces


def degraded(image_bgr: np.ndarray, corruption: str, severity: int, seed: int, corrupt) -> np.ndarray:
    """The BGR image with one corruption at one severity (seeded: imagecorruptions draws from np.random)."""
    if corruption == "clean":
        return image_bgr
    np.random.seed(seed % 2**32)
    rgb = np.ascontiguousarray(image_bgr[..., ::-1])
    out = np.asarray(corrupt(rgb, corruption_name=corruption, severity=severity))
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8)[..., ::-1])


def run_condition(faces, corruption: str, severity: int, model, detector, corrupt, seed: int, progress) -> dict:
    """Raw (uncalibrated) outputs of one condition: posterior, P(female), detector found, score, and the aligned
    crops (uint8), on which `with_quality` measures each face's quality."""
    from ageapp.faces.alignment import face_from_aligned_crop
    from ageapp.faces.images import load_image

    index = CORRUPTIONS.index(corruption) + 1 if corruption in CORRUPTIONS else 0
    posterior, female, found, score, crops, kept = [], [], [], [], [], []

    def flush():
        if crops:
            raw, p_female = model.predict_raw(np.stack(crops))
            posterior.append(raw.astype(np.float32))
            female.append(p_female.astype(np.float32))
            crops.clear()

    for i, (path, _) in enumerate(progress(faces, desc=f"{corruption} {severity}" if severity else corruption)):
        image = degraded(load_image(path), corruption, severity, seed * 1_000_003 + i * 101 + index * 11 + severity,
                         corrupt)
        face = face_from_aligned_crop(image, detector, model.template)
        found.append(face.detector != "chip")
        score.append(face.score if face.detector != "chip" else np.nan)
        crops.append(face.crop)
        kept.append(face.crop)
        if len(crops) == BATCH:
            flush()
    flush()
    return {"posterior": np.concatenate(posterior), "female": np.concatenate(female), "found": np.array(found),
            "score": np.array(score, np.float32), "crops": np.stack(kept).astype(np.uint8),
            "age": np.array([age for _, age in faces], np.float32)}


def with_quality(raw: dict) -> dict:
    """The raw outputs with each crop's quality as `ageapp.faces.quality` measures it now: score, noise, blur,
    contrast, brightness, detail."""
    from ageapp.faces.quality import measure

    rows = []
    for crop in raw["crops"]:
        q = measure(crop)
        rows.append([q.score, q.noise, q.blur, q.contrast, q.brightness, q.detail])
    return {**raw, "quality": np.array(rows, np.float32)}


def cache_file(model_path: Path, faces, condition: tuple[str, int], seed: int, flip: bool) -> Path:
    """Raw outputs depend on the weights, the faces, the condition, the seed and flip; not on calibration
    (which lives in the ONNX metadata: only the graph's weights are hashed, so a recalibrated export reuses them)."""
    model = hashlib.sha1(_weights_bytes(model_path)).hexdigest()[:16]
    run = hashlib.sha1(json.dumps([faces, seed, flip, CACHE_FORMAT]).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "ageapp-benchmarks" / "shift" / model / f"{condition[0]}-{condition[1]}-{run}.npz"


def _weights_bytes(model_path: Path) -> bytes:
    """The model's weights without its calibration: an ONNX graph's initializers, else the file."""
    if model_path.suffix.lower() == ".onnx":
        import onnx

        graph = onnx.load(str(model_path)).graph
        return b"".join(t.SerializeToString() for t in graph.initializer)
    return model_path.read_bytes()


def conditions(corruptions, severities) -> list[tuple[str, int]]:
    return [CLEAN] + [(c, s) for c in corruptions for s in severities]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "resources" / "models" / "default.onnx"),
                        help="an ONNX export or checkpoint of ours (default: the shipped model)")
    parser.add_argument("--data", default=str(SHARED / "data" / "utkface" / "images"))
    parser.add_argument("--split-file", default=str(REPO / "resources" / "models" / "default.split.json"))
    parser.add_argument("--part", default="val", choices=("val", "calibration"))
    parser.add_argument("--detector", default=str(SHARED / "models" / "face_detection_yunet.onnx"))
    parser.add_argument("--corruptions", nargs="*", default=list(CORRUPTIONS), choices=CORRUPTIONS)
    parser.add_argument("--severities", nargs="+", type=int, default=list(SEVERITIES), choices=SEVERITIES)
    parser.add_argument("--limit", type=int, default=None, help="a seeded subset of this many faces (all conditions)")
    parser.add_argument("--corrupted", type=int, default=1000,
                        help="corrupted conditions use a seeded subset of this many of the faces (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-flip", dest="flip", action="store_false")
    parser.add_argument("--plot", default=None, metavar="PNG", help="90%% coverage against severity, per corruption")
    parser.add_argument("--table", default=None, metavar="MD", help="write the markdown table of the results here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    for needed in (args.data, args.detector):
        if not Path(needed).exists():
            print(json.dumps({"error": f"{needed} is absent (development data in ../shared)"}))
            return 1

    from tqdm import tqdm

    from ageapp.faces.detection import make_detector
    from ageapp.model import open_model

    progress = lambda it, desc="": tqdm(it, desc=desc, file=sys.stderr, disable=args.quiet,  # noqa: E731
                                        dynamic_ncols=True, leave=False)
    started = time.time()
    corrupt = load_corrupt()
    model = open_model(args.model, flip=args.flip)
    detector = make_detector(args.detector)
    faces = held_out_faces(args.data, args.split_file, args.part, args.limit, args.seed)
    subset = faces
    if args.corrupted and args.corrupted < len(faces):
        chosen = np.sort(np.random.default_rng(args.seed + 1).choice(len(faces), args.corrupted, replace=False))
        subset = [faces[i] for i in chosen]
    results, todo = {}, conditions(args.corruptions, args.severities)
    for number, (corruption, severity) in enumerate(todo, 1):
        these = faces if corruption == "clean" else subset
        stored = cache_file(Path(args.model), these, (corruption, severity), args.seed, args.flip)
        stored.parent.mkdir(parents=True, exist_ok=True)
        if stored.is_file():
            raw = dict(np.load(stored))
        else:
            raw = run_condition(these, corruption, severity, model, detector, corrupt, args.seed, progress)
            partial = stored.with_suffix(".part.npz")
            np.savez_compressed(partial, **raw)
            partial.replace(stored)  # a cut never leaves a half-written condition behind
        raw = with_quality(raw)
        results[f"{corruption}-{severity}"] = condition_metrics(raw, model, with_bands=corruption == "clean")
        elapsed = time.time() - started
        print(f"[{number}/{len(todo)}] {corruption} {severity}: {json.dumps(results[f'{corruption}-{severity}'])}"
              f" ({elapsed:.0f} s, about {elapsed / number * (len(todo) - number):.0f} s left)",
              file=sys.stderr, flush=True)
    if args.plot:
        plot_coverage(results, args.corruptions, args.severities, args.plot, model.path.name)
    if args.table:
        Path(args.table).write_text(summary_table(results, args.corruptions, args.severities))
    print(json.dumps({"model": model.path.name, "calibration": model.description.calibration.method,
                      "faces": len(faces), "corrupted_faces": len(subset), "part": args.part, "flip": args.flip, "seed": args.seed,
                      "seconds": round(time.time() - started, 1), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
