"""Whether this installation can train, and what to tell the user when it cannot.

Training (the trainer, the Train page's runs, the torch backend) needs torch and torchvision: the `train` extra
of a source install (`pip install 'ageapp[train]'`), and the full bundle (`make package-full`). The light bundle
(`make package`) leaves them out on purpose: labelling and estimation run through ONNX Runtime. Nothing here
imports torch; `importlib.util.find_spec` only looks for it.
"""

from __future__ import annotations

import importlib.util
import sys

TRAINING_MODULES = ("torch", "torchvision")


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder refused it, or a broken half-imported module
        return False


def training_available() -> bool:
    return all(_importable(name) for name in TRAINING_MODULES)


def how_to_get_training() -> str:
    """Where training is to be had: the full bundle (said from a bundle), else the training extra."""
    if getattr(sys, "frozen", False):
        return ("use the full build (ageapp-full) or a source install with the training extra "
                "(pip install 'ageapp[train]')")
    return "install the training extra: pip install 'ageapp[train]' (`make run` installs it)"


def training_missing() -> str:
    """'' when training can run here, else why not and what to do, as one sentence."""
    if training_available():
        return ""
    if getattr(sys, "frozen", False):
        return f"This build of ageapp labels and estimates but cannot train (it has no torch): {how_to_get_training()}."
    return f"Training needs torch and torchvision, which are not installed: {how_to_get_training()}."
