"""The first page: create or open a project (recent ones listed), or estimate an age straight away.

The page only emits requests; the main window decides what they do.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

PATH_ROLE = Qt.ItemDataRole.UserRole


class StartPage(QWidget):
    new_project_requested = Signal()
    open_project_requested = Signal(str)  # a path; "" means "ask the user for one"
    estimate_image_requested = Signal()
    estimate_camera_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        title = QLabel("ageapp")
        title.setObjectName("pageTitle")
        subtitle = QLabel(
            "Label facial age by comparing faces, train an age network, and estimate age from photos."
        )
        subtitle.setObjectName("pageSubtitle")
        subtitle.setWordWrap(True)

        self.new_button = _button("New project…", primary=True)
        self.open_button = _button("Open project…")
        self.new_button.clicked.connect(self.new_project_requested)
        self.open_button.clicked.connect(lambda: self.open_project_requested.emit(""))

        self.recent_list = QListWidget()
        self.recent_list.setObjectName("recentProjects")
        self.recent_list.setAlternatingRowColors(False)
        self.recent_list.itemActivated.connect(self._open_item)  # double-click, or Enter
        self.recent_empty = QLabel(
            "No recent projects yet. Create one with New project…, or open an existing .ageproj file."
        )
        self.recent_empty.setObjectName("hint")
        self.recent_empty.setWordWrap(True)
        # Takes the list's place (and its stretch) when there is nothing to list.
        self.recent_empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.recent_empty.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.estimate_image_button = _button("Estimate from image…")
        self.estimate_camera_button = _button("Estimate from camera…")
        self.estimate_image_button.clicked.connect(self.estimate_image_requested)
        self.estimate_camera_button.clicked.connect(self.estimate_camera_requested)

        project_buttons = QHBoxLayout()
        project_buttons.addWidget(self.new_button)
        project_buttons.addWidget(self.open_button)
        project_buttons.addStretch(1)
        estimate_buttons = QHBoxLayout()
        estimate_buttons.addWidget(self.estimate_image_button)
        estimate_buttons.addWidget(self.estimate_camera_button)
        estimate_buttons.addStretch(1)

        column = QVBoxLayout()
        column.addWidget(title)
        column.addWidget(subtitle)
        column.addSpacing(18)
        column.addWidget(_section("Projects"))
        column.addLayout(project_buttons)
        column.addSpacing(6)
        column.addWidget(_section("Recent projects"))
        column.addWidget(self.recent_list, stretch=1)
        column.addWidget(self.recent_empty, stretch=1)
        column.addSpacing(18)
        column.addWidget(_section("Estimate an age without a project"))
        hint = QLabel("Uses the default model; nothing is saved.")
        hint.setObjectName("hint")
        column.addWidget(hint)
        column.addLayout(estimate_buttons)

        outer = QHBoxLayout(self)  # a readable column centred in a wide window
        outer.addStretch(1)
        outer.addLayout(column, stretch=8)
        outer.addStretch(1)
        outer.setContentsMargins(24, 24, 24, 24)
        self.set_recent_projects([])

    def set_recent_projects(self, paths: list[Path]) -> None:
        """Most recent first; each row shows the file name, then its folder."""
        self.recent_list.clear()
        for path in paths:
            path = Path(path)
            item = QListWidgetItem(f"{path.name}\n{path.parent}")
            item.setData(PATH_ROLE, str(path))
            item.setToolTip(f"{path}\nDouble-click to open.")
            self.recent_list.addItem(item)
        empty = not paths
        self.recent_list.setVisible(not empty)
        self.recent_empty.setVisible(empty)

    def recent_paths(self) -> list[str]:
        return [self.recent_list.item(row).data(PATH_ROLE) for row in range(self.recent_list.count())]

    def _open_item(self, item: QListWidgetItem) -> None:
        self.open_project_requested.emit(item.data(PATH_ROLE))


def _button(text: str, primary: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setProperty("primary", primary)
    button.setMinimumWidth(170)
    return button


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label
