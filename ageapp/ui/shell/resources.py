"""`resource_path(relative) -> Path`: files under `resources/`, from the source tree or a PyInstaller bundle.

The one definition lives in `ageapp.resources` (Qt-free, so the estimation engine and the CLI use it too);
the Qt layer imports it from here.
"""

from __future__ import annotations

from ageapp.resources import DEFAULT_MODEL_CARD, resource_path

APP_ICON_PNG = "icons/ageapp.png"
APP_ICON_SVG = "icons/ageapp.svg"
STYLE_SHEET = "style.qss"

__all__ = ["APP_ICON_PNG", "APP_ICON_SVG", "DEFAULT_MODEL_CARD", "STYLE_SHEET", "resource_path"]
