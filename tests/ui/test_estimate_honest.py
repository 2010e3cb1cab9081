"""The Estimate page says only what it knows: a degraded face shows its picture quality, and one too poor to
judge shows that in place of an age (its posterior still plotted on selection); labels keep off neighbouring
faces; the plot's mean label is never cut at the right edge; a stopped camera shows no frame rate; a missing
camera's OpenCV warning is printed once, not every second; Preferences says what the project uses."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QColor

from ageapp.core.posterior import summarize
from ageapp.estimation import capture as capture_module
from ageapp.estimation.capture import LatestFrameCapture
from ageapp.ui.common.age_plot import AgePosteriorPlot
from ageapp.ui.common.face_image_view import POOR_COLOUR, FaceImageView, FaceMark, place_labels
from ageapp.ui.estimate.page import EstimatePage
from benchmarks.face_video import write_face_video
from tests.estimation.conftest import NoisyAgeModel


def degraded_photo(utkface_images, path):
    """Two UTKFace chips side by side on grey: one as it is, one far too dark (an underexposed face)."""
    names = sorted(utkface_images.iterdir())[::997]
    clean, dark = cv2.imread(str(names[1])), cv2.imread(str(names[3]))
    canvas = np.full((320, 560, 3), 90, np.uint8)
    canvas[60:260, 30:230] = clean
    canvas[60:260, 330:530] = (dark.astype(np.float32) * 0.15).astype(np.uint8)
    cv2.imwrite(str(path), canvas)
    return path


@pytest.fixture
def page(qtbot, yunet_model, monkeypatch):
    monkeypatch.setenv("AGEAPP_DETECTOR", str(yunet_model))
    page = EstimatePage()
    qtbot.addWidget(page)
    page.engine.use_model(NoisyAgeModel(true_age=40, seed=1), "noisy test model")
    page.resize(1100, 700)
    page.show()
    yield page
    page.shutdown()


def test_a_degraded_face_shows_its_quality_and_no_age(page, qtbot, tmp_path, utkface_images):
    photo = degraded_photo(utkface_images, tmp_path / "two.png")
    panel = page.photos
    with qtbot.waitSignal(panel.batch_finished, timeout=15000):
        page.drop_paths([str(photo)])
    estimates = panel.results[0].estimates
    assert len(estimates) == 2
    by_x = sorted(range(2), key=lambda i: estimates[i].face.box[0])
    clean, dark = (estimates[i] for i in by_x)
    assert clean.quality.label in ("good", "fair") and dark.quality.too_poor and dark.quality.weakest
    rows = [panel.faces_list.item(i).text() for i in range(panel.faces_list.count())]
    dark_row = rows[by_x[1]]
    assert dark_row == f"Face {by_x[1] + 1}:  too poor to judge ({dark.quality.weakest})"
    assert "(" in rows[by_x[0]].split("  ·  ")[0] and f"picture {clean.quality.label}" in rows[by_x[0]]
    tags = panel.view.tag_texts()
    assert tags[by_x[1]] == f"{by_x[1] + 1}:  too poor to judge ({dark.quality.weakest})"
    assert panel.view.marks()[by_x[1]].colour == QColor(POOR_COLOUR)
    assert "9 in 10 faces like this one" in panel.faces_list.item(by_x[0]).toolTip()
    assert panel.view.marks()[by_x[0]].tooltip == panel.faces_list.item(by_x[0]).toolTip()
    assert panel.item_texts()[0].endswith("2 faces: " + ", ".join(
        "too poor" if e is dark else f"{e.summary.mean:.0f}" for e in estimates))
    panel.faces_list.setCurrentRow(by_x[1])  # its posterior is still there on selection
    assert panel.plot.has_data() and int(np.argmax(panel.plot.shown_heights())) == dark.summary.mode
    assert panel.plot.getPlotItem().titleLabel.text.startswith("too poor to judge")


def test_labels_keep_off_neighbouring_faces(qtbot):
    view = FaceImageView()
    qtbot.addWidget(view)
    view.resize(800, 300)
    view.show()
    view.set_image(np.zeros((300, 800, 3), np.uint8))
    boxes = [(100.0, 100.0, 120.0, 120.0), (230.0, 60.0, 120.0, 120.0), (360.0, 100.0, 120.0, 120.0)]
    text = "1:  34 (22–49)  ?  long enough to reach the next face"
    view.set_faces([FaceMark(box, text, QColor("#4aa3df")) for box in boxes])
    rects = view.tag_rects()
    for i, rect in enumerate(rects):
        for j, box in enumerate(boxes):
            if j != i:  # no label covers another face ...
                assert not rect.intersects(type(rect)(*box)), (i, j)
        for other in rects[i + 1:]:  # ... nor another label
            assert not rect.intersects(other)
    assert all(0 <= rect.left() and rect.right() <= 800 for rect in rects)
    # The pure placement: a lone face's label goes above it when there is room, else below it.
    assert place_labels([(10.0, 50.0, 40.0, 40.0)], [(30.0, 10.0)], (200.0, 200.0)) == [(10.0, 40.0)]
    assert place_labels([(10.0, 5.0, 40.0, 40.0)], [(30.0, 10.0)], (200.0, 200.0)) == [(10.0, 45.0)]


def test_the_mean_label_is_never_cut_at_the_right_edge(qtbot):
    plot = AgePosteriorPlot()
    qtbot.addWidget(plot)
    old = np.zeros(101)
    old[[86, 88, 90]] = 1 / 3
    plot.show_estimate(old, summarize(old))
    assert plot.label_anchor("mean") == (1, 0.5) and plot.label_anchor("mode") == (1, 0.5)  # left of its line
    young = np.zeros(101)
    young[[10, 12]] = 0.5
    plot.show_estimate(young, summarize(young))
    assert plot.label_anchor("mean") == (0, 0.5)


def test_a_stopped_camera_shows_no_frame_rate(page, qtbot, tmp_path, utkface_images):
    faces = [cv2.imread(str(sorted(utkface_images.iterdir())[0]))]
    video = write_face_video(tmp_path / "one.avi", faces, frames=30)
    page.start_camera_argument(str(video))
    qtbot.waitUntil(lambda: page.camera.frames_drawn >= 3, timeout=10000)
    assert page.camera.view.corner_text().endswith(" fps") and "frames/s" in page.camera.info_label.text()
    page.camera.stop()
    assert page.camera.view.corner_text() == "" and page.camera.info_label.text() == ""
    assert page.camera.view.has_image()  # the last frame stays


def test_a_missing_camera_warns_once_through_opencv(monkeypatch):
    from ageapp.faces import detection

    logging = detection._OPENCV_LOG
    if logging is None:
        pytest.skip("this OpenCV build has no cv2.utils.logging to quieten")
    monkeypatch.setattr(capture_module, "RECONNECT_INTERVAL_S", 0.01)
    before = logging.getLogLevel()
    levels = []

    class Missing:
        def isOpened(self):
            return False

    def open_capture(source):
        levels.append(logging.getLogLevel())
        return Missing()

    capture = LatestFrameCapture(0, open_capture=open_capture).start()
    try:
        deadline = cv2.getTickCount() + 5 * cv2.getTickFrequency()
        while len(levels) < 4 and cv2.getTickCount() < deadline:
            capture.latest(timeout=0.02)
    finally:
        capture.stop()
    assert len(levels) >= 4 and levels[0] == before
    assert all(level <= logging.LOG_LEVEL_ERROR for level in levels[1:]) and before > logging.LOG_LEVEL_ERROR
    assert logging.getLogLevel() == before  # put back after each try


def test_preferences_say_which_detector_and_model_the_project_uses(qtbot, tmp_path, yunet_model, monkeypatch):
    from PySide6.QtWidgets import QWidget

    from ageapp.store.db import open_project
    from ageapp.store.settings import set_setting
    from ageapp.ui.shell.preferences import PreferencesDialog

    monkeypatch.delenv("AGEAPP_DETECTOR", raising=False)
    db = open_project(tmp_path / "study.ageproj", create=True)
    set_setting(db, "detector_path", str(yunet_model))

    class Window(QWidget):  # the main window as the dialog sees it: its session's project
        session = type("Session", (), {"db": db})()

    try:
        window = Window()
        qtbot.addWidget(window)
        dialog = PreferencesDialog(parent=window)
        assert dialog.detector_path.text() == ""  # no preference of one's own ...
        text = dialog.in_use.text()  # ... yet the project's YuNet is what estimation uses
        assert text.startswith("detector: YuNet (face_detection_yunet.onnx, the project's); model: the default model")
        assert "outrank" in text
        alone = PreferencesDialog()
        qtbot.addWidget(alone)
        assert alone.in_use.text().startswith("detector: Haar cascade (no YuNet file known)")
    finally:
        db.close()
