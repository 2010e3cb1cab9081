"""Saving the photo page's results (Estimate ▸ Save results…): a CSV table or JSON, where the user chooses
(ageapp.estimation.results writes them)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from ageapp.estimation.results import RESULT_SUFFIXES, save_results
from ageapp.ui.shell.messages import show_warning

log = logging.getLogger("ageapp.estimate")

RESULTS_FILTER = "CSV table (*.csv);;JSON (*.json)"


def save_results_as(parent: QWidget, results: list, folder: str, path: str | Path | None = None) -> Path | None:
    """Write `results` to `path` (None: asked in a file dialog opening in `folder`); a name without .csv or .json
    gets the chosen filter's (CSV by default). Returns where it was saved, or None (nothing to save, cancelled, or
    the file could not be written: the user is told why)."""
    if not results:
        show_warning(parent, "Save results", "There are no results to save yet.",
                     "Open photos or a folder first; the results can be saved once they are listed.")
        return None
    selected_filter = ""
    if path is None:
        suggested = Path(folder or Path.home()) / "ages.csv"
        path, selected_filter = QFileDialog.getSaveFileName(parent, "Save results", str(suggested), RESULTS_FILTER)
        if not path:
            return None
    path = Path(path)
    if path.suffix.lower() not in RESULT_SUFFIXES:
        path = path.with_name(path.name + (".json" if "json" in selected_filter.lower() else ".csv"))
    try:
        saved = save_results(results, path)
    except (OSError, ValueError) as error:
        show_warning(parent, "Results not saved", f"{path} could not be written: {error}",
                     "Choose a .csv or .json file in a folder you can write to.")
        return None
    log.info("saved %d faces of %d photos to %s", sum(len(r.estimates) for r in results), len(results), saved)
    return saved
