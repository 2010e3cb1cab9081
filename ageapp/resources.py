"""Where the files under `resources/` are, from the source tree and from a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[1]  # ageapp/resources.py -> the repository root


def resource_path(relative: str | Path) -> Path:
    """The absolute path of `resources/<relative>`.

    In a PyInstaller bundle the folder is `<sys._MEIPASS>/resources` (the spec adds it as data with that
    destination); otherwise it is `resources/` at the repository root. The path is returned even when the
    file is absent, so that callers can say which file is missing.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else _SOURCE_ROOT
    return root / "resources" / Path(relative)


DEFAULT_MODEL = "models/default.pt"
DEFAULT_MODEL_CARD = "models/default.md"


def default_model_path() -> Path:
    return resource_path(DEFAULT_MODEL)
