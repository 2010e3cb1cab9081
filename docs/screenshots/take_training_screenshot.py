"""Regenerate training.png: a real run started from Train ▸ Train a model… on FG-NET, mid-run, curves moving.

    Xvfb :97 -screen 0 1280x900x24 &  DISPLAY=:97 .venv/bin/python docs/screenshots/take_training_screenshot.py \
        [--epochs 8] [--shoot-after 4] [--net mobilefacenet] [--size 112]

Needs ../shared: FG-NET, the YuNet detector and the MobileFaceNet face-verification checkpoint. The FG-NET project
is built once (as `ageapp import` does; ~20 s) and cached in the system temporary folder (`ageapp-train`); the run works on a copy. The
picture is taken once --shoot-after epochs are done and a few batches of the next one are drawn; the run is
then cancelled. Settings go to a throw-away folder, never the user's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--shoot-after", type=int, default=4)
    parser.add_argument("--net", default="mobilefacenet")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, default=HERE / "training.png")
    args = parser.parse_args()

    from benchmarks.ui_during_training import fgnet_project, working_copy

    project = working_copy(fgnet_project())
    settings_dir = tempfile.mkdtemp(prefix="ageapp-shots-")
    os.environ["AGEAPP_CONFIG_DIR"] = str(Path(settings_dir) / "config")  # the preferences file, not the user's
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication(sys.argv[:1])
    from ageapp.ui.shell.app import configure_application
    from ageapp.ui.estimate.page import install_estimate_page
    from ageapp.ui.label.page import install_label_page
    from ageapp.ui.shell.main_window import MainWindow
    from ageapp.ui.shell.settings import AppSettings
    from ageapp.ui.train.page import install_train_page

    configure_application(app)
    AppSettings().set_annotator("screenshot")
    window = MainWindow()
    install_label_page(window)
    install_estimate_page(window)
    page = install_train_page(window)
    window.resize(1280, 860)
    window.show()
    QTest.qWaitForWindowExposed(window)
    assert window.open_project_path(project)
    train_action = next(a for a in page.menu.actions() if a.text() == "&Train a model…")
    train_action.trigger()  # Train ▸ Train a model…
    QTest.qWait(3000)  # the device list (torch import) arrives
    form = page.form
    form.net_combo.setCurrentIndex(form.net_combo.findData(args.net))
    form.init_combo.setCurrentIndex(form.init_combo.findData("face" if args.net == "mobilefacenet" else "none"))
    form.epochs_spin.setValue(args.epochs)
    form.batch_spin.setValue(args.batch)
    form.size_spin.setValue(args.size)
    form.lr_spin.setValue(0.001)

    done = {"epochs": 0, "batches_after": 0, "shot": False}

    def on_epoch(metrics):
        done["epochs"] = metrics["epoch"]

    def on_stats(stats):
        if done["epochs"] >= args.shoot_after:
            done["batches_after"] += 1
        if done["batches_after"] >= 6 and not done["shot"]:
            done["shot"] = True
            QTimer.singleShot(300, shoot)

    def shoot():
        window.grab().save(str(args.out))
        print(f"saved {args.out}", flush=True)
        page.cancel_training()

    page.run_starting.connect(lambda worker: (worker.epoch_finished.connect(on_epoch),
                                              worker.batch_stats.connect(on_stats)))
    page.controls.start_button.click()
    page.run_ended.connect(lambda status: QTimer.singleShot(500, app.quit))
    app.exec()
    window.close()
    shutil.rmtree(settings_dir, ignore_errors=True)
    shutil.rmtree(project.parent, ignore_errors=True)
    return 0 if done["shot"] else 1


if __name__ == "__main__":
    sys.exit(main())
