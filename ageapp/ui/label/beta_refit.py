"""The labeller's β refitted in a worker thread: every tenth gold answer the session asks for a refit
(AnnotationSession.refit_runner); the fit (ageapp.annotation.beta.fit_beta, tens to hundreds of ms) runs on the
worker's own read-only connection while the labeller goes on answering, and its estimate comes back to the
window's thread, which stores it and recomputes that labeller's posteriors (AnnotationSession
.apply_fitted_model: a few ms for the queries of one session), between two key presses.

A β adopted from the study, or another refit applied meanwhile, makes the fit's result stale: it is dropped, and
fitted again when the next multiple of ten gold answers comes. Closing the project waits for a running fit and
applies it, so no refit is lost (Anki's habit: the worker never touches a widget, its result comes back as a
signal)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from ageapp.annotation.beta import fit_beta
from ageapp.annotation.events import BetaChanged
from ageapp.store.db import ProjectError, open_project, project_path

log = logging.getLogger("ageapp.label")


class RefitWorker(QThread):
    fitted = Signal(object)  # the AnnotatorModel
    failed = Signal(str)

    def __init__(self, path: Path, annotator_id: int):
        super().__init__()
        self.path, self.annotator_id = path, annotator_id

    def run(self) -> None:
        try:
            db = open_project(self.path, read_only=True)
        except ProjectError as error:
            self.failed.emit(str(error))
            return
        try:
            self.fitted.emit(fit_beta(db, self.annotator_id))
        except Exception as error:  # noqa: BLE001  a damaged or locked file: logged, the labelling goes on
            self.failed.emit(str(error))
        finally:
            db.close()


class BetaRefits(QObject):
    """`start(annotator_id)` is the session's refit runner; `finish()` waits for a running fit and applies it."""

    applied = Signal(int)  # posteriors recomputed by a refit

    def __init__(self, page):
        super().__init__(page)
        self.page = page
        self.worker: RefitWorker | None = None
        self._session = None
        self._stale = False  # a β adopted while the fit ran: its result would overwrite it
        self._again: int | None = None  # a refit asked while one ran: started when it ends
        self.apply_ms: list[float] = []  # what storing each refit took on the window's thread
        page.events.subscribe(self._on_event)

    def busy(self) -> bool:
        return self.worker is not None or self._again is not None

    def start(self, annotator_id: int) -> None:
        session = self.page.session
        if session is None:
            return
        if self.worker is not None:
            self._again = annotator_id
            return
        self._session, self._stale, self._again = session, False, None
        worker = RefitWorker(project_path(session.db), annotator_id)
        worker.fitted.connect(self._on_fitted)
        worker.failed.connect(lambda message: log.warning("β refit failed: %s", message))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start(QThread.Priority.LowPriority)

    def finish(self) -> None:
        """Wait for a running fit (and one asked meanwhile) and apply it now, before the session or project goes."""
        while self.worker is not None:
            self.worker.wait()
            QCoreApplication.sendPostedEvents(self)  # its queued result and end, delivered here and now

    def _on_event(self, event) -> None:
        if isinstance(event, BetaChanged) and self.worker is not None and self._session is not None \
                and event.annotator_id == self._session.annotator_id:
            self._stale = True

    def _on_fitted(self, model) -> None:
        session = self._session
        if self._stale or session is None or session is not self.page.session:
            return
        started = time.perf_counter()
        try:
            recomputed = session.apply_fitted_model(model)
        except Exception:  # noqa: BLE001  the project file refused it: the old β stays, the next refit retries
            log.exception("β refit not stored")
            return
        self.apply_ms.append((time.perf_counter() - started) * 1000)
        log.info("β of annotator %s refitted from their gold answers: %s; %d posteriors recomputed in %.0f ms",
                 session.annotator_id, model.describe(), recomputed, self.apply_ms[-1])
        self.applied.emit(recomputed)

    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.deleteLater()
            self.worker = None
        if self._again is not None:
            self.start(self._again)
