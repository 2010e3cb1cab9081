"""The window and the project lock: released when the project or the window closes; a project open in another
process, or on a read-only disk, is explained (and the latter opened read-only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ageapp.store.lock import lock_path
from ageapp.ui.shell.main_window import MainWindow
from tests.factories import make_project


@pytest.fixture
def window(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    return window


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "study.ageproj"
    make_project(path, references=4, queries=2)[0].close()
    return path


def test_closing_the_project_or_the_window_releases_the_lock(window, project):
    assert window.open_project_path(project)
    assert lock_path(project).exists() and not window.session.db.read_only
    window.close_project()
    assert not lock_path(project).exists()
    assert window.open_project_path(project)
    window.close()
    assert not lock_path(project).exists()


def test_a_project_open_in_another_process_says_where(window, project, message_boxes):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom ageapp.store.db import open_project\n"
                               "db = open_project(sys.argv[1])\nprint('holding', flush=True)\ntime.sleep(60)",
                               str(project)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert not window.open_project_path(project)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    (title, text), = message_boxes
    assert title == "Could not open the project"
    assert f"process {holder.pid}" in text and "open it read-only" in text
    assert not window.session.is_open()


def test_a_project_on_a_read_only_disk_opens_read_only_and_says_why(window, tmp_path, message_boxes):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)]).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        make_project(disk / "study.ageproj", references=4, queries=2)[0].close()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        assert window.open_project_path(disk / "study.ageproj")
        assert window.session.db.read_only
        (title, text), = message_boxes
        assert title == "Opened read-only" and "read-only folder" in text and "copy it to a writable folder" in text
        window.close_project()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)
