"""Regenerate the screenshots in this folder (a developer tool, not shipped).

    Xvfb :99 -screen 0 1600x1000x24 &  DISPLAY=:99 .venv/bin/python docs/screenshots/take_screenshots.py

Needs ../shared/data/utkface/images for the faces (the crops are centre cuts resized to 112x96).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

HERE = Path(__file__).resolve().parent
UTKFACE = HERE.parents[2] / "shared" / "data" / "utkface" / "images"


def utk_crop(name: str) -> np.ndarray:
    """A UTKFace chip (200x200, face centred) cut to the 96:112 aspect and resized to 112x96 BGR."""
    image = cv2.imread(str(UTKFACE / name))
    if image is None:
        sys.exit(f"cannot read {UTKFACE / name}")
    height, width = image.shape[:2]
    cut = int(round(height * 96 / 112))
    left = (width - cut) // 2
    return cv2.resize(image[:, left : left + cut], (96, 112), interpolation=cv2.INTER_AREA)


def pick(age: int, gender: int) -> str:
    return sorted(p.name for p in UTKFACE.glob(f"{age}_{gender}_*.jpg*"))[0]


def main() -> int:
    settings_dir = tempfile.mkdtemp(prefix="ageapp-shots-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication(sys.argv[:1])
    from ageapp.core.posterior import posterior_from_comparisons, summarize
    from ageapp.ui.app import configure_application
    from ageapp.ui.comparison_panel import ComparisonPanel
    from ageapp.ui.main_window import MainWindow
    from ageapp.ui.posterior_plot import PosteriorPlot

    configure_application(app)
    window = MainWindow()
    projects = Path(settings_dir) / "projects"
    projects.mkdir()
    for name in ("megaage-asian-pilot", "fgnet-study", "family-photos"):
        window.create_project_path(projects / name)
    window.close_project()
    window.resize(1000, 700)
    window.show()
    QTest.qWaitForWindowExposed(window)
    QTest.qWait(300)
    window.grab().save(str(HERE / "start_page.png"))

    # The labelling view as the Label page will assemble it: the pair above, the live posterior below.
    page = QWidget()
    layout = QVBoxLayout(page)
    panel, plot = ComparisonPanel(), PosteriorPlot(age_max=70)
    layout.addWidget(panel, stretch=3)
    layout.addWidget(plot, stretch=2)
    window.add_page("label", page)
    window.show_page("label")
    references = [25, 45, 32, 38, 35, 30]
    outcomes = [1, 0, 1, 0, None, 1]
    p = posterior_from_comparisons(references, outcomes, age_max=70)
    plot.show_posterior(p, summarize(p), list(zip(references, outcomes)))
    panel.show_pair(utk_crop(pick(34, 1)), utk_crop(pick(36, 1)), "Query 12 of 50 · comparison 7")
    window.resize(1000, 880)
    QTest.qWait(300)
    window.grab().save(str(HERE / "labelling.png"))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
