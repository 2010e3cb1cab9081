"""Tools ▸ Team progress and agreement…: each labeller's progress (answers, queries, finished, share of their part
when the project was split) and, for every pair who answered the same queries, how well they agree (share of
those queries whose 90% intervals intersect, mean |mode difference|): so a lead can see who needs help.

The figures are ageapp.annotation.agreement.team_report's, read in a worker on a read-only connection."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ageapp.annotation.agreement import TeamReport, team_report
from ageapp.ui.project.task import ProjectTask, TaskProgress
from ageapp.ui.shell.menus import tools_menu

LABELLER_COLUMNS = ["Labeller", "Part", "Answers", "Queries answered", "Finished", "Of their part", "Gold pairs",
                    "Last answer"]
PAIR_COLUMNS = ["Labellers", "Queries in common", "90% intervals intersect", "Mean |mode difference|"]
# Below this share of intersecting intervals a pair is marked: one of them may need help (or a β of their own).
LOW_AGREEMENT = 0.7
LOW_COLOUR = QColor("#fde8e6")


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _cell(text, align_right: bool = True) -> QTableWidgetItem:
    item = QTableWidgetItem("—" if text is None else str(text))
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class TeamDialog(QDialog):
    def __init__(self, project, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Team progress and agreement")
        self.project = project
        self.heading = QLabel("")
        self.heading.setWordWrap(True)
        self.progress = TaskProgress()
        self.progress.cancel_button.hide()
        self.labellers = _table(LABELLER_COLUMNS)
        self.pairs = _table(PAIR_COLUMNS)
        self.note = QLabel(f"A pair is marked when fewer than {LOW_AGREEMENT:.0%} of their common queries have "
                           "intersecting 90% intervals: compare their answers on those queries, or measure their β "
                           "(Mode ▸ Study).")
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.refresh_button = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        self.refresh_button.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.progress)
        layout.addWidget(QLabel("Progress"))
        layout.addWidget(self.labellers, stretch=2)
        layout.addWidget(QLabel("Agreement on the queries two labellers both answered"))
        layout.addWidget(self.pairs, stretch=1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.worker: ProjectTask | None = None
        self.report: TeamReport | None = None
        self.resize(860, 520)

    def refresh(self) -> None:
        if self.worker is not None:
            return

        def job(db, progress, should_stop):
            progress(0, 0, "reading the answers")
            return team_report(db)

        self.worker = ProjectTask(self.project, job, read_only=True)
        self.worker.succeeded.connect(self.show_report)
        self.worker.failed.connect(lambda message: self.progress.finished(message))
        self.worker.finished.connect(self._on_finished)
        self.refresh_button.setEnabled(False)
        self.progress.show()
        self.progress.started("Reading the answers…")
        self.worker.start()

    def _on_finished(self) -> None:
        self.worker.deleteLater()
        self.worker = None
        self.refresh_button.setEnabled(True)

    def show_report(self, report: TeamReport) -> None:
        self.report = report
        self.progress.finished("")
        self.progress.hide()
        split = report.split
        if split is None:
            self.heading.setText("No team split recorded: each labeller's answers in this project.")
        else:
            where = f"This file is part {report.part} of {split['parts']}" if report.part else (
                f"Split into {split['parts']} parts")
            self.heading.setText(f"{where}, {split['overlap']:.0%} of the queries in two parts. Merge the parts "
                                 "(File ▸ Merge…) to see the whole team here.")
        self.labellers.setRowCount(len(report.labellers))
        for row, p in enumerate(report.labellers):
            share = None if p.share_finished is None else f"{p.share_finished:.0%} of {p.assigned}"
            last = (p.last or "")[:16].replace("T", " ")
            values = [p.name, p.part, p.answers, p.queries, p.finished, share, p.gold, last]
            for column, value in enumerate(values):
                self.labellers.setItem(row, column, _cell(value, align_right=column not in (0, 7)))
        self.pairs.setRowCount(len(report.pairs))
        for row, pair in enumerate(report.pairs):
            share = pair.share_intersecting
            values = [f"{pair.first} & {pair.second}", pair.queries, None if share is None else f"{share:.0%}",
                      None if pair.mean_mode_difference is None else f"{pair.mean_mode_difference:.1f} years"]
            for column, value in enumerate(values):
                item = _cell(value, align_right=column != 0)
                if share is not None and share < LOW_AGREEMENT:
                    item.setBackground(LOW_COLOUR)
                self.pairs.setItem(row, column, item)

    def done(self, result: int) -> None:
        if self.worker is not None:
            self.worker.wait()
        super().done(result)


class TeamAction:
    """Tools ▸ Team progress and agreement… on the open project."""

    def __init__(self, window):
        self.window = window
        self.dialog: TeamDialog | None = None
        self.action = tools_menu(window).addAction("&Team progress and agreement…")
        self.action.setToolTip("Each labeller's progress and, on the queries two of them answered, their agreement")
        self.action.triggered.connect(lambda _checked=False: self.show())
        self.action.setEnabled(window.session.is_open())
        window.session.project_opened.connect(lambda _db: self.action.setEnabled(True))
        window.session.project_closed.connect(lambda: self.action.setEnabled(False))
        window.session.project_closed.connect(self.wait)

    def wait(self) -> None:
        if self.dialog is not None and self.dialog.worker is not None:
            self.dialog.worker.wait()

    def show(self) -> TeamDialog | None:
        if not self.window.session.is_open():
            return None
        self.dialog = TeamDialog(self.window.session.path, self.window)
        self.dialog.open()
        self.dialog.refresh()
        return self.dialog
