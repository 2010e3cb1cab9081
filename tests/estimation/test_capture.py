"""Newest-frame-wins capture, and the camera that goes away and comes back."""

from __future__ import annotations

import time

import cv2
import numpy as np

from ageapp.estimation import capture as capture_module
from ageapp.estimation.capture import LatestFrameCapture, parse_camera_argument


class FakeCamera:
    """A camera delivering numbered frames; `plan` says, per open, how many frames it gives before failing."""

    opened = 0

    def __init__(self, plan, frame_delay=0.001):
        self.plan = plan
        self.frame_delay = frame_delay
        self.delivered = 0
        self.index = FakeCamera.opened
        FakeCamera.opened += 1
        self.frames_left = plan[self.index] if self.index < len(plan) else 10**9

    def isOpened(self):
        return self.frames_left is not None

    def get(self, prop):
        return 30.0

    def read(self):
        time.sleep(self.frame_delay)
        if self.frames_left is None or self.frames_left <= 0:
            return False, None
        self.frames_left -= 1
        self.delivered += 1
        return True, np.full((4, 4, 3), self.delivered % 256, np.uint8)

    def release(self):
        pass


def test_parse_camera_argument():
    assert parse_camera_argument("0") == 0 and parse_camera_argument("clip.mp4") == "clip.mp4"


def test_slow_consumer_gets_the_newest_frame_and_no_queue_builds():
    FakeCamera.opened = 0
    capture = LatestFrameCapture(0, open_capture=lambda source: FakeCamera([10**9])).start()
    try:
        indices = []
        for _ in range(5):
            frame = capture.latest(timeout=2)
            indices.append(frame.index)
            time.sleep(0.05)  # a slow model: about 50 frames arrive meanwhile
        # Each delivered frame is the newest one: large jumps, and only one frame is ever held.
        assert all(later - earlier > 10 for earlier, later in zip(indices, indices[1:]))
        assert capture.frames_read - indices[-1] < 60
    finally:
        capture.stop()


def test_lost_camera_reports_and_recovers(monkeypatch):
    monkeypatch.setattr(capture_module, "RECONNECT_INTERVAL_S", 0.05)
    FakeCamera.opened = 0
    # First open: 20 frames then unplugged; second open: not available; third: works again.
    plan = [20, None, 10**9]
    capture = LatestFrameCapture(0, open_capture=lambda source: FakeCamera(plan)).start()
    try:
        statuses = set()
        deadline = time.monotonic() + 5
        while FakeCamera.opened < 3 and time.monotonic() < deadline:
            statuses.add(capture.status)
            time.sleep(0.002)
        assert any("not available" in s or "stopped delivering" in s for s in statuses)
        time.sleep(0.1)
        assert capture.connected and capture.status.startswith("reading")
        assert capture.latest(timeout=2) is not None
    finally:
        capture.stop()


def test_video_file_plays_to_its_end(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for value in range(12):
        writer.write(np.full((48, 64, 3), value * 20, np.uint8))
    writer.release()
    capture = LatestFrameCapture(str(path), pace=False).start()
    got = []
    while True:
        frame = capture.latest(timeout=2)
        if frame is None:
            break
        got.append(frame.index)
    capture.stop()
    assert capture.finished and "ended" in capture.status
    assert got[-1] == 12 and got == sorted(got)
