"""The About box: version, libraries, the paper, and the default model's card when one ships."""

from __future__ import annotations

import platform

import pyqtgraph
import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from ageapp import __version__
from ageapp.ui.shell.resources import DEFAULT_MODEL_CARD, resource_path

PAPER = (
    "Y. Zhang, L. Liu, C. Li, C. C. Loy, “Quantifying Facial Age by Posterior of Age Comparisons”, "
    "BMVC 2017."
)


def model_card_text() -> str | None:
    """The default model's card (Markdown), or None when no card ships with this build."""
    path = resource_path(DEFAULT_MODEL_CARD)
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About ageapp")
        icon = QLabel()
        icon.setPixmap(QIcon(str(resource_path("icons/ageapp.png"))).pixmap(64, 64))
        self.heading = QLabel(f"<b style='font-size:15pt'>ageapp {__version__}</b>")
        self.details = QLabel(
            "Label facial age by pairwise comparison, train an age network from the resulting posteriors, "
            f"and estimate age from photos and the webcam.<br><br>Method: {PAPER}<br><br>"
            f"Python {platform.python_version()} · Qt {qVersion()} · PySide6 {PySide6.__version__} · "
            f"pyqtgraph {pyqtgraph.__version__}"
        )
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        card = model_card_text()
        self.model_card = QTextBrowser()
        self.model_card.setOpenExternalLinks(True)
        if card is None:
            self.model_card.setPlainText(
                f"No default model card in this build ({resource_path(DEFAULT_MODEL_CARD)} is absent). "
                "Train a model in Train mode, or install a build that ships the default model."
            )
        else:
            self.model_card.setMarkdown(card)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(icon)
        layout.addWidget(self.heading)
        layout.addWidget(self.details)
        layout.addWidget(QLabel("<b>Default model</b>"))
        layout.addWidget(self.model_card, stretch=1)
        layout.addWidget(buttons)
        self.resize(560, 520)
