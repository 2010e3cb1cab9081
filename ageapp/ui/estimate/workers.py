"""Background work for the estimate page: loading a model, a batch of photos, the live camera loop.

Each is a QThread with typed signals (labelme's habit); none touches a widget: results travel to the GUI
thread through queued signals (Anki's rule). Cancel with `requestInterruption()` and `wait()`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QThread, Signal

from ageapp.estimation.display import RateMeter
from ageapp.estimation.photos import collect_photos, estimate_photos
from ageapp.estimation.pipeline import AgeModel, EstimationPipeline, FaceEstimate, LivePipeline
from ageapp.faces.detection import FaceDetector

log = logging.getLogger("ageapp.estimate")

NO_CROP = np.zeros((0, 0, 3), np.uint8)
GUI_MAX_RATE = 30.0  # results handed to the GUI per second, at most
CAPTURE_POLL_S = 0.1  # how long the live loop waits for a frame before checking for a stop or a lost camera


class ModelLoadWorker(QThread):
    """Runs `load()` (which may take seconds: torch import, checkpoint read) off the GUI thread."""

    loaded = Signal(object)  # the model (an AgeModel with a `description`)
    failed = Signal(str)  # what went wrong and what to do

    def __init__(self, load: Callable[[], AgeModel], parent=None):
        super().__init__(parent)
        self._load = load

    def run(self) -> None:
        try:
            model = self._load()
        except Exception as error:  # noqa: BLE001 - every failure becomes a message on the page
            log.exception("model could not be loaded")
            self.failed.emit(str(error) or type(error).__name__)
            return
        self.loaded.emit(model)


class PhotoBatchWorker(QThread):
    """Estimates every face in the given files and folders, one photo at a time."""

    collected = Signal(int)  # number of photos found
    photo_done = Signal(object, int, int)  # PhotoResult, photos done, photos in all
    failed = Signal(str)

    def __init__(self, inputs: list[str | Path], make_detector: Callable[[], FaceDetector], model: AgeModel,
                 parent=None):
        super().__init__(parent)
        self._inputs = list(inputs)
        self._make_detector = make_detector
        self._model = model
        self.total = 0
        self.done = 0

    def run(self) -> None:
        try:
            photos = collect_photos(self._inputs)
            self.total = len(photos)
            self.collected.emit(self.total)
            pipeline = EstimationPipeline(self._make_detector(), self._model, fuse=False)
            for result in estimate_photos(photos, pipeline, should_stop=self.isInterruptionRequested):
                for estimate in result.estimates:  # 32 kB each, unused from here on: a big folder stays small
                    estimate.face.crop = NO_CROP
                self.done += 1
                self.photo_done.emit(result, self.done, self.total)
        except Exception as error:  # noqa: BLE001
            log.exception("photo batch failed")
            self.failed.emit(f"{type(error).__name__}: {error}")

    @property
    def cancelled(self) -> bool:
        return self.isInterruptionRequested() and self.done < self.total


@dataclass
class LiveResult:
    frame: np.ndarray  # BGR, the frame the estimates belong to
    estimates: list[FaceEstimate]
    fps: float  # frames estimated per second, over the last second
    frame_index: int  # frames read from the source so far
    stage_ms: dict[str, float] = field(default_factory=dict)  # this frame's milliseconds per stage


class LiveEstimationWorker(QThread):
    """Takes the capture's newest frame, estimates it (with tracking and fusion), hands the result over.

    Frames never queue behind a slow model (the capture keeps only the newest); results never queue
    behind a busy GUI: a new one is emitted only once the GUI has taken the previous one (`result_taken`)
    and at most GUI_MAX_RATE times a second. The capture is started here and stopped (joined) on exit.
    """

    frame_processed = Signal(object)  # LiveResult
    status_changed = Signal(str, bool)  # the capture's status sentence, connected
    stream_ended = Signal(str)
    failed = Signal(str)

    def __init__(self, capture, make_detector: Callable[[], FaceDetector], model: AgeModel, parent=None):
        super().__init__(parent)
        self.capture = capture
        self._make_detector = make_detector
        self._model = model
        self._gui_ready = threading.Event()
        self._gui_ready.set()
        self.frames_processed = 0
        self.results_emitted = 0

    def result_taken(self) -> None:
        """The GUI calls this once it has drawn a result: the next one may be sent."""
        self._gui_ready.set()

    def run(self) -> None:
        try:
            self.capture.start()
            self._loop(LivePipeline(self._make_detector(), self._model))
        except Exception as error:  # noqa: BLE001
            log.exception("live estimation failed")
            self.failed.emit(f"{type(error).__name__}: {error}")
        finally:
            self.capture.stop()

    def _loop(self, pipeline: EstimationPipeline) -> None:
        meter = RateMeter()
        last_status = None
        last_emit = 0.0
        held: LiveResult | None = None  # processed but not yet sent
        previous_ms: dict[str, float] = {}
        while not self.isInterruptionRequested():
            status = (self.capture.status, bool(self.capture.connected))
            if status != last_status:
                self.status_changed.emit(*status)
                last_status = status
            frame = self.capture.latest(timeout=CAPTURE_POLL_S)
            if frame is None:
                if self.capture.finished:
                    if held is not None:  # the last frame of a file is always shown
                        self._emit(held)
                    self.stream_ended.emit(self.capture.status)
                    return
                continue
            estimates = pipeline.estimate(frame.image)
            self.frames_processed += 1
            now = time.monotonic()
            totals = dict(pipeline.timer.total_ms)
            stage_ms = {name: total - previous_ms.get(name, 0.0) for name, total in totals.items()}
            previous_ms = totals
            held = LiveResult(frame.image, estimates, meter.tick(now), frame.index, stage_ms)
            if self._gui_ready.is_set() and now - last_emit >= 1.0 / GUI_MAX_RATE:
                self._emit(held)
                held = None
                last_emit = now

    def _emit(self, result: LiveResult) -> None:
        self._gui_ready.clear()
        self.results_emitted += 1
        self.frame_processed.emit(result)
