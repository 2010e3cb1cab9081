"""Camera capture in its own thread where the newest frame wins: a slow consumer never builds a queue.

A missing camera is retried every second; OpenCV's own warning about it ("can't open camera by index") is
printed once, at the first try, and silenced for the retries (`quiet_opencv`), so the terminal is not filled.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ageapp.faces.detection import quiet_opencv

RECONNECT_INTERVAL_S = 1.0


@dataclass
class Frame:
    index: int  # frames read from the source so far (gaps mean frames were dropped for a slow consumer)
    image: np.ndarray
    timestamp: float


def describe_source(source: int | str) -> str:
    return f"camera {source}" if isinstance(source, int) else f"video file {Path(source).name}"


def parse_camera_argument(value: str) -> int | str:
    """`--camera 0` is a device index; anything else is a video file (or a stream URL)."""
    return int(value) if value.isdigit() else value


class LatestFrameCapture:
    """Reads a camera or video file in a background thread and keeps only the newest frame.

    `status` is a sentence for the user ("camera 0 is not available: ...", "reading camera 0"); when the
    camera disappears the thread keeps trying to reopen it, so it recovers when the camera comes back.
    A video file ends the stream at its last frame (`finished`), unless `loop` is set.
    """

    def __init__(self, source: int | str, *, loop: bool = False, pace: bool = True, fps: float | None = None,
                 open_capture=cv2.VideoCapture):
        self.source = source
        self.loop = loop
        # A file plays at its own frame rate, as a camera would deliver it; `fps` plays it at another rate,
        # 0 (or pace=False) as fast as it decodes (a faster camera than the file's).
        self.pace = pace and fps != 0
        self.fps = fps
        self._open_capture = open_capture
        self._lock = threading.Lock()
        self._fresh = threading.Condition(self._lock)
        self._latest: Frame | None = None
        self._delivered_index = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_read = 0
        self.status = f"opening {describe_source(source)}"
        self.connected = False
        self.finished = False

    def start(self) -> "LatestFrameCapture":
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._fresh:
            self._fresh.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def latest(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet delivered; waits up to timeout; None if none came (see status/finished)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._fresh:
            while not self._has_new_frame() and not self._stop.is_set() and not self.finished:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._fresh.wait(remaining)
            if not self._has_new_frame():
                return None
            self._delivered_index = self._latest.index
            return self._latest

    def _has_new_frame(self) -> bool:
        return self._latest is not None and self._latest.index > self._delivered_index

    def _publish(self, image: np.ndarray) -> None:
        with self._fresh:
            self.frames_read += 1
            self._latest = Frame(self.frames_read, image, time.monotonic())
            self._fresh.notify_all()

    def _run(self) -> None:
        tries = 0
        while not self._stop.is_set():
            with quiet_opencv(tries > 0):  # OpenCV warns of a missing camera once, not every second
                capture = self._open_capture(self.source)
                opened = capture.isOpened()
            tries = 0 if opened else tries + 1
            if not opened:
                self._set_lost(f"{describe_source(self.source)} is not available (unplugged, busy in another "
                               "program, or no such file); retrying every second")
                continue
            self.connected = True
            self.status = f"reading {describe_source(self.source)}"
            ended = self._read_until_failure(capture)
            capture.release()
            if ended and isinstance(self.source, str) and not self.loop:
                self.status = f"{describe_source(self.source)} ended"
                with self._fresh:
                    self.finished = True
                    self._fresh.notify_all()
                return
            if not ended:
                self._set_lost(f"{describe_source(self.source)} stopped delivering frames (unplugged?); "
                               "waiting for it to come back")

    def _read_until_failure(self, capture) -> bool:
        """Read until the source fails; True when a video file simply reached its end."""
        frame_interval = 1.0 / (self.fps or capture.get(cv2.CAP_PROP_FPS) or 30.0)
        next_due = time.monotonic()
        while not self._stop.is_set():
            ok, image = capture.read()
            if not ok or image is None:
                is_file = isinstance(self.source, str) and Path(self.source).is_file()
                return is_file
            self._publish(image)
            if self.pace and isinstance(self.source, str):
                next_due += frame_interval
                time.sleep(max(0.0, next_due - time.monotonic()))
        return False

    def _set_lost(self, message: str) -> None:
        self.connected = False
        self.status = message
        self._stop.wait(RECONNECT_INTERVAL_S)
