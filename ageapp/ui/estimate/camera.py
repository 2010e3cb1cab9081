"""Webcam mode: a camera (or a video file standing in for one) with each face's fused age drawn live.

Capture runs in LatestFrameCapture's thread, estimation in a LiveEstimationWorker; this panel only draws
the newest result it is handed (at most 30 a second) and tells the worker when it may send the next.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ageapp.estimation.capture import LatestFrameCapture, describe_source
from ageapp.estimation.display import (
    age_text,
    face_label,
    gender_text,
    interval_meaning,
    pick_face,
    plot_title,
    quality_text,
    too_poor,
)
from ageapp.ui.common.age_plot import AgePosteriorPlot
from ageapp.ui.common.face_image_view import POOR_COLOUR, FaceImageView, FaceMark, palette_colour
from ageapp.ui.estimate.engine import EstimationEngine
from ageapp.ui.estimate.workers import LiveEstimationWorker, LiveResult
from ageapp.ui.shell.messages import show_warning

log = logging.getLogger("ageapp.estimate")

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
VIDEO_FILTER = "Videos ({});;All files (*)".format(" ".join(f"*{suffix}" for suffix in VIDEO_SUFFIXES))
IDLE_MESSAGE = "Start the camera, or open a video file to use it as a camera."


class CameraPanel(QWidget):
    running_changed = Signal(bool)

    def __init__(self, engine: EstimationEngine, capture_factory: Callable = LatestFrameCapture,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self._capture_factory = capture_factory
        self.worker: LiveEstimationWorker | None = None
        self.source: int | str | None = None
        self.last_result: LiveResult | None = None
        self.selected_track: int | None = None
        self.frames_drawn = 0
        self._last_video_dir = ""

        self.camera_spin = QSpinBox()
        self.camera_spin.setRange(0, 9)
        self.camera_spin.setToolTip("Camera number: 0 is the built-in or first camera")
        self.camera_spin.setValue(engine.preferences().camera_index)  # File ▸ Preferences… sets the default
        self.start_button = QPushButton("Start camera")
        self.start_button.setProperty("primary", True)
        self.start_button.clicked.connect(lambda: self.start_camera(self.camera_spin.value()))
        self.video_button = QPushButton("Open video file…")
        self.video_button.clicked.connect(lambda: self.open_video_file())
        self.loop_check = QCheckBox("Loop video")
        self.loop_check.setChecked(True)
        self.loop_check.setToolTip("Play a video file again from the start when it ends")
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.snapshot_button = QPushButton("Snapshot…")
        self.snapshot_button.setToolTip("Save the current frame with its boxes and ages as a PNG")
        self.snapshot_button.clicked.connect(lambda: self.save_snapshot())
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Camera"))
        controls.addWidget(self.camera_spin)
        controls.addWidget(self.start_button)
        controls.addWidget(self.video_button)
        controls.addWidget(self.loop_check)
        controls.addSpacing(12)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.snapshot_button)
        controls.addStretch(1)

        self.source_label = QLabel("No camera running.")

        self.source_label.setWordWrap(True)  # long text wraps rather than widening the window
        self.source_label.setObjectName("hint")
        self.view = FaceImageView()
        self.view.set_message(IDLE_MESSAGE)
        self.view.face_clicked.connect(self._on_face_clicked)
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)  # long text wraps rather than widening the window
        self.info_label.setObjectName("hint")

        self.face_title = QLabel("No face yet")

        self.face_title.setWordWrap(True)  # long text wraps rather than widening the window
        self.face_title.setObjectName("sectionTitle")
        self.face_detail = QLabel("")
        self.face_detail.setWordWrap(True)  # long text wraps rather than widening the window
        self.face_detail.setWordWrap(True)
        self.plot = AgePosteriorPlot()
        hint = QLabel("Click a face to follow it; otherwise the largest face is shown. Ages are fused over "
                      "the last few frames of each tracked face.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.view, stretch=1)
        left_layout.addWidget(self.info_label)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.addWidget(self.face_title)
        side_layout.addWidget(self.face_detail)
        side_layout.addWidget(self.plot, stretch=1)
        side_layout.addWidget(hint)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([760, 420])

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.source_label)
        layout.addWidget(splitter, stretch=1)
        self._update_buttons()

    # Starting and stopping ----------------------------------------------------------------------------------

    def start_camera(self, index: int = 0) -> None:
        self.camera_spin.setValue(index)
        self.start_source(index)

    def open_video_file(self, path: str = "") -> None:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Open a video file to use as the camera",
                                                  self._last_video_dir or str(Path.home()), VIDEO_FILTER)
        if path:
            self._last_video_dir = str(Path(path).parent)
            self.start_source(path)

    def start_source(self, source: int | str) -> None:
        """Start (or restart) with a camera index or a video file; waits for the model if it is loading."""
        self.stop()
        if isinstance(source, str) and "://" not in source and not Path(source).is_file():
            show_warning(self, "Video file not found", f"There is no video file at {source}.",
                         "Check the path, or choose the file with Open video file….")
            return
        self.source = source
        self.source_label.setText(f"{_sentence(describe_source(source))}: waiting for the model…")
        self.view.set_message(f"Loading the model before starting {describe_source(source)}…")
        self.engine.when_model_ready(lambda: self._start_worker(source))

    def _start_worker(self, source: int | str) -> None:
        if source != self.source or self.worker is not None:
            return
        is_file = isinstance(source, str)
        capture = self._capture_factory(source, loop=is_file and self.loop_check.isChecked())
        worker = LiveEstimationWorker(capture, self.engine.make_detector, self.engine.model, self)
        worker.frame_processed.connect(self._on_result)
        worker.status_changed.connect(self._on_status)
        worker.stream_ended.connect(self._on_ended)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._update_buttons)
        self.worker = worker
        self.selected_track = None
        self.frames_drawn = 0
        self.view.set_message(f"Opening {describe_source(source)}…")
        worker.start()
        self._update_buttons()
        self.running_changed.emit(True)

    def stop(self) -> None:
        """Stop estimation and capture and join both threads (the last frame stays on screen)."""
        worker, self.worker = self.worker, None
        if worker is None:
            if self.source is not None:  # still waiting for the model: it will not start now
                self.source = None
                self.source_label.setText("No camera running.")
                self.view.set_message("" if self.view.has_image() else IDLE_MESSAGE)
            return
        worker.requestInterruption()
        worker.wait()
        worker.deleteLater()
        self.source = None
        self._clear_rate()
        self.source_label.setText("Stopped. Start the camera or open a video file to go on.")
        if not self.view.has_image():
            self.view.set_message(IDLE_MESSAGE)
        self._update_buttons()
        self.running_changed.emit(False)

    def _clear_rate(self) -> None:
        """The frame rate is a running figure: once stopped, none is shown (the last frame stays)."""
        self.view.set_corner_text("")
        self.info_label.setText("")

    def restart(self) -> None:
        """After a model or detector change: the same source again, with the new one."""
        if self.worker is not None and self.source is not None:
            self.start_source(self.source)

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    # Results ----------------------------------------------------------------------------------------------------

    def _from_current_worker(self) -> bool:
        return self.worker is not None and self.sender() is self.worker

    def _on_result(self, result: LiveResult) -> None:
        if not self._from_current_worker():
            return
        try:
            self.last_result = result
            self._draw(result)
            self.frames_drawn += 1
            if self.frames_drawn == 1:
                self._update_buttons()
        finally:
            self.worker.result_taken()

    def _draw(self, result: LiveResult) -> None:
        chosen = pick_face(result.estimates, self.selected_track)
        self.view.set_image(result.frame)
        self.view.set_faces([
            FaceMark(estimate.face.box, face_label(estimate, with_track=True),
                     POOR_COLOUR if too_poor(estimate) else palette_colour(estimate.track_id),
                     selected=estimate is chosen, tooltip=interval_meaning(estimate))
            for estimate in result.estimates
        ])
        self.view.set_corner_text(f"{result.fps:.1f} fps")
        faces = len(result.estimates)
        stages = "  ·  ".join(f"{name} {result.stage_ms[name]:.0f} ms" for name in ("detect", "network")
                              if name in result.stage_ms)
        self.info_label.setText(f"{result.fps:.1f} frames/s  ·  {faces} face{'s' if faces != 1 else ''}"
                                + (f"  ·  {stages}" if stages else ""))
        if chosen is None:
            self.face_title.setText("No face in view")
            self.face_detail.setText("Face the camera in good light; the plot shows the last face seen.")
            return
        followed = "followed" if chosen.track_id == self.selected_track else "largest face"
        self.face_title.setText(f"Face #{chosen.track_id}: {age_text(chosen)}")
        details = [followed, gender_text(chosen, long=True), quality_text(chosen)]
        self.face_detail.setText(" · ".join(part for part in details if part))
        self.face_detail.setToolTip(interval_meaning(chosen))
        self.plot.show_estimate(chosen.posterior, chosen.summary, plot_title(chosen), interval_meaning(chosen))

    def _on_face_clicked(self, index: int) -> None:
        if self.last_result is None or index >= len(self.last_result.estimates):
            return
        self.selected_track = self.last_result.estimates[index].track_id
        self._draw(self.last_result)

    def _on_status(self, status: str, connected: bool) -> None:
        if not self._from_current_worker():
            return
        self.source_label.setText(_sentence(status))
        if connected:
            self.view.set_message("")
        elif self.source is not None and status == f"opening {describe_source(self.source)}":
            self.view.set_message(f"{_sentence(status)}…")
        elif isinstance(self.source, str):
            self.view.set_message(f"{_sentence(status)}\n\nThe file may be damaged or in a format OpenCV cannot "
                                  "read (try an MJPG .avi or an H.264 .mp4). Stop, then open another file.")
            self.info_label.setText("")
        else:
            self.view.set_message(f"{_sentence(status)}\n\nCheck the cable, or close other programs using the "
                                  "camera; estimation resumes by itself when it is back.")
            self.info_label.setText("")

    def _on_ended(self, status: str) -> None:
        if not self._from_current_worker():
            return
        self.source_label.setText(f"{_sentence(status)}. Open it again, or tick Loop video to play it "
                                  "continuously.")
        self.view.set_message("")
        self.stop_after_end()

    def stop_after_end(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        self.source = None
        self._clear_rate()
        self._update_buttons()
        self.running_changed.emit(False)

    def _on_failed(self, message: str) -> None:
        if not self._from_current_worker():
            return
        log.warning("live estimation stopped: %s", message)
        self.stop()
        self.source_label.setText(f"Live estimation stopped: {message}")
        show_warning(self, "Live estimation stopped", f"Live estimation stopped: {message}",
                     "Start the camera again; if it happens again, choose another model or detector in the "
                     "Estimate menu.")

    # Snapshot -------------------------------------------------------------------------------------------------

    def save_snapshot(self, path: str | Path | None = None) -> Path | None:
        """The current frame with its overlay as a PNG; asks where when no path is given."""
        if not self.view.has_image():
            show_warning(self, "Snapshot", "There is no frame to save yet.",
                         "Start the camera or open a video file first.")
            return None
        image = self.view.render_image()  # taken now, before a dialog lets newer frames arrive
        if path is None:
            folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation) or str(Path.home())
            suggested = Path(folder) / time.strftime("ageapp-snapshot-%Y%m%d-%H%M%S.png")
            chosen, _ = QFileDialog.getSaveFileName(self, "Save snapshot", str(suggested), "PNG images (*.png)")
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        if not image.save(str(path), "PNG"):
            show_warning(self, "Snapshot not saved", f"{path} could not be written.",
                         "Check that the folder exists and is writable, or choose another place.")
            return None
        self.source_label.setText(f"Snapshot saved to {path}")
        log.info("snapshot saved to %s", path)
        return path

    def _update_buttons(self) -> None:
        running = self.worker is not None
        self.stop_button.setEnabled(running)
        self.snapshot_button.setEnabled(self.view.has_image())

    def shutdown(self) -> None:
        self.stop()


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]
