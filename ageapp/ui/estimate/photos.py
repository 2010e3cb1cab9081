"""Image mode: photos (one, several, a folder, or dropped files) with every face's age, a browsable list of
results (errors per file), the selected face's posterior, and the batch saved as CSV or JSON.

The batch runs in a PhotoBatchWorker; this panel only lists what it reports, and opens the one photo the
user is looking at. Results made with another model or detector than the engine's now are marked old
(`mark_old`) until they are made again (`rerun`). Each face shows its picture quality; a face too poor to judge
shows that in place of an age (its posterior is still plotted when selected); hovering a face explains its
interval.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ageapp.estimation.display import (
    eta_text,
    face_row_text,
    interval_meaning,
    photo_row_text,
    plot_title,
    short_label,
    too_poor,
)
from ageapp.estimation.photos import IMAGE_SUFFIXES, PhotoResult
from ageapp.faces.images import ImageError, load_image
from ageapp.ui.common.age_plot import AgePosteriorPlot
from ageapp.ui.common.face_image_view import POOR_COLOUR, FaceImageView, FaceMark, palette_colour
from ageapp.ui.estimate.engine import EstimationEngine
from ageapp.ui.estimate.results_file import save_results_as
from ageapp.ui.estimate.workers import PhotoBatchWorker
from ageapp.ui.shell.messages import show_warning

log = logging.getLogger("ageapp.estimate")

DISPLAY_MAX_SIDE = 1600  # a shown photo is shrunk to this; estimates come from full resolution
IMAGE_FILTER = "Images ({});;All files (*)".format(" ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)))
IDLE_MESSAGE = "Open photos or a folder (or drop them here) to estimate every face's age."
ERROR_COLOUR = QColor("#b3261e")
ROW_ROLE = Qt.ItemDataRole.UserRole


class PhotoPanel(QWidget):
    batch_finished = Signal()

    def __init__(self, engine: EstimationEngine, parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self.worker: PhotoBatchWorker | None = None
        self.results: list[PhotoResult] = []
        self.shown: PhotoResult | None = None
        self._started = 0.0
        self._inputs: list[str] = []
        self._last_dir = ""
        self._marks_scale = 1.0

        self.open_button = QPushButton("Open photos…")
        self.open_button.setProperty("primary", True)
        self.open_button.clicked.connect(lambda: self.open_images())
        self.folder_button = QPushButton("Open folder…")
        self.folder_button.clicked.connect(lambda: self.open_folder())
        self.save_button = QPushButton("Save results…")
        self.save_button.setToolTip("Every face of every photo: a CSV table (one row per face: box, score, age, "
                                    "90% interval, gender, picture quality, model, detector) or JSON (the same, "
                                    "with each face's posterior)")
        self.save_button.clicked.connect(lambda: self.save_results_as())
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)  # long text wraps rather than widening the window
        self.progress_label.setObjectName("hint")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        controls = QHBoxLayout()
        for widget in (self.open_button, self.folder_button, self.save_button):
            controls.addWidget(widget)
        controls.addSpacing(12)
        controls.addWidget(self.progress)
        controls.addWidget(self.progress_label)
        controls.addWidget(self.cancel_button)
        controls.addStretch(1)

        self.summary_label = QLabel("No photos yet")
        self.old_label = QLabel("")  # results made with another model or detector than the one in use now
        self.old_label.setObjectName("problem")
        self.old_label.setWordWrap(True)
        self.old_label.setVisible(False)

        self.summary_label.setWordWrap(True)  # long text wraps rather than widening the window
        self.summary_label.setObjectName("sectionTitle")
        self.results_list = QListWidget()
        self.results_list.setMinimumWidth(200)
        self.results_list.currentRowChanged.connect(self._show_row)
        self.view = FaceImageView()
        self.view.set_message(IDLE_MESSAGE)
        self.view.face_clicked.connect(self._select_face)
        self.faces_title = QLabel("Faces")
        self.faces_title.setWordWrap(True)  # long text wraps rather than widening the window
        self.faces_title.setObjectName("sectionTitle")
        self.faces_list = QListWidget()
        self.faces_list.setFixedHeight(40)
        self.faces_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # long rows are
        self.faces_list.setTextElideMode(Qt.TextElideMode.ElideRight)  # cut with "…"; their tooltip says all
        self.faces_list.currentRowChanged.connect(self._select_face)
        self.plot = AgePosteriorPlot()
        self.path_label = QLabel("")
        self.path_label.setWordWrap(True)  # long text wraps rather than widening the window
        self.path_label.setObjectName("hint")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        results_column = QWidget()
        results_layout = QVBoxLayout(results_column)
        results_layout.setContentsMargins(0, 0, 6, 0)
        results_layout.addWidget(self.summary_label)
        results_layout.addWidget(self.old_label)
        results_layout.addWidget(self.results_list)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.view, stretch=1)
        middle_layout.addWidget(self.path_label)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.addWidget(self.faces_title)
        side_layout.addWidget(self.faces_list)
        side_layout.addWidget(self.plot, stretch=1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget, stretch in ((results_column, 1), (middle, 4), (side, 2)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([230, 600, 380])

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(splitter, stretch=1)
        self._set_busy(False)

    # Opening -------------------------------------------------------------------------------------------------

    def open_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open photos", self._last_dir or str(Path.home()), IMAGE_FILTER)
        if paths:
            self._last_dir = str(Path(paths[0]).parent)
            self.estimate(paths)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos", self._last_dir or str(Path.home()))
        if folder:
            self._last_dir = folder
            self.estimate([folder])

    def estimate(self, inputs: list[str | Path]) -> None:
        """Files and folders (searched recursively): starts once the model is ready."""
        self.cancel()
        self._inputs = [str(p) for p in inputs]
        self.progress_label.setText("Waiting for the model…")
        self.engine.when_model_ready(lambda inputs=list(self._inputs): self._start_batch(inputs))

    def _start_batch(self, inputs: list[str]) -> None:
        if inputs != self._inputs or self.worker is not None:
            return
        self.results = []
        self.shown = None
        self.old_label.setVisible(False)
        self.results_list.clear()
        self.faces_list.clear()
        self.plot.clear()
        self.view.set_image(None)
        self.view.set_faces([])
        self.view.set_message("Finding faces…")
        self.path_label.setText("")
        worker = PhotoBatchWorker(inputs, self.engine.make_detector, self.engine.model, self)
        worker.collected.connect(self._on_collected)
        worker.photo_done.connect(self._on_photo_done)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(lambda w=worker: self._on_finished(w))
        self.worker = worker
        self._started = time.monotonic()
        self._set_busy(True)
        worker.start()

    def results_are_old(self) -> bool:
        """Whether the listed results were made with another model or detector than the engine's now (or one
        is on its way)."""
        current = self.engine.signature()
        return self.engine.is_loading() or any((r.model, r.detector) != current for r in self.results)

    def mark_old(self) -> None:
        """Another model or detector is coming: the results listed are old until they are made again."""
        if not self.results and self.worker is None:
            return
        made = self.results[0] if self.results else None
        with_what = f" (made with {Path(made.model).name}, {made.detector} detector)" if made else ""
        self.old_label.setText(f"Old results{with_what}: they are estimated again with the new model or detector "
                               "as soon as it is ready.")
        self.old_label.setVisible(True)

    def rerun(self) -> None:
        """The model or the detector changed (the engine says so only when it did): estimate the same photos
        again, the old results marked until the new ones come."""
        if not self._inputs or not (self.results or self.worker is not None):
            self.old_label.setVisible(False)
            return
        self.mark_old()
        self.estimate(self._inputs)

    def settle(self) -> None:
        """A change that did not happen (the new model could not be loaded): results made with the model still
        in use are not old."""
        if self.worker is None and not self.results_are_old():
            self.old_label.setVisible(False)

    def cancel(self) -> None:
        """Stop a running batch; the photos done so far stay listed (and can be saved)."""
        worker = self.worker
        if worker is None:
            return
        worker.requestInterruption()
        worker.wait()
        self._on_finished(worker)

    # Worker reports --------------------------------------------------------------------------------------------

    def _from_current_worker(self) -> bool:
        return self.worker is not None and self.sender() is self.worker

    def _on_collected(self, total: int) -> None:
        if not self._from_current_worker():
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)
        self.progress_label.setText(eta_text(0, total, 0.0))
        if total == 0:
            self.view.set_message(
                f"No photos found in {', '.join(Path(p).name for p in self._inputs)}. ageapp reads "
                f"{', '.join(sorted(IMAGE_SUFFIXES))} files; choose other files or another folder.")

    def _on_photo_done(self, result: PhotoResult, done: int, total: int) -> None:
        if not self._from_current_worker():
            return
        self.results.append(result)
        self.results_list.addItem(self._result_item(result, len(self.results) - 1))
        self.progress.setValue(done)
        self.progress_label.setText(eta_text(done, total, time.monotonic() - self._started))
        self._update_summary()
        if len(self.results) == 1:
            self.results_list.setCurrentRow(0)

    def _on_failed(self, message: str) -> None:
        if not self._from_current_worker():
            return
        show_warning(self, "Estimation stopped", f"The batch stopped: {message}",
                     "The photos done so far are listed. Try again; if it fails again, choose another model or "
                     "detector in the Estimate menu.")

    def _on_finished(self, worker: PhotoBatchWorker) -> None:
        if worker is not self.worker:  # an earlier batch's late report
            return
        self.worker = None
        worker.wait()
        cancelled = worker.cancelled
        worker.deleteLater()
        self._set_busy(False)
        elapsed = time.monotonic() - self._started
        total = worker.total
        text = f"{'Cancelled after' if cancelled else 'Done:'} {len(self.results)} of {total} photos in {elapsed:.1f} s"
        self.progress_label.setText(text)
        log.info("photo batch: %s", text)
        if not self.results and total:
            self.view.set_message("Cancelled before the first photo was done.")
        self.batch_finished.emit()

    # Showing a photo --------------------------------------------------------------------------------------------

    def _result_item(self, result: PhotoResult, row: int) -> QListWidgetItem:
        name = result.path.name
        if result.error:
            item = QListWidgetItem(f"{name}\ncannot be read")
            item.setForeground(QBrush(ERROR_COLOUR))
            item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
            item.setToolTip(f"{result.path}\n{result.error}")
        else:
            item = QListWidgetItem(photo_row_text(name, result.estimates))
            item.setToolTip(str(result.path))
        item.setData(ROW_ROLE, row)
        return item

    def item_texts(self) -> list[str]:
        return [self.results_list.item(row).text() for row in range(self.results_list.count())]

    def _update_summary(self) -> None:
        faces = sum(len(r.estimates) for r in self.results)
        errors = sum(1 for r in self.results if r.error)
        text = f"{len(self.results)} photo{'s' if len(self.results) != 1 else ''} · {faces} face{'s' if faces != 1 else ''}"
        if errors:
            text += f" · {errors} unreadable"
        self.summary_label.setText(text)

    def _show_row(self, row: int) -> None:
        if not 0 <= row < len(self.results):
            return
        result = self.results[row]
        self.shown = result
        self.path_label.setText(str(result.path))
        self.faces_list.clear()
        self.plot.clear()
        self.view.set_faces([])
        if result.error:
            self.view.set_image(None)
            self.view.set_message(f"{result.path.name} cannot be read: {result.error}")
            self.faces_title.setText("Faces")
            return
        try:
            image = load_image(result.path)
        except ImageError as error:  # changed on disk since it was estimated
            self.view.set_image(None)
            self.view.set_message(f"{result.path.name} cannot be shown any more: {error}")
            return
        scale = min(1.0, DISPLAY_MAX_SIDE / max(image.shape[:2]))
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        self.view.set_image(image)
        self._marks_scale = scale
        count = len(result.estimates)
        self.faces_title.setText(f"Faces ({count})")
        self.view.set_message("" if count else
                              "No face found. Faces smaller than about 30 pixels or turned away are missed; "
                              "the YuNet detector (Estimate ▸ Detector) finds more than Haar.")
        for index, estimate in enumerate(result.estimates):
            self.faces_list.addItem(face_row_text(index, estimate))
            item = self.faces_list.item(index)
            item.setToolTip(interval_meaning(estimate))
            if too_poor(estimate):
                item.setForeground(QBrush(POOR_COLOUR))
        rows = max(1, min(count, 4))  # as tall as its rows (up to four), so the plot gets the rest
        row_height = self.faces_list.sizeHintForRow(0) if count else self.faces_list.fontMetrics().height() + 12
        self.faces_list.setFixedHeight(rows * row_height + 2 * self.faces_list.frameWidth() + 2)
        if count:
            self.faces_list.setCurrentRow(0)
        else:
            self._draw_marks(-1)

    def _select_face(self, index: int) -> None:
        if self.shown is None or not 0 <= index < len(self.shown.estimates):
            return
        if self.faces_list.currentRow() != index:
            self.faces_list.setCurrentRow(index)  # comes back here through currentRowChanged
            return
        self._draw_marks(index)
        estimate = self.shown.estimates[index]
        self.plot.show_estimate(estimate.posterior, estimate.summary, plot_title(estimate), interval_meaning(estimate))

    def _draw_marks(self, selected: int) -> None:
        scale = self._marks_scale
        marks = []
        for index, estimate in enumerate(self.shown.estimates if self.shown else []):
            x, y, w, h = estimate.face.box
            marks.append(FaceMark((x * scale, y * scale, w * scale, h * scale),
                                  f"{index + 1}:  {short_label(estimate)}",
                                  POOR_COLOUR if too_poor(estimate) else palette_colour(index),
                                  selected=index == selected, tooltip=interval_meaning(estimate)))
        self.view.set_faces(marks)

    # Saving -------------------------------------------------------------------------------------------------------

    def save_results_as(self, path: str | Path | None = None) -> Path | None:
        """The listed results as CSV or JSON (asked for where when `path` is None); None if not saved."""
        saved = save_results_as(self, self.results, self._last_dir, path)
        if saved is not None:
            faces = sum(len(r.estimates) for r in self.results)
            self.progress_label.setText(f"Saved {faces} faces of {len(self.results)} photos to {saved.name}")
        return saved

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.save_button.setEnabled(not busy and bool(self.results))

    def shutdown(self) -> None:
        self._inputs = []
        self.cancel()
