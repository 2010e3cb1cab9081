"""The statistics dock's worker: ProjectStatistics computed in a thread from the project file (opened read-only
there), so that the labelling never waits for a recount."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, Signal

from ageapp.annotation.statistics import project_statistics
from ageapp.core.selection import Protocol
from ageapp.store.db import ProjectError, open_project

RUNNING: set[QThread] = set()  # workers stay referenced until they finish, whoever asked for them


class StatisticsWorker(QThread):
    """Computes ProjectStatistics for a project file; `computed(stats, generation)` or `failed(message)`
    arrive in the panel's thread (connected to its methods, so Qt queues them across threads)."""

    computed = Signal(object, int)
    failed = Signal(str)

    def __init__(self, path: Path, protocol: Protocol, generation: int = 0):
        super().__init__()
        self.path, self.protocol, self.generation = path, protocol, generation

    def run(self) -> None:
        try:
            db = open_project(self.path, read_only=True)
        except ProjectError as error:
            self.failed.emit(f"Statistics are not available: {error}")
            return
        try:
            self.computed.emit(project_statistics(db, self.protocol), self.generation)
        except Exception as error:  # noqa: BLE001  a locked or damaged file: said in the panel, not a crash
            self.failed.emit(f"Statistics could not be computed ({error}); they will be tried again.")
        finally:
            db.close()


def wait_for_statistics_workers() -> None:
    """Block until no statistics worker runs (before a project closes or the app quits)."""
    for worker in list(RUNNING):
        worker.wait()
