"""The Estimate page: photos and a live camera, the model and detector in use, and the Estimate menu.

The model and the detector are the engine's (engine.py: ageapp.model's resolver, told of the project and of
what the user names in the menu); when they change, the shown photos are marked old and estimated again, and
a running camera starts again with the new ones.

`install_estimate_page(window, camera)` adds it to the main window (page, menu, camera off when the user
leaves the page); `ageapp --camera 0` / `--camera clip.mp4` passes `camera` to open it in webcam mode.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ageapp.estimation.capture import LatestFrameCapture, parse_camera_argument
from ageapp.ui.estimate.camera import VIDEO_SUFFIXES, CameraPanel
from ageapp.ui.estimate.engine import DEFAULT, FILE, EstimationEngine, ModelSource
from ageapp.ui.estimate.photos import PhotoPanel
from ageapp.ui.shell.messages import show_warning

PAGE_NAME = "estimate"
CHECKPOINT_FILTER = "PyTorch checkpoints (*.pt *.pth);;All files (*)"
DETECTOR_FILTER = "ONNX models (*.onnx);;All files (*)"
BANNER_STYLE = ("QFrame#estimateBanner { background: #fff4d6; border: 1px solid #e6c36a; border-radius: 5px; }"
                "QFrame#estimateBanner QLabel { color: #5a4300; }")
PHOTOS_TAB, CAMERA_TAB = 0, 1


class EstimatePage(QWidget):
    def __init__(self, settings: QSettings | None = None, capture_factory: Callable = LatestFrameCapture,
                 engine: EstimationEngine | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._db = None
        self.engine = engine or EstimationEngine(settings, self)
        self.status_line = QLabel()
        self.status_line.setWordWrap(True)  # long text wraps rather than widening the window
        self.status_line.setObjectName("hint")
        self.status_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.banner = QFrame()
        self.banner.setObjectName("estimateBanner")
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_button = QPushButton("Choose checkpoint…")
        self.banner_button.clicked.connect(lambda: self.choose_checkpoint())
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.addWidget(self.banner_label, stretch=1)
        banner_layout.addWidget(self.banner_button)
        self.banner.setVisible(False)

        self.photos = PhotoPanel(self.engine)
        self.camera = CameraPanel(self.engine, capture_factory)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.photos, "Photos")
        self.tabs.addTab(self.camera, "Camera")
        self.tabs.currentChanged.connect(self._on_tab_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, stretch=1)
        layout.addWidget(self.status_line)

        self.menu = self._build_menu()
        self.engine.changed.connect(self._on_engine_changed)
        self.engine.model_failed.connect(self._show_problem)
        self.engine.estimation_changing.connect(self.photos.mark_old)
        self.engine.model_failed.connect(lambda _message: self.photos.settle())
        self.engine.estimation_changed.connect(self._on_estimation_changed)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._on_engine_changed()

    # Entry points (the start page's buttons, --camera) ------------------------------------------------------------

    def estimate_from_image(self) -> None:
        self.tabs.setCurrentIndex(PHOTOS_TAB)
        self._warm_up()
        self.photos.open_images()

    def estimate_from_camera(self) -> None:
        self.tabs.setCurrentIndex(CAMERA_TAB)
        self.camera.start_camera(self.camera.camera_spin.value())

    def start_camera_argument(self, value: str | int) -> None:
        """`--camera 0` (a device) or `--camera clip.mp4` (a video file standing in for one)."""
        self.tabs.setCurrentIndex(CAMERA_TAB)
        source = parse_camera_argument(str(value))
        if isinstance(source, int):
            self.camera.start_camera(source)
        else:
            self.camera.start_source(str(Path(source).expanduser()))

    def set_project(self, db) -> None:
        """Told by the main window when a project opens (db) or closes (None): its model and detector are used
        unless others were named in the Estimate menu."""
        self._db = db
        self.engine.set_project(db)

    def project_model_activated(self) -> None:
        """A run was made the project's active model (Train ▸ Runs…): estimation follows it, even over a
        model named earlier in the Estimate menu."""
        self.engine.follow_project()

    def on_page_changed(self, name: str) -> None:
        """The camera goes off when the user leaves the page (the camera light with it)."""
        if name != PAGE_NAME:
            self.camera.stop()
        else:
            self._warm_up()

    # Model and detector ---------------------------------------------------------------------------------------

    def use_default_model(self) -> None:
        self._load(ModelSource(DEFAULT))

    def use_project_model(self) -> None:
        """Follow the project: its active model, else the default one."""
        self.banner.setVisible(False)
        self.engine.follow_project()
        self._sync_menu()

    def choose_checkpoint(self, path: str = "") -> None:
        if not path:
            start = str(self.engine.source.path.parent) if self.engine.source.path else str(Path.home())
            path, _ = QFileDialog.getOpenFileName(self, "Choose a model checkpoint", start, CHECKPOINT_FILTER)
        if path:
            self._load(ModelSource(FILE, Path(path)))
        else:
            self._sync_menu()

    def choose_yunet(self, path: str = "") -> None:
        if not path:
            start = str(self.engine.yunet_path.parent) if self.engine.yunet_path else str(Path.home())
            path, _ = QFileDialog.getOpenFileName(self, "Choose a YuNet face detector", start, DETECTOR_FILTER)
        if not path:
            self._sync_menu()
            return
        problem = self.engine.use_yunet(path)
        if problem:
            self._sync_menu()
            show_warning(self, "Detector not changed", problem)

    def use_haar(self) -> None:
        self.engine.use_haar()

    def use_automatic_detector(self) -> None:
        self.engine.follow_detector()

    def _load(self, source: ModelSource) -> None:
        if self.engine.choose_named_model(source):  # a camera goes on with the old model until it has loaded
            self.banner.setVisible(False)
        self._sync_menu()

    def _on_estimation_changed(self) -> None:
        """The new model or detector is ready: the photos shown are estimated again, the camera restarts."""
        self.photos.rerun()
        self.camera.restart()

    def _warm_up(self) -> None:
        """Start loading the model as soon as the page is shown, so the first estimate does not wait."""
        if self.engine.model is None and not self.engine.is_loading() and not self.engine.problem:
            self.engine.load_model(self.engine.source)

    def _show_problem(self, message: str) -> None:
        self.banner_label.setText(message)
        self.banner.setVisible(True)
        for panel_view in (self.photos.view, self.camera.view):
            if not panel_view.has_image():
                panel_view.set_message(message)
        waiting = "Waiting for a model: see the message at the top of the page."
        if self.photos.worker is None and self.photos.progress_label.text().startswith("Waiting"):
            self.photos.progress_label.setText(waiting)
        if self.camera.worker is None and self.camera.source is not None:
            self.camera.source_label.setText(waiting)

    def _on_engine_changed(self) -> None:
        self.status_line.setText(self.engine.status_text())
        self.status_line.setToolTip(self.engine.detector_notice)
        if self.engine.model is not None and not self.engine.problem:
            self.banner.setVisible(False)
        self._sync_menu()

    # Menu ----------------------------------------------------------------------------------------------------

    def _build_menu(self) -> QMenu:
        menu = QMenu("&Estimate", self)
        self._menu_action(menu, "Open &photos…", self.estimate_from_image)
        self._menu_action(menu, "Open &folder…", lambda: self._photos(self.photos.open_folder))
        self.save_action = self._menu_action(menu, "&Save results…", lambda: self._photos(self.photos.save_results_as))
        menu.addSeparator()
        self._menu_action(menu, "Start &camera", self.estimate_from_camera)
        self._menu_action(menu, "Open &video file as camera…", lambda: self._camera(self.camera.open_video_file))
        self._menu_action(menu, "S&top camera", self.camera.stop)
        self._menu_action(menu, "Snaps&hot…", lambda: self._camera(self.camera.save_snapshot))
        menu.addSeparator()

        model_menu = self.model_menu = menu.addMenu("&Model")
        model_menu.aboutToShow.connect(self.engine.refresh)  # the project's active model may have changed
        group = QActionGroup(self)
        self.project_model_action = self._radio(model_menu, group, "&Project's active model (else the default)",
                                                self.use_project_model)
        self.default_model_action = self._radio(model_menu, group, "&Default model", self.use_default_model)
        self.file_model_action = self._radio(model_menu, group, "&Checkpoint file…", self.choose_checkpoint)
        detector_menu = self.detector_menu = menu.addMenu("&Detector")
        group = QActionGroup(self)
        self.auto_detector_action = self._radio(detector_menu, group, "&Project's detector (else your preference)",
                                                self.use_automatic_detector)
        self.yunet_action = self._radio(detector_menu, group, "&YuNet file…", self.choose_yunet)
        self.haar_action = self._radio(detector_menu, group, "&Haar cascade (built in)", self.use_haar)
        return menu

    def _menu_action(self, menu: QMenu, text: str, slot) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _radio(self, menu: QMenu, group: QActionGroup, text: str, slot) -> QAction:
        action = self._menu_action(menu, text, slot)
        action.setCheckable(True)
        action.setActionGroup(group)
        return action

    def _photos(self, action) -> None:
        self.tabs.setCurrentIndex(PHOTOS_TAB)
        action()

    def _camera(self, action) -> None:
        self.tabs.setCurrentIndex(CAMERA_TAB)
        action()

    def _sync_menu(self) -> None:
        """The checks follow the engine (a cancelled file dialog leaves the previous choice checked): what was
        named this session, else the automatic choice."""
        engine = self.engine
        named = engine.named_model
        {None: self.project_model_action, DEFAULT: self.default_model_action,
         FILE: self.file_model_action}[named.kind if named is not None else None].setChecked(True)
        project_path = engine.project_model_path
        self.project_model_action.setToolTip(
            f"{engine.project_model_name or 'the active model'}: {project_path}" if project_path is not None else
            "No project with an active model is open: the default model is used")
        if engine.named_detector is None:
            self.auto_detector_action.setChecked(True)
        else:
            (self.yunet_action if engine.detector_kind == "yunet" else self.haar_action).setChecked(True)
        self.auto_detector_action.setToolTip(engine.detector_choice.label())

    # Drag and drop, tabs, shutdown -------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        self.drop_paths(paths)

    def drop_paths(self, paths: list[str]) -> None:
        """Checkpoints become the model, videos the camera, anything else photos to estimate."""
        suffix = Path(paths[0]).suffix.lower()
        if len(paths) == 1 and suffix in (".pt", ".pth"):
            self.choose_checkpoint(paths[0])
        elif len(paths) == 1 and suffix in VIDEO_SUFFIXES:
            self.tabs.setCurrentIndex(CAMERA_TAB)
            self.camera.open_video_file(paths[0])
        else:
            self.tabs.setCurrentIndex(PHOTOS_TAB)
            self.photos.estimate(paths)

    def hideEvent(self, event) -> None:
        """Another page, or the window closing: the camera goes off (not when the window is minimised)."""
        super().hideEvent(event)
        if not event.spontaneous():
            self.camera.stop()

    def _on_tab_changed(self, index: int) -> None:
        if index != CAMERA_TAB:
            self.camera.stop()

    def shutdown(self) -> None:
        """Stop every thread (the app is quitting, or a test is done)."""
        self.camera.shutdown()
        self.photos.shutdown()
        self.engine.shutdown()


def install_estimate_page(window, camera: str | int | None = None, page: EstimatePage | None = None,
                          camera_fps: float | None = None) -> EstimatePage:
    """Add the page and its menu to the main window; with `camera`, open straight in webcam mode (a video file
    played at `camera_fps` frames/s when given; 0: as fast as it decodes)."""
    page = page or EstimatePage(capture_factory=functools.partial(LatestFrameCapture, fps=camera_fps)
                                if camera_fps is not None else LatestFrameCapture)
    window.add_page(PAGE_NAME, page)
    window.menuBar().insertMenu(window.view_menu.menuAction(), page.menu)
    window.page_changed.connect(page.on_page_changed)
    if hasattr(window, "preferences_saved"):  # File ▸ Preferences… may have changed the detector file
        window.preferences_saved.connect(lambda _preferences: page.engine.reload_preferences())
    if camera is not None:
        window.show_page(PAGE_NAME)
        page.start_camera_argument(camera)
    return page
