"""Importing scanned records into a project: hash, de-duplicate, decode, find faces, store.

One thread (the caller's) reads and hashes each file and writes to SQLite; a small pool decodes images and
finds faces, each worker with its own detector (OpenCV detectors are not safe to share between threads).
Every image is committed with its faces in its own transaction, so an interruption (Ctrl-C, a crash, a
cancel from the UI) loses at most the image being written, and running the import again continues where it
stopped: content already in the project is skipped by its hash.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import sqlite_utils

from ageapp.faces.alignment import Face, detect_faces, encode_crop, face_from_aligned_crop, face_from_landmarks
from ageapp.faces.detection import make_detector
from ageapp.faces.images import ImageError, decode_image, read_image_bytes
from ageapp.datasets.records import ImageRecord, ScanResult
from ageapp.store import faces as face_store
from ageapp.store import images as image_store
from ageapp.store.errors import ProjectStorageError

IN_FLIGHT_PER_WORKER = 4  # images read ahead per worker: enough to keep it busy, little memory


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0  # content already in the project (an earlier import)
    duplicates: int = 0  # byte-identical to a file met earlier in this import
    faces_found: int = 0  # imported images with at least one face
    faces_found_by: Counter = field(default_factory=Counter)  # those images by where their faces came from
    faces_stored: int = 0  # all faces, several where a photo shows several people
    without_age: int = 0  # imported images with no age label
    errors: list[dict] = field(default_factory=list)  # {path, reason}: not imported
    detection_failures: int = 0  # of those errors, images the face detector failed on (not the image's fault)
    warnings: list[dict] = field(default_factory=list)  # {path, reason}: imported, but a label or face is missing
    duplicate_files: list[dict] = field(default_factory=list)  # {path, same_as}
    ignored: dict[str, int] = field(default_factory=dict)  # files that are not images, by extension
    interrupted: bool = False

    def as_dict(self) -> dict:
        return {**asdict(self), "faces_found_by": dict(self.faces_found_by)}


@dataclass
class _Decoded:
    """What a worker returns for one image: its size and faces (crops already JPEG-encoded), or an error."""
    width: int = 0
    height: int = 0
    faces: list[tuple[Face, bytes]] = field(default_factory=list)
    error: str | None = None
    detection_failed: bool = False  # the error came from the detector, on an image that decoded


@dataclass
class _Pending:
    record: ImageRecord
    folder: Path  # its root, created with the image (a refused image leaves no root behind)
    relative_path: str
    sha1: str
    size_bytes: int
    result: Future


def find_faces(image: np.ndarray, record: ImageRecord, detector, aligned: bool) -> list[Face]:
    """Every face in the photo; for an already-aligned crop, the one face it is; from the record's own
    landmarks (FG-NET .pts) when detection finds nothing."""
    if aligned:
        return [face_from_aligned_crop(image, detector)]
    found = detect_faces(image, detector)
    if not found and record.landmarks is not None:
        found = [face_from_landmarks(image, record.landmarks, "landmarks")]
    return found


class _Workers:
    """A thread pool whose threads each build their own detector on first use."""

    def __init__(self, count: int, detector_path: str | Path | None, aligned: bool):
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="import")
        self._local = threading.local()
        self._detector_path, self._aligned = detector_path, aligned

    def submit(self, record: ImageRecord, data: bytes) -> Future:
        return self._pool.submit(self._decode, record, data)

    def _decode(self, record: ImageRecord, data: bytes) -> _Decoded:
        if not hasattr(self._local, "detector"):
            self._local.detector = make_detector(self._detector_path)
        try:
            image = decode_image(data)
            found = find_faces(image, record, self._local.detector, self._aligned)
            crops = [(face, encode_crop(face.crop)) for face in found]
        except ImageError as error:
            return _Decoded(error=str(error))
        except (cv2.error, ValueError) as error:  # an image OpenCV decodes but cannot process
            return _Decoded(error=f"face detection failed on this image ({type(error).__name__}: {error})",
                            detection_failed=True)
        return _Decoded(image.shape[1], image.shape[0], crops)

    def close(self, cancel: bool) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


class _Importer:
    def __init__(self, db: sqlite_utils.Database, root: Path, role: str):
        self.db, self.root, self.role = db, Path(os.path.abspath(root)), role
        self.report = ImportReport()
        self.known = image_store.known_hashes(db)  # the project's content before this import
        self.seen: dict[str, Path] = {}  # hash -> first file with that content in this import
        self.root_ids: dict[Path, int] = {}

    def _location(self, path: Path) -> tuple[Path, str]:
        """(root folder, path relative to it): the import folder, or the file's own folder if it lies outside."""
        path = Path(os.path.abspath(path))
        folder = self.root if path.is_relative_to(self.root) else path.parent
        return folder, path.relative_to(folder).as_posix()

    def _root_id(self, folder: Path, create: bool) -> int | None:
        """The root's id; None if it is not in the project and not to be created."""
        if folder not in self.root_ids:
            root_id = image_store.root_id_for(self.db, folder) if create else image_store.root_id_at(self.db, folder)
            if root_id is None:
                return None
            self.root_ids[folder] = root_id
        return self.root_ids[folder]

    def prepare(self, record: ImageRecord, workers: _Workers) -> _Pending | None:
        """Read and hash one file; None when it is not to be imported (counted or reported here)."""
        if not _is_text(str(record.path)):
            self.error(record.path, "the file or folder name is not valid text (UTF-8; copied from an old camera "
                                    "or another system?), so the project cannot store it: rename it and import again")
            return None
        try:
            data = read_image_bytes(record.path)
        except ImageError as error:
            self.error(record.path, str(error))
            return None
        sha1 = hashlib.sha1(data).hexdigest()
        if sha1 in self.seen:
            self.report.duplicates += 1
            self.report.duplicate_files.append({"path": str(record.path), "same_as": str(self.seen[sha1])})
            return None
        if sha1 in self.known:
            self.report.skipped += 1
            return None
        folder, relative_path = self._location(record.path)
        root_id = self._root_id(folder, create=False)
        if root_id is not None and image_store.image_id_at(self.db, root_id, relative_path) is not None:
            self.error(record.path, "a different file was imported from this path before (the file changed "
                                    "since); rename it to import it as a new image")
            return None
        self.seen[sha1] = record.path
        return _Pending(record, folder, relative_path, sha1, len(data), workers.submit(record, data))

    def write(self, pending: _Pending) -> None:
        decoded: _Decoded = pending.result.result()
        record = pending.record
        if decoded.error:
            self.error(record.path, decoded.error)
            self.report.detection_failures += decoded.detection_failed
            return
        with self.db.atomic():
            image_id = image_store.add_image(
                self.db, root_id=self._root_id(pending.folder, create=True), relative_path=pending.relative_path,
                sha1=pending.sha1, size_bytes=pending.size_bytes, source_format=record.source_format, role=self.role,
                width=decoded.width, height=decoded.height, age=record.age, age_min=record.age_min,
                age_max=record.age_max, gender=record.gender, subject=record.subject,
            )
            for face, crop in decoded.faces:
                face_store.add_face(self.db, image_id, box=face.box, landmarks=face.landmarks, score=face.score,
                                    detector=face.detector, crop=crop, template=face.template)
        self._count(record, decoded)

    def _count(self, record: ImageRecord, decoded: _Decoded) -> None:
        self.report.imported += 1
        self.report.without_age += record.age_min is None
        if decoded.faces:
            self.report.faces_found += 1
            self.report.faces_found_by[decoded.faces[0][0].detector] += 1
            self.report.faces_stored += len(decoded.faces)
        else:
            self.report.warnings.append({"path": str(record.path),
                                         "reason": "no face found: imported without a face crop"})

    def error(self, path: Path, reason: str) -> None:
        self.report.errors.append({"path": _printable(str(path)), "reason": reason})


def _is_text(name: str) -> bool:
    """Whether a path survives UTF-8 (a name of undecodable bytes reaches Python with lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    """A path as text that can be printed and stored: undecodable bytes shown as \\udcXX escapes."""
    return name if _is_text(name) else name.encode("utf-8", "backslashreplace").decode("utf-8")


def import_records(
    db: sqlite_utils.Database,
    scanned: ScanResult,
    root: str | Path,
    *,
    role: str,
    detector_path: str | Path | None = None,
    aligned: bool = False,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import scanned records as `role` images; paths are stored relative to `root` (the imported folder).

    on_progress(done, total) follows each record; should_stop() (or Ctrl-C) ends the import early with
    `interrupted` set, everything written so far kept.
    """
    if role not in image_store.ROLES:
        raise ValueError(f"role must be one of {image_store.ROLES}, not {role!r}")
    importer = _Importer(db, root, role)
    report = importer.report
    report.ignored = dict(scanned.ignored)
    for problem in scanned.problems:
        (report.warnings if problem.kept else report.errors).append(
            {"path": _printable(str(problem.path)), "reason": problem.reason})
    pool = _Workers(workers, detector_path, aligned)
    in_flight: deque[_Pending] = deque()
    done, total = 0, len(scanned.records)

    def stopping() -> bool:
        report.interrupted = report.interrupted or (should_stop is not None and should_stop())
        return report.interrupted

    def write_oldest() -> None:
        nonlocal done
        importer.write(in_flight.popleft())
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    try:
        for record in scanned.records:
            if stopping():
                break
            pending = importer.prepare(record, pool)
            if pending is None:
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
            else:
                in_flight.append(pending)
            while len(in_flight) > workers * IN_FLIGHT_PER_WORKER:
                write_oldest()
        while in_flight and not stopping():
            write_oldest()
    except KeyboardInterrupt:
        report.interrupted = True
    except ProjectStorageError as error:  # a full disk, say: the image being written was rolled back
        report.interrupted = True
        report.errors.append({"path": _printable(str(root)), "reason": f"import stopped: {error}"})
    finally:
        pool.close(cancel=report.interrupted)
    return report
