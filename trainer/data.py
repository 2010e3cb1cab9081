"""Training data: labelled samples from a pluggable source, face crops decoded once into a uint8 cache,
de-duplication, seeded splits, and a batch loader that augments whole batches as tensors.

Sources (`make_source`): a folder read by `ageapp.datasets.scan.scan` (any of its formats), or a project
(.ageproj: `ProjectSource`, whose crops are stored in the project and used as they are, never cached). A
source yields `Sample`s; a folder's crops come from the one face pipeline (`ageapp.faces`):
known landmarks -> aligned; face crops (`--aligned`, and always for formats whose images are aligned chips,
such as UTKFace) -> `face_from_aligned_crop`; photos -> the largest detected face. Crops (112 x 96 BGR uint8) are cached in a .npz keyed by the folder, format and
detector, and indexed by each file's content hash, so a second run skips detection.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from trainer.targets import make_target

CROP_H, CROP_W = 112, 96
# Formats whose images are always aligned face chips (a face filling the frame defeats a photo detector).
ALIGNED_FORMATS = {"utkface"}
PIPELINE_VERSION = 2  # bump when the crops a given file produces change (2: chips cropped from the chip itself)
NO_GENDER = -1


@dataclass
class Sample:
    """One labelled image. key = SHA-1 of the file's bytes (de-duplication, splits, cache)."""

    key: str
    path: str
    age: float | None = None
    age_min: float | None = None
    age_max: float | None = None
    gender: int = NO_GENDER
    subject: str | None = None
    posterior: np.ndarray | None = field(default=None, repr=False)
    landmarks: np.ndarray | None = field(default=None, repr=False)
    aligned: bool = False  # the image is already a face crop
    crop_bytes: bytes | None = field(default=None, repr=False)  # a stored crop (JPEG, a project's face)
    project: str | None = None  # the .ageproj it came from
    crop_template: str | None = None  # the face template a stored crop was made with

    @property
    def true_age(self) -> float | None:
        """The age metrics compare against: the exact age, a range's midpoint, or a posterior's mode."""
        if self.age is not None:
            return float(self.age)
        if self.age_min is not None and self.age_max is not None:
            return (float(self.age_min) + float(self.age_max)) / 2.0
        if self.posterior is not None:
            return float(np.argmax(self.posterior))
        return None

    def target(self, age_max: int) -> np.ndarray:
        return make_target(age_max, self.age, self.age_min, self.age_max, self.posterior)


def file_hash(path: str | Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------------- sources
class FolderSource:
    """A folder of labelled images, read by ageapp.datasets.scan.scan(root, fmt)."""

    def __init__(self, root: str | Path, fmt: str = "auto", aligned: bool = False):
        self.root = Path(root).expanduser().resolve()
        self.fmt = fmt
        self.aligned = aligned
        if not self.root.exists():
            raise FileNotFoundError(f"data folder {self.root} does not exist")

    @property
    def identity(self) -> str:
        return f"folder:{self.root}:{self.fmt}:aligned={self.aligned}"

    def samples(self, progress: Callable[[Iterable], Iterable] = lambda it: it) -> tuple[list[Sample], list[str]]:
        """All labelled samples and the problems found (unreadable names, unlabelled files ...)."""
        records, problems = _scan(self.root, self.fmt)
        samples = []
        for record in progress(records):
            age = getattr(record, "age", None)
            low, high = getattr(record, "age_min", None), getattr(record, "age_max", None)
            if age is None and (low is None or high is None):
                problems.append(f"{record.path}: no age label, skipped")
                continue
            try:
                key = file_hash(record.path)
            except OSError as error:
                problems.append(f"{record.path}: cannot read ({error})")
                continue
            gender = getattr(record, "gender", None)
            landmarks = getattr(record, "landmarks", None)
            samples.append(Sample(
                key=key, path=str(record.path), age=age, age_min=low, age_max=high,
                gender=NO_GENDER if gender is None else int(gender),
                subject=None if getattr(record, "subject", None) is None else str(record.subject),
                landmarks=None if landmarks is None else np.asarray(landmarks, np.float32),
                aligned=self.aligned or getattr(record, "source_format", None) in ALIGNED_FORMATS,
            ))
        return samples, problems


class ProjectSource:
    """The labelled faces of an .ageproj project (method.md section 3's three kinds of target): references
    with an exact age (Gaussian, sigma 2) or an age range (range target), and queries with a comparison
    posterior (used as it is, resampled onto 0..age_max; its "true age" is the posterior's mode). Crops are
    the aligned crops stored in the project's faces table: no detection, and no crop cache (they are stored
    already, and a cache keyed by the project could go stale as labels change). `labels_digest` (after
    `samples()`) changes whenever a label, a posterior or a face changes."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser().resolve()
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a folder: --format project reads a .ageproj project file "
                             "(for an image folder use --format auto or the folder's format)")
        if not self.path.is_file():
            raise FileNotFoundError(f"project {self.path} does not exist")
        self.labels_digest: str | None = None
        self.counts: dict[str, int] = {}

    @property
    def identity(self) -> str:
        return f"project:{self.path}"

    def samples(self, progress: Callable[[Iterable], Iterable] = lambda it: it) -> tuple[list[Sample], list[str]]:
        from ageapp.store.db import ProjectError, open_project
        from ageapp.store.training_data import labelled_faces

        try:
            db = open_project(self.path, read_only=True)
        except ProjectError as error:
            raise ValueError(str(error)) from None
        try:
            found = labelled_faces(db)
        finally:
            db.close()
        self.labels_digest = found.digest
        samples, problems = [], []
        counts = {"exact": 0, "range": 0, "queries": 0}
        for face in progress(found.faces):
            if face.crop is None:
                problems.append(f"{face.path}: no face in the project (image {face.image_id}), skipped")
                continue
            kind = "queries" if face.posterior is not None else "exact" if face.age is not None else "range"
            counts[kind] += 1
            samples.append(Sample(
                key=face.sha1, path=str(face.path), age=face.age, age_min=face.age_min, age_max=face.age_max,
                gender=NO_GENDER if face.gender is None else int(face.gender), subject=face.subject,
                posterior=face.posterior, crop_bytes=face.crop, project=str(self.path), crop_template=face.template,
            ))
        self.counts = counts
        if not samples:
            raise ValueError(f"{self.path.name} has no labelled faces yet: import references with known ages, "
                             "or label some queries by comparison, then train")
        return samples, problems


def make_source(path: str | Path, fmt: str = "auto", aligned: bool = False):
    if fmt == "project" or str(path).endswith(".ageproj"):
        return ProjectSource(path)
    return FolderSource(path, fmt, aligned)


def _scan(root: Path, fmt: str):
    from ageapp.datasets.scan import scan

    result = scan(root, fmt)
    problems = [f"{problem.path}: {problem.reason}" + (" (kept)" if getattr(problem, "kept", False) else "")
                for problem in result.problems]
    return list(result.records), problems


# ---------------------------------------------------------------------------------------------------- de-dup/split
def deduplicate(samples: Sequence[Sample]) -> tuple[list[Sample], int]:
    """Keep the first sample of each content hash; returns (unique, number dropped)."""
    seen, unique = set(), []
    for sample in samples:
        if sample.key not in seen:
            seen.add(sample.key)
            unique.append(sample)
    return unique, len(samples) - len(unique)


def split_samples(samples: Sequence[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Seeded split; samples of one subject (FG-NET style) always land on the same side."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"--val-split must be between 0 and 1, got {val_fraction}")
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        group = f"subject:{sample.subject}" if sample.subject is not None else f"file:{sample.key}"
        groups.setdefault(group, []).append(sample)
    names = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(names))
    wanted = int(round(val_fraction * len(samples)))
    val_groups, count = set(), 0
    for i in order:
        if count >= wanted:
            break
        val_groups.add(names[i])
        count += len(groups[names[i]])
    train = [s for s in samples if _group(s) not in val_groups]
    val = [s for s in samples if _group(s) in val_groups]
    return train, val


def _group(sample: Sample) -> str:
    return f"subject:{sample.subject}" if sample.subject is not None else f"file:{sample.key}"


def split_calibration(held_out: Sequence[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(validation, calibration): a seeded share of the held-out part, by subject like the split itself, kept
    for fitting the posterior's calibration after training (never trained on, never used to pick best.pt)."""
    if fraction <= 0 or len(held_out) < 2:
        return list(held_out), []
    if fraction >= 1:
        raise ValueError(f"--calib-split must be below 1 (a share of the held-out part), got {fraction}")
    validation, calibration = split_samples(held_out, fraction, seed + 1)
    return validation, calibration


SPLIT_PARTS = ("val", "calibration")


def save_split(path: str | Path, val: Sequence[Sample], calibration: Sequence[Sample] = (), **info) -> None:
    """The held-out part as {key, path} rows, for `evaluate --split-file` ("val") and `calibrate
    --split-file` ("calibration")."""
    rows = lambda samples: [{"key": s.key, "path": s.path} for s in samples]  # noqa: E731
    payload = {"kind": "ageapp-heldout-split", "version": 2, **info, "val": rows(val),
               "calibration": rows(calibration)}
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def load_split_keys(path: str | Path, part: str = "val") -> set[str]:
    """The content keys of one part of a split file ("val" or "calibration")."""
    if part not in SPLIT_PARTS:
        raise ValueError(f"unknown split part {part!r}: choose one of {', '.join(SPLIT_PARTS)}")
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read as a split file ({error})") from None
    if not isinstance(payload, dict) or payload.get("kind") != "ageapp-heldout-split":
        raise ValueError(f"{path} is not a split file written by `python -m trainer train`")
    rows = payload.get(part) or []
    if part == "calibration" and not rows:
        raise ValueError(f"{path} has no calibration part (written before calibration existed): calibrate on "
                         "other labelled faces the model never trained on")
    return {row["key"] for row in rows if isinstance(row, dict) and "key" in row}


# ---------------------------------------------------------------------------------------------------- crops
_WORKER_DETECTOR = None


def _init_worker(detector_path):
    global _WORKER_DETECTOR
    from ageapp.faces.detection import make_detector

    _WORKER_DETECTOR = make_detector(detector_path)


def _crop_one(job) -> np.ndarray | None:
    """The aligned crop of one file, or None (no face / unreadable)."""
    path, landmarks, aligned, template = job
    from ageapp.faces.alignment import detect_faces, face_from_aligned_crop, face_from_landmarks
    from ageapp.faces.images import ImageError, load_image

    try:
        image = load_image(path)
    except ImageError:
        return None
    if landmarks is not None:
        return face_from_landmarks(image, landmarks, "annotation", template).crop
    if aligned:
        return face_from_aligned_crop(image, _WORKER_DETECTOR, template).crop
    faces = detect_faces(image, _WORKER_DETECTOR, template)
    return faces[0].crop if faces else None


def default_cache_dir() -> Path:
    return Path(os.environ.get("AGEAPP_CACHE_DIR", Path.home() / ".cache" / "ageapp" / "crops"))


def detector_identity(detector_path: str | None) -> str:
    from ageapp.faces.detection import make_detector

    detector = make_detector(detector_path)
    return f"{detector.name}:{getattr(detector, 'model_path', '')}", detector.notice


def cache_file(cache_dir: Path, source_identity: str, detector_id: str, template: str) -> Path:
    key = hashlib.sha1(f"{source_identity}|{detector_id}|{template}|v{PIPELINE_VERSION}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"crops-{key}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray | None]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            crops = data["crops"]
            found = {str(k): crops[i] for i, k in enumerate(data["keys"])}
            found.update({str(k): None for k in data["no_face"]})
            return found
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache is rebuilt


def _write_cache(path: Path, table: dict[str, np.ndarray | None]) -> None:
    keys = sorted(k for k, v in table.items() if v is not None)
    crops = np.stack([table[k] for k in keys]) if keys else np.zeros((0, CROP_H, CROP_W, 3), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, keys=np.array(keys, dtype="U40"), crops=crops,
             no_face=np.array(sorted(k for k, v in table.items() if v is None), dtype="U40"))
    os.replace(tmp, path)


@dataclass
class CropSet:
    """Samples with a face, their crops (N, 112, 96, 3) uint8 BGR, and the samples without one."""

    samples: list[Sample]
    crops: torch.Tensor
    no_face: list[Sample]


def build_crops(samples: Sequence[Sample], source_identity: str, detector_path: str | None = None,
                aligned: bool = False, cache_dir: str | Path | None = None, workers: int = 0,
                progress: Callable = lambda it, **kw: it, log: Callable[[str], None] = print,
                template: str | None = None) -> CropSet:
    """Crops for the samples, on the named face template (default: the current one): stored ones (a
    project's) decoded, and converted where they were made with another template; the others from the
    cache where present, computed (and cached) otherwise."""
    from ageapp.faces.alignment import CURRENT_TEMPLATE

    template = template or CURRENT_TEMPLATE
    table = stored_crops([s for s in samples if s.crop_bytes is not None], template)
    files = [s for s in samples if s.crop_bytes is None]
    if files:
        table.update(_file_crops(files, source_identity, detector_path, aligned, cache_dir, workers, progress, log,
                                 template))
    with_face = [s for s in samples if table.get(s.key) is not None]
    crops = np.stack([table[s.key] for s in with_face]) if with_face else np.zeros((0, CROP_H, CROP_W, 3), np.uint8)
    return CropSet(with_face, torch.from_numpy(np.ascontiguousarray(crops)),
                   [s for s in samples if table.get(s.key) is None])


def stored_crops(samples: Sequence[Sample], template: str) -> dict[str, np.ndarray]:
    """Decode stored crops (112 x 96 BGR; another size is resized; another template converted). A crop that
    does not decode stops the run with the image named: the project is damaged there, and `ageapp check
    --repair` crops it again."""
    import cv2

    from ageapp.faces.alignment import LEGACY_TEMPLATE, convert_crop, decode_crop

    table = {}
    for sample in samples:
        try:
            crop = decode_crop(sample.crop_bytes)
        except ValueError:
            raise ValueError(
                f"the stored face crop of {sample.path} is damaged and cannot be decoded: run "
                f"`ageapp check --repair {sample.project or 'PROJECT'}` to crop it again from its image file, "
                "then train again"
            ) from None
        if crop.shape[:2] != (CROP_H, CROP_W):
            crop = cv2.resize(crop, (CROP_W, CROP_H), interpolation=cv2.INTER_AREA)
        table[sample.key] = convert_crop(crop, sample.crop_template or LEGACY_TEMPLATE, template)
    return table


def _file_crops(samples, source_identity, detector_path, aligned, cache_dir, workers, progress, log, template):
    detector_id, notice = detector_identity(detector_path)
    log(notice)
    path = cache_file(Path(cache_dir) if cache_dir else default_cache_dir(), source_identity, detector_id, template)
    table = _read_cache(path)
    todo = list({s.key: s for s in samples if s.key not in table}.values())
    if table:
        log(f"crop cache {path}: {len(samples) - len(todo)} of {len(samples)} crops found")
    if todo:
        jobs = [(s.path, s.landmarks, aligned or s.aligned, template) for s in todo]
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers, _init_worker, (detector_path,)) as pool:
                results = list(progress(pool.imap(_crop_one, jobs, chunksize=16), total=len(jobs),
                                        desc="face crops"))
        else:
            _init_worker(detector_path)
            results = [_crop_one(job) for job in progress(jobs, total=len(jobs), desc="face crops")]
        for sample, crop in zip(todo, results):
            table[sample.key] = crop
        try:
            _write_cache(path, table)
            log(f"crop cache written: {path}")
        except OSError as error:
            log(f"could not write the crop cache {path}: {error}")
    return table


# ----------------------------------------------------------------------------------------------- tensors + aug
def input_width(height: int) -> int:
    """Input width for an input height, keeping the 112:96 aspect."""
    return int(round(height * CROP_W / CROP_H))


def targets_tensor(samples: Sequence[Sample], age_max: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([s.target(age_max) for s in samples]).astype(np.float32))


def genders_tensor(samples: Sequence[Sample]) -> torch.Tensor:
    return torch.tensor([s.gender for s in samples], dtype=torch.int64)


@dataclass
class Augment:
    """Batched augmentation: flip, shift, scale (one grid_sample that also resizes), colour jitter."""

    flip: float = 0.5
    shift: float = 0.06  # fraction of the half-size (grid coordinates run -1..1)
    scale: float = 0.08  # zoom factor range 1 +- scale
    rotate_deg: float = 5.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __call__(self, images: torch.Tensor, out_size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        n = images.shape[0]
        rand = lambda: torch.rand(n, generator=generator) * 2 - 1  # noqa: E731  uniform -1..1
        zoom = 1.0 + self.scale * rand()
        angle = torch.deg2rad(self.rotate_deg * rand())
        flip = torch.where(torch.rand(n, generator=generator) < self.flip, -1.0, 1.0)
        tx, ty = self.shift * rand(), self.shift * rand()
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
        b, c, s = 1 + self.brightness * rand(), 1 + self.contrast * rand(), 1 + self.saturation * rand()
        device = images.device
        grid = F.affine_grid(theta.to(device), [n, 3, *out_size], align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        view = lambda t: t.to(device).view(n, 1, 1, 1)  # noqa: E731
        grey = out.mean(dim=1, keepdim=True)
        out = grey + (out - grey) * view(s)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * view(c) + mean
        return (out * view(b)).clamp_(0, 255)


def resize_batch(images: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    if tuple(images.shape[-2:]) == tuple(out_size):
        return images
    return F.interpolate(images, size=out_size, mode="bilinear", align_corners=False, antialias=True)


class BatchLoader:
    """Batches straight from the in-memory uint8 crops: (images float BGR 0..255, targets, genders, indices).

    Order comes from `sampler` (a DistributedSampler under torchrun) or a seeded permutation per epoch;
    augmentation runs on whole batches on the target device; a background thread prepares the next batch.
    """

    def __init__(self, crops: torch.Tensor, targets: torch.Tensor, genders: torch.Tensor, batch_size: int,
                 shuffle: bool = False, augment: Augment | None = None, size: int = CROP_H, seed: int = 0,
                 device: torch.device | str = "cpu", drop_last: bool = False, sampler=None, prefetch: bool = True,
                 channels_last: bool = False):
        self.crops, self.targets, self.genders = crops, targets, genders
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.out_size = (size, input_width(size))
        self.seed, self.device, self.drop_last = seed, torch.device(device), drop_last
        self.sampler, self.prefetch, self.channels_last = sampler, prefetch, channels_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _order(self) -> torch.Tensor:
        if self.sampler is not None:
            return torch.tensor(list(iter(self.sampler)), dtype=torch.int64)
        if self.shuffle:
            return torch.randperm(len(self.crops), generator=torch.Generator().manual_seed(self.seed * 1000 + self.epoch))
        return torch.arange(len(self.crops))

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.crops)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self):
        order = self._order()
        generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch + 1)
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                break
            yield self.make_batch(index, generator)

    def make_batch(self, index: torch.Tensor, generator: torch.Generator):
        images = self.crops[index].to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        if self.augment is not None:
            images = self.augment(images, self.out_size, generator)
        else:
            images = resize_batch(images, self.out_size)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        else:
            images = images.contiguous()
        return images, self.targets[index].to(self.device), self.genders[index].to(self.device), index

    def __iter__(self):
        if not self.prefetch:
            yield from self._batches()
            return
        ready: queue.Queue = queue.Queue(maxsize=2)
        done = object()
        stop = threading.Event()

        def produce():
            try:
                for batch in self._batches():
                    while not stop.is_set():
                        try:
                            ready.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as error:  # surfaced in the consumer
                ready.put(error)
                return
            ready.put(done)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    ready.get_nowait()
                except queue.Empty:
                    thread.join(timeout=0.05)
