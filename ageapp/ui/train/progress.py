"""The Train page's run area: a banner (what happened, what to do), the run's title, its progress bar and rate,
the live curves (curves.py), the best epoch so far, and the run's log.

It only shows what the run's worker reports (the page connects the worker's signals here) and the run's state
that the page sets (`set_state`: paused and stopping read in the progress bar).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from ageapp.ui.train.curves import TrainingCurves
from ageapp.ui.train.policy import IDLE, PAUSED, RUNNING, STOPPING

LOG_LINES = 2000
BANNER_STYLES = {
    "error": "QFrame#trainBanner { background: #fde8e6; border: 1px solid #e3a39b; border-radius: 5px; }"
             "QFrame#trainBanner QLabel { color: #6b1710; }",
    "info": "QFrame#trainBanner { background: #e8f2e6; border: 1px solid #9cc49a; border-radius: 5px; }"
            "QFrame#trainBanner QLabel { color: #1f4d1d; }",
    "warning": "QFrame#trainBanner { background: #fff4d6; border: 1px solid #e6c36a; border-radius: 5px; }"
               "QFrame#trainBanner QLabel { color: #5a4300; }",
}
# A light bar, so that the text over it reads as well as the text beside it.
PROGRESS_STYLE = ("QProgressBar { border: 1px solid #b9c2cc; border-radius: 4px; background: #ffffff; color: #1f2a33;"
                  " text-align: center; min-height: 20px; } QProgressBar::chunk { background: #a9cde0; }")
STOPPING_TEXT = "Stopping after the current batch, saving a checkpoint…"


def format_duration(seconds: float) -> str:
    if seconds < 0:
        return "estimating time left…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s left"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min left"


def readable_log_line(message: str) -> str:
    """The trainer logs each epoch's metrics as JSON (kept as such in train.log); on the page, a sentence."""
    if not message.startswith("{"):
        return message
    try:
        m = json.loads(message)
    except ValueError:
        return message
    if not isinstance(m, dict) or "epoch" not in m:
        return message
    parts = [f"epoch {m['epoch']}: training loss {m.get('train_loss', float('nan')):.3f}"]
    if m.get("val_mae") is not None:
        parts.append(f"validation loss {m.get('val_loss', float('nan')):.3f}, MAE {m['val_mae']:.2f}, "
                     f"CA(3) {m.get('val_ca3', 0):.1f}%, CA(5) {m.get('val_ca5', 0):.1f}%, "
                     f"90% coverage {m.get('val_coverage90', 0):.1f}%, NLL {m.get('val_nll', 0):.3f}")
    parts.append(f"{m.get('images_per_s', 0):.0f} images/s")
    return " · ".join(parts)


def finished_calibration(summary: dict) -> str:
    """Which calibration a finished run's model carries and on how many faces: its checkpoint's entry, else what
    the run reported ("isotonic on 75 faces", "none (uncalibrated)")."""
    from ageapp.ui.train.run_details import calibration_text, checkpoint_calibration

    entry = checkpoint_calibration(summary.get("checkpoint"))
    if entry is None:
        entry = {"method": summary.get("calibration") or "none", "n": summary.get("calibration_n"),
                 "fallback": summary.get("calibration_fallback", "")}
    return calibration_text(entry)


class RunProgress(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._state = IDLE
        self._planned_epochs = 0
        self.banner = QFrame()
        self.banner.setObjectName("trainBanner")
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.addWidget(self.banner_label, stretch=1)
        self.banner.setVisible(False)
        self.run_title = QLabel("No run yet")
        self.run_title.setObjectName("sectionTitle")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        self.progress_bar.setStyleSheet(PROGRESS_STYLE)
        self.rate_label = QLabel()
        self.rate_label.setObjectName("hint")
        self.curves = TrainingCurves()
        self.best_label = QLabel()
        self.best_label.setWordWrap(True)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setMaximumHeight(130)
        self.log_view.setPlaceholderText("The run's log appears here (also saved as train.log in the run folder).")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.run_title)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.rate_label)
        layout.addWidget(self.curves, stretch=1)
        layout.addWidget(self.best_label)
        layout.addWidget(self.log_view)

    # ---------------------------------------------------------------------------------------------- the banner
    def show_banner(self, text: str, kind: str, rich: bool = False) -> None:
        self.banner.setStyleSheet(BANNER_STYLES[kind])
        self.banner_label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.banner_label.setText(text)
        self.banner.setVisible(True)

    def banner_text(self) -> str:
        return self.banner_label.text() if not self.banner.isHidden() else ""

    # ---------------------------------------------------------------------------------------------- a run's life
    def show_past_run(self, run: dict | None) -> None:
        """A recorded run (the project's latest, when it opens): its title and curves, nothing running; None:
        no run yet."""
        self.curves.clear_curves()
        if run is None:
            self.set_title("No run yet")
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
            self._show_best()
            return
        config = run.get("config") or {}
        epochs = int(config.get("epochs", 1) or 1)
        self.curves.set_planned_epochs(epochs)
        self.curves.set_epochs(run.get("epochs") or [])
        self._show_best()
        done = len(run.get("epochs") or [])
        self.set_title(f"Run {run['id']} · {config.get('net', '')} · {run.get('status')}: {done} of {epochs} "
                       f"epoch{'' if epochs == 1 else 's'}")
        self.progress_bar.setRange(0, max(1, epochs))
        self.progress_bar.setValue(min(done, epochs))
        self.progress_bar.setFormat(f"Run {run['id']} {run.get('status')}")

    def set_title(self, text: str) -> None:
        self.run_title.setText(text)

    def prepare(self, epochs: int, history: list[dict]) -> None:
        """A run is starting: its planned epochs, the epochs it already has (a resumed run), busy until its
        first batch (the data is being prepared)."""
        self._planned_epochs = epochs
        self.curves.clear_curves()
        self.curves.set_planned_epochs(epochs)
        self.curves.set_epochs(history)
        self._show_best()
        self.log_view.clear()
        self.banner.setVisible(False)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("Preparing the data…")
        self.rate_label.setText("")

    def set_state(self, state: str) -> None:
        """The page's run state: pausing and stopping show in the bar and the log."""
        previous, self._state = self._state, state
        if state == PAUSED:
            self.progress_bar.setFormat(self.progress_bar.format().split(" · ")[0] + " · paused")
            self.add_log_line("paused (after the current batch); press Resume to go on")
        elif state == RUNNING and previous == PAUSED:
            self.add_log_line("resumed")
        elif state == STOPPING:
            self.progress_bar.setFormat(STOPPING_TEXT)

    def show_run_started(self, run_id: int, out: str, config: dict) -> None:
        epochs = config.get("epochs", 0)
        self.run_title.setText(f"Run {run_id} · {config.get('net', '')} · {epochs} epoch{'' if epochs == 1 else 's'}")
        self.run_title.setToolTip(out)

    def show_progress(self, epoch: int, batch: int, n_batches: int, eta_s: float) -> None:
        total = max(1, self._planned_epochs * n_batches)
        if self.progress_bar.maximum() != total:
            self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(total, (epoch - 1) * n_batches + batch))
        text = f"Epoch {epoch}/{self._planned_epochs} · batch {batch}/{n_batches} · {format_duration(eta_s)}"
        if self._state == PAUSED:
            text = text.split(" · ")[0] + " · paused"
        elif self._state == STOPPING:
            text = STOPPING_TEXT
        self.progress_bar.setFormat(text)

    def show_batch_stats(self, stats: dict) -> None:
        self.curves.add_batch(stats["x"], stats["loss"])
        self.rate_label.setText(f"{stats.get('images_per_s', 0):.0f} images/s · loss {stats['loss']:.3f} · "
                                f"learning rate {stats.get('lr', 0):.2g}")

    def show_epoch(self, metrics: dict) -> None:
        self.curves.add_epoch(metrics)
        self._show_best()

    def _show_best(self) -> None:
        best = self.curves.best_epoch
        if best is None:
            self.best_label.setText("")
            return
        parts = [f"<b>Best so far: epoch {best['epoch']}</b>",
                 f"validation MAE {best.get('val_mae', float('nan')):.2f}"]
        for key, name in (("val_ca3", "CA(3)"), ("val_ca5", "CA(5)"), ("val_coverage90", "90% coverage")):
            if best.get(key) is not None:
                parts.append(f"{name} {best[key]:.1f}%")
        if best.get("val_nll") is not None:
            parts.append(f"NLL {best['val_nll']:.3f}")
        self.best_label.setText(" · ".join(parts))

    def add_log_line(self, message: str) -> None:
        self.log_view.appendPlainText(readable_log_line(message))

    def stop_busy(self) -> None:
        """The run ended: a bar still busy (no batch yet) goes back to empty."""
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)  # (a new range resets the value to "none", which hides the text)

    def show_finished(self, summary: dict) -> None:
        """A run that finished or was cancelled (its summary: run_id, status, epochs_done, best ...)."""
        status = summary.get("status", "finished")
        self.progress_bar.setFormat(f"Run {summary.get('run_id')} {status}")
        if status == "finished":
            self.progress_bar.setValue(self.progress_bar.maximum())
            best = summary.get("best_val_mae")
            done = summary.get("epochs_done")
            calibration = finished_calibration(summary)
            self.show_banner(
                f"Run {summary.get('run_id')} finished: {done} epoch{'' if done == 1 else 's'}, best validation MAE "
                f"{best:.2f} (epoch {summary.get('best_epoch')}); calibration: {calibration}. Evaluate it, compare "
                "runs and make one the project's active model in Train ▸ Runs…" if best is not None else
                f"Run {summary.get('run_id')} finished (calibration: {calibration}). Make it the active model in "
                "Train ▸ Runs…", "info")
        else:
            self.show_banner(f"Run {summary.get('run_id')} was cancelled; its checkpoint is saved. "
                             "Resume it from Train ▸ Runs…", "warning")

    def show_failed(self, run_id: int | None, reason: str, checkpoint: str, out: str) -> None:
        """A run that stopped on an error: why, the checkpoint kept and the log, for the user to act on."""
        self.progress_bar.setFormat("Failed")
        lines = [f"<b>{'The run' if run_id is None else f'Run {run_id}'} stopped:</b> {html.escape(reason)}"]
        if checkpoint:
            lines.append(f"Checkpoint kept: {html.escape(checkpoint)}")
        if out:
            lines.append(f"Log: {html.escape(str(Path(out) / 'train.log'))}")
        self.show_banner("<br>".join(lines), "error", rich=True)
        if run_id is None:
            self.add_log_line("failed: " + reason)
