"""The Estimate page: a photo batch with a corrupt file among good ones, a video file standing in for the
camera, a camera that is missing and comes back, the model and detector choice, and `--camera`."""

from __future__ import annotations

import csv
import threading
import time

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from ageapp.estimation.capture import Frame, LatestFrameCapture
from ageapp.estimation.display import age_text
from ageapp.ui.estimate import engine as estimation_engine
from ageapp.ui.estimate.page import CAMERA_TAB, PAGE_NAME, PHOTOS_TAB, EstimatePage, install_estimate_page
from ageapp.ui.common.face_image_view import SELECTED_COLOUR
from ageapp.ui.shell.main_window import MainWindow
from benchmarks.face_video import write_face_video
from tests.estimation.conftest import NoisyAgeModel

LOST = "camera 0 is not available (unplugged, busy in another program, or no such file); retrying every second"


class FakeCapture:
    """Stands in for LatestFrameCapture: the test sets `status` / `connected` and hands frames over."""

    made: list[FakeCapture] = []

    def __init__(self, source, loop=False):
        self.source, self.loop = source, loop
        self.status, self.connected, self.finished = LOST, False, False
        self.started = self.stopped = False
        self._frame: Frame | None = None
        self._lock = threading.Lock()
        self._count = 0
        FakeCapture.made.append(self)

    def start(self):
        self.started = True
        return self

    def stop(self):
        self.stopped = True

    def deliver(self, image: np.ndarray) -> None:
        with self._lock:
            self._count += 1
            self._frame = Frame(self._count, image, time.monotonic())

    def latest(self, timeout=None):
        with self._lock:
            frame, self._frame = self._frame, None
        if frame is None:
            time.sleep(min(timeout or 0.01, 0.01))
        return frame


@pytest.fixture
def make_page(qtbot, yunet_model, monkeypatch):
    monkeypatch.setenv("AGEAPP_DETECTOR", str(yunet_model))
    FakeCapture.made = []
    pages: list[EstimatePage] = []

    def make(capture_factory=LatestFrameCapture, model=True, **engine_options) -> EstimatePage:
        engine = estimation_engine.EstimationEngine(**engine_options) if engine_options else None
        page = EstimatePage(capture_factory=capture_factory, engine=engine)
        qtbot.addWidget(page)
        if model:
            page.engine.use_model(NoisyAgeModel(true_age=40, seed=1), "noisy test model")
        page.resize(1100, 700)
        page.show()
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.shutdown()


def test_photo_batch_lists_faces_and_a_corrupt_file_and_saves_csv(make_page, qtbot, tmp_path, fgnet_images):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("009A14.JPG", "010A15.JPG"):
        (folder / name).write_bytes((fgnet_images / name).read_bytes())
    (folder / "broken.jpg").write_bytes((fgnet_images / "009A14.JPG").read_bytes()[:3000])
    page = make_page()
    panel = page.photos
    with qtbot.waitSignal(panel.batch_finished, timeout=15000):
        page.drop_paths([str(folder)])
    assert page.tabs.currentIndex() == PHOTOS_TAB

    by_name = {result.path.name: result for result in panel.results}
    assert sorted(by_name) == ["009A14.JPG", "010A15.JPG", "broken.jpg"]
    assert "truncated" in by_name["broken.jpg"].error
    texts = dict(zip([r.path.name for r in panel.results], panel.item_texts()))
    assert texts["broken.jpg"] == "broken.jpg\ncannot be read"
    broken_row = [r.path.name for r in panel.results].index("broken.jpg")
    assert "truncated" in panel.results_list.item(broken_row).toolTip()
    faces = 0
    for name in ("009A14.JPG", "010A15.JPG"):
        estimates = by_name[name].estimates
        assert estimates and texts[name].startswith(f"{name}\n{len(estimates)} face")
        assert age_text(estimates[0]).split(" ")[0] in texts[name]
        faces += len(estimates)
    assert panel.summary_label.text() == f"3 photos · {faces} face{'s' if faces != 1 else ''} · 1 unreadable"
    assert panel.progress_label.text().startswith("Done: 3 of 3 photos")

    # The first photo is shown with a labelled box per face and the first face's posterior.
    shown = panel.results[0]
    assert all(e.face.crop.size == 0 for r in panel.results for e in r.estimates)  # kept small in memory
    marks = panel.view.marks()
    assert len(marks) == len(shown.estimates) and marks[0].selected
    assert panel.view.tag_texts()[0].startswith(f"1:  {age_text(shown.estimates[0])}")
    heights = panel.plot.shown_heights()
    assert heights.sum() == pytest.approx(1.0, abs=1e-5) and int(np.argmax(heights)) == shown.estimates[0].summary.mode

    panel.results_list.setCurrentRow(broken_row)  # the bad file says why, in the view
    assert "cannot be read" in panel.view.message() and "truncated" in panel.view.message()
    assert not panel.view.has_image() and not panel.plot.has_data()

    saved = panel.save_results_as(tmp_path / "ages")  # no suffix: CSV is the default
    assert saved == tmp_path / "ages.csv" and panel.progress_label.text().startswith(f"Saved {faces} faces of 3")
    rows = list(csv.DictReader(saved.open()))
    assert [row["error"] for row in rows if row["error"]] == [by_name["broken.jpg"].error]
    face_rows = [row for row in rows if not row["error"]]
    assert len(face_rows) == faces
    means = sorted(round(e.summary.mean, 2) for r in panel.results for e in r.estimates)
    assert sorted(float(row["age_mean"]) for row in face_rows) == means


def test_video_file_as_camera_overlays_fused_ages_and_stops_cleanly(make_page, qtbot, tmp_path, utkface_images):
    faces = [cv2.imread(str(name)) for name in sorted(utkface_images.iterdir())[::997][:2]]
    video = write_face_video(tmp_path / "two.avi", faces, frames=30)
    page = make_page()
    page.start_camera_argument(str(video))  # loops by default, as a demo would
    camera = page.camera
    worker = camera.worker
    assert page.tabs.currentIndex() == CAMERA_TAB and worker is not None and camera.source == str(video)
    qtbot.waitUntil(lambda: camera.frames_drawn >= 8, timeout=10000)

    view = camera.view
    tags = view.tag_texts()
    assert len(view.marks()) == 2 and sorted(tag.split("  ")[0] for tag in tags) == ["#1", "#2"]
    assert all("(" in tag and "–" in tag and tag.endswith("F") for tag in tags)  # the fake says 80% female
    fps = float(view.corner_text().split()[0])
    assert view.corner_text().endswith(" fps") and 2 < fps < 40
    assert camera.info_label.text().startswith(f"{camera.last_result.fps:.1f} frames/s  ·  2 faces  ·  detect ")
    assert view.message() == ""

    # The plot follows the largest face; its fused posterior sits near the fake's true age of 40.
    assert camera.plot.updates >= camera.frames_drawn - 1
    heights = camera.plot.shown_heights()
    assert heights.sum() == pytest.approx(1.0, abs=1e-5)
    assert abs(float(heights @ np.arange(101)) - 40) < 6
    assert worker.frames_processed >= worker.results_emitted >= camera.frames_drawn

    # Clicking the other face follows it.
    estimates = camera.last_result.estimates
    other = min(range(2), key=lambda i: estimates[i].face.box[2] * estimates[i].face.box[3])
    view.face_clicked.emit(other)
    followed = estimates[other].track_id
    assert camera.selected_track == followed and camera.face_title.text().startswith(f"Face #{followed}:")
    assert [m.selected for m in view.marks()][other]

    # The snapshot is the frame at its own size with the boxes drawn in.
    snapshot = camera.save_snapshot(tmp_path / "snap")
    image = QImage(str(snapshot))
    assert snapshot.name == "snap.png" and (image.width(), image.height()) == (640, 480)
    x, y, _, h = (int(round(v)) for v in view.marks()[other].box)
    edge = [QColor(image.pixel(x + dx, y + h // 2)) for dx in (-1, 0, 1)]
    assert any(abs(c.red() - SELECTED_COLOUR.red()) + abs(c.green() - SELECTED_COLOUR.green())
               + abs(c.blue() - SELECTED_COLOUR.blue()) < 60 for c in edge)

    capture = worker.capture
    camera.stop()
    assert worker.isFinished() and not capture._thread.is_alive() and camera.worker is None
    assert not camera.stop_button.isEnabled()


def test_a_short_video_ends_with_a_message(make_page, qtbot, tmp_path, utkface_images):
    faces = [cv2.imread(str(sorted(utkface_images.iterdir())[0]))]
    video = write_face_video(tmp_path / "one.avi", faces, frames=6)
    page = make_page()
    page.camera.loop_check.setChecked(False)
    with qtbot.waitSignal(page.camera.running_changed, timeout=5000, check_params_cb=lambda running: not running):
        page.camera.open_video_file(str(video))
    assert page.camera.source_label.text().startswith("Video file one.avi ended")
    assert page.camera.worker is None and page.camera.frames_drawn >= 1


def test_missing_camera_shows_why_and_recovers(make_page, qtbot):
    page = make_page(capture_factory=FakeCapture)
    page.estimate_from_camera()
    capture = FakeCapture.made[-1]
    camera = page.camera
    assert capture.source == 0
    qtbot.waitUntil(lambda: "not available" in camera.view.message(), timeout=3000)
    assert capture.started
    assert "Check the cable" in camera.view.message()
    assert camera.source_label.text() == LOST[0].upper() + LOST[1:]

    capture.status, capture.connected = "reading camera 0", True  # plugged back in
    grey = np.full((240, 320, 3), 128, np.uint8)
    qtbot.waitUntil(lambda: (capture.deliver(grey), camera.frames_drawn >= 2)[1], timeout=3000)
    assert camera.view.message() == "" and camera.source_label.text() == "Reading camera 0"
    assert camera.view.has_image() and camera.face_title.text() == "No face in view"

    capture.status, capture.connected = "camera 0 stopped delivering frames (unplugged?); waiting for it", False
    qtbot.waitUntil(lambda: "stopped delivering" in camera.view.message(), timeout=3000)
    camera.stop()
    assert capture.stopped and camera.worker is None


def test_camera_option_opens_the_window_in_webcam_mode(make_page, qtbot, monkeypatch):
    from ageapp import __main__ as entry

    seen = []
    monkeypatch.setattr("ageapp.ui.shell.app.run_app", lambda args: seen.append(args.camera) or 0)
    assert entry.main(["--camera", "clip.mp4"]) == 0 and seen == ["clip.mp4"]
    assert entry.build_parser().parse_args([]).camera is None

    window = MainWindow()
    qtbot.addWidget(window)
    page = make_page(capture_factory=FakeCapture)
    install_estimate_page(window, camera="1", page=page)
    assert window.current_page_name() == PAGE_NAME and page.tabs.currentIndex() == CAMERA_TAB
    assert FakeCapture.made[-1].source == 1 and page.camera.is_running()
    assert "&Estimate" in [action.text() for action in window.menuBar().actions()]
    window.show_page("start")  # leaving the page turns the camera off
    assert page.camera.worker is None and FakeCapture.made[-1].stopped


def test_missing_default_model_says_what_to_do_then_a_chosen_checkpoint_starts_the_camera(
        make_page, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(estimation_engine, "default_model_path", lambda: tmp_path / "default.pt")
    checkpoint = tmp_path / "mine.pt"
    checkpoint.write_bytes(b"weights")
    loaded = []

    def fake_load(path):
        loaded.append(path)
        model = NoisyAgeModel()
        model.summary = f"noisy age network ({path.name}, ages 0-100)"
        return model

    page = make_page(capture_factory=FakeCapture, model=False, load_model=fake_load)
    page.estimate_from_camera()
    assert page.banner.isVisible() and "default model (models/default.onnx) is not installed" in page.banner_label.text()
    assert "Checkpoint file…" in page.banner_label.text() and "none loaded" in page.status_line.text()
    assert not FakeCapture.made  # nothing starts without a model

    page.choose_checkpoint(str(checkpoint))
    qtbot.waitUntil(lambda: page.engine.model is not None, timeout=5000)
    assert loaded == [checkpoint] and not page.banner.isVisible()
    assert page.status_line.text().startswith("model: noisy age network (mine.pt, ages 0–100)  ·  detector: YuNet")
    assert page.file_model_action.isChecked() and page.auto_detector_action.isChecked()  # $AGEAPP_DETECTOR's YuNet
    assert page.engine.detector_kind == "yunet" and page.engine.detector_choice.source == "environment"
    assert FakeCapture.made and FakeCapture.made[-1].source == 0  # the camera request waited for the model


def test_a_damaged_checkpoint_is_refused_and_a_real_one_loads(make_page, qtbot, tmp_path, untrained_checkpoint):
    import torch

    threads = torch.get_num_threads()
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a checkpoint at all")
    page = make_page(model=False)
    try:
        page.choose_checkpoint(str(damaged))
        qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=20000)
        assert "could not be loaded" in page.banner_label.text() and "not a readable PyTorch checkpoint" in \
            page.banner_label.text()
        page.choose_checkpoint(str(untrained_checkpoint))
        qtbot.waitUntil(lambda: page.engine.model is not None, timeout=20000)
        assert "mobilefacenet age network, ages 0–100" in page.status_line.text() and "(untrained.pt, torch)" in page.status_line.text()
        assert not page.banner.isVisible()
    finally:
        torch.set_num_threads(threads)


def test_detector_menu_switches_and_refuses_a_bad_file(make_page, tmp_path, message_boxes, yunet_model):
    page = make_page()
    assert page.auto_detector_action.isChecked() and "YuNet" in page.status_line.text()
    page.use_haar()
    assert page.haar_action.isChecked() and page.engine.make_detector().name == "haar"
    assert "Haar cascade" in page.status_line.text()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    page.choose_yunet(str(bad))
    assert page.haar_action.isChecked() and message_boxes and "could not be used" in message_boxes[0][1]
    page.choose_yunet(str(yunet_model))
    assert page.yunet_action.isChecked() and page.engine.detector_choice.source == "named"
    page.use_automatic_detector()  # back to the project's, else the preference (the YuNet file just chosen)
    assert page.auto_detector_action.isChecked() and page.engine.detector_choice.source == "preferences"


def test_results_reach_the_gui_at_most_30_times_a_second(make_page, qtbot):
    page = make_page(capture_factory=FakeCapture)
    page.estimate_from_camera()
    capture = FakeCapture.made[-1]
    capture.status, capture.connected = "reading camera 0", True
    stop = threading.Event()
    grey = np.full((120, 160, 3), 128, np.uint8)

    def fast_camera():  # about 200 frames a second, far more than the GUI should draw
        while not stop.wait(0.005):
            capture.deliver(grey)

    feeder = threading.Thread(target=fast_camera)
    feeder.start()
    try:
        qtbot.waitUntil(lambda: page.camera.frames_drawn >= 1, timeout=3000)
        worker, drawn, started = page.camera.worker, page.camera.frames_drawn, time.monotonic()
        processed = worker.frames_processed
        qtbot.wait(1000)
        elapsed = time.monotonic() - started
        drawn_rate = (page.camera.frames_drawn - drawn) / elapsed
        processed_rate = (worker.frames_processed - processed) / elapsed
    finally:
        stop.set()
        feeder.join()
    # capped near 30 a second whatever the load (a loaded machine draws fewer, never more), and drawing keeps up:
    # a frame drawn is one processed (the rest were skipped, not queued)
    assert page.camera.frames_drawn - drawn >= 2 and drawn_rate <= 31 and processed_rate >= drawn_rate


def _path_model(path):
    """A fake model that says which file it stands for (results name their model by it)."""
    model = NoisyAgeModel()
    model.path, model.summary = path, f"noisy age network ({path.name}, ages 0-100)"
    return model


def test_the_page_follows_the_projects_active_model_and_reruns_the_photos(make_page, qtbot, tmp_path, fgnet_images,
                                                                          monkeypatch):
    from ageapp.store.db import open_project
    from ageapp.store.runs import activate_model, add_model

    default = tmp_path / "default.onnx"
    default.write_bytes(b"weights")
    monkeypatch.setattr(estimation_engine, "default_model_path", lambda: default)
    loaded = []
    page = make_page(model=False, load_model=lambda path: loaded.append(path) or _path_model(path))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "009A14.JPG").write_bytes((fgnet_images / "009A14.JPG").read_bytes())
    db = open_project(tmp_path / "study.ageproj", create=True)
    panel = page.photos
    try:
        page.set_project(db)  # no model trained yet: the default one
        assert page.project_model_action.isChecked() and "the default model is used" in \
            page.project_model_action.toolTip()
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            page.drop_paths([str(folder)])
        assert loaded == [default] and panel.results[0].model == str(default)

        checkpoint = tmp_path / "run1.pt"
        checkpoint.write_bytes(b"weights")
        activate_model(db, add_model(db, "run 1", str(checkpoint)))
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            page.project_model_activated()  # what Train ▸ Runs… ▸ Make active model does
            assert panel.old_label.isVisible() and "Old results" in panel.old_label.text()
        assert loaded == [default, checkpoint] and panel.results[0].model == str(checkpoint)
        assert not panel.old_label.isVisible() and page.project_model_action.isChecked()
        assert "run 1" in page.status_line.text() and "the project's active model" in page.status_line.text()

        with qtbot.waitSignal(panel.batch_finished, timeout=15000):  # the user names the default model ...
            page.use_default_model()
        assert panel.results[0].model == str(default) and page.default_model_action.isChecked()
        page.engine.refresh()  # ... which outranks the project's model until a run is made active again
        assert page.engine.source.path is None and loaded[-1] == default
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            page.use_project_model()  # following the project again: its active model, the photos re-run
        assert panel.results[0].model == str(checkpoint) and loaded[-1] == checkpoint
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            page.set_project(None)  # the project closes: the default model again
        assert panel.results[0].model == str(default)
    finally:
        db.close()


def test_the_projects_detector_is_used_and_a_changed_detector_reruns_the_photos(make_page, qtbot, tmp_path,
                                                                                fgnet_images, yunet_model,
                                                                                monkeypatch):
    from ageapp.store.db import open_project
    from ageapp.store.settings import set_setting

    monkeypatch.delenv("AGEAPP_DETECTOR")  # what the wizard stored is all there is
    page = make_page()
    assert page.engine.detector_kind == "haar" and "Haar cascade" in page.status_line.text()
    db = open_project(tmp_path / "study.ageproj", create=True)
    set_setting(db, "detector_path", str(yunet_model))  # as the new-project wizard stores it
    panel = page.photos
    try:
        page.set_project(db)
        assert page.engine.detector_choice.source == "project" and page.auto_detector_action.isChecked()
        assert "YuNet (face_detection_yunet.onnx, the project's)" in page.status_line.text()
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            page.drop_paths([str(fgnet_images / "009A14.JPG")])
        assert panel.results[0].detector == "yunet" and panel.results[0].estimates[0].face.score >= 0.8
        with qtbot.waitSignal(panel.batch_finished, timeout=15000):
            page.use_haar()  # named: outranks the project's; the photo is estimated again at once
        assert panel.results[0].detector == "haar" and panel.results[0].estimates[0].face.score is None
        assert not panel.old_label.isVisible()
    finally:
        page.set_project(None)
        db.close()


def test_model_sources_describe_themselves_while_loading():
    from pathlib import Path

    from ageapp.ui.estimate.engine import DEFAULT, FILE, PROJECT, ModelSource

    assert ModelSource(DEFAULT).describe() == "the default model"
    assert ModelSource(PROJECT, Path("/x/run/best.pt")).describe() == "the project's active model"
    assert ModelSource(FILE, Path("/x/mine.pt")).describe() == "checkpoint mine.pt"


def _page_with_a_broken_checkpoint(make_page, tmp_path, monkeypatch):
    """A page on a stand-in default model, and a checkpoint file that fails to load: (page, default, broken)."""
    default = tmp_path / "default.onnx"
    default.write_bytes(b"weights")
    monkeypatch.setattr(estimation_engine, "default_model_path", lambda: default)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")

    def load(path):
        if path == broken:
            raise ValueError("not a readable PyTorch checkpoint")
        return _path_model(path)

    return make_page(model=False, load_model=load), default, broken


def test_a_model_that_fails_to_load_leaves_the_results_current(make_page, qtbot, tmp_path, fgnet_images,
                                                               monkeypatch):
    page, default, broken = _page_with_a_broken_checkpoint(make_page, tmp_path, monkeypatch)
    panel = page.photos
    with qtbot.waitSignal(panel.batch_finished, timeout=15000):
        page.drop_paths([str(fgnet_images / "009A14.JPG")])
    with qtbot.waitSignal(page.engine.model_failed, timeout=15000):
        page.choose_checkpoint(str(broken))
        assert panel.old_label.isVisible()  # on its way: old until it comes ...
    assert not panel.old_label.isVisible() and panel.results[0].model == str(default)  # ... and it did not come
    assert "could not be loaded" in page.banner_label.text() and "Still using" in page.banner_label.text()


def test_results_of_a_yunet_file_that_fell_back_to_haar_are_current(make_page, qtbot, tmp_path, fgnet_images,
                                                                    monkeypatch):
    # the detector's file is no YuNet model: it opens as the Haar cascade and the results say "haar"; a model
    # that then fails to load must not leave them marked old (the engine compared them with the kind chosen)
    not_yunet = tmp_path / "not_yunet.onnx"
    not_yunet.write_bytes(b"not an ONNX network")
    monkeypatch.setenv("AGEAPP_DETECTOR", str(not_yunet))
    page, _, broken = _page_with_a_broken_checkpoint(make_page, tmp_path, monkeypatch)
    panel = page.photos
    assert page.engine.detector_choice.kind == "yunet" and page.engine.signature()[1] == "haar"
    with qtbot.waitSignal(panel.batch_finished, timeout=15000):
        page.drop_paths([str(fgnet_images / "009A14.JPG")])
    assert panel.results[0].detector == "haar" and not panel.results_are_old()
    with qtbot.waitSignal(page.engine.model_failed, timeout=15000):
        page.choose_checkpoint(str(broken))
    assert not panel.old_label.isVisible()
