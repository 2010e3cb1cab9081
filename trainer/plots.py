"""`evaluate --plot FILE.png`: a reliability diagram (observed against nominal coverage of the central
intervals, 5% to 95%) and the error by true age, written with matplotlib's Agg backend (no window).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ageapp.core.metrics import coverage_at_levels

RELIABILITY_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))
AGE_BIN = 5  # years per bar of the error-by-age panel


def reliability_curve(posteriors, true_ages) -> tuple[np.ndarray, np.ndarray]:
    """(nominal levels, observed coverage) as fractions."""
    observed = coverage_at_levels(posteriors, true_ages, RELIABILITY_LEVELS)
    return np.array(RELIABILITY_LEVELS), np.array([observed[q] / 100.0 for q in RELIABILITY_LEVELS])


def error_by_age(estimates, true_ages, width: int = AGE_BIN) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin starts, MAE per bin, faces per bin) over bins of `width` years of the true age (empty bins left out)."""
    estimates, true_ages = np.asarray(estimates, float), np.asarray(true_ages, float)
    bins = (true_ages // width).astype(int)
    starts, maes, counts = [], [], []
    for b in np.unique(bins):
        inside = bins == b
        starts.append(b * width)
        maes.append(float(np.mean(np.abs(estimates[inside] - true_ages[inside]))))
        counts.append(int(inside.sum()))
    return np.array(starts), np.array(maes), np.array(counts)


def write_evaluation_plot(path: str | Path, posteriors, true_ages, estimates, title: str = "",
                          raw_posteriors=None) -> Path:
    """The two panels side by side as a PNG; raw_posteriors (before calibration) are drawn dashed when given."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'ageapp[train]' (or pip install matplotlib)") from None
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"--plot writes a PNG: name the file *.png, not {path.name}")
    on_grid = np.clip(np.rint(np.asarray(true_ages, float)), 0, np.asarray(posteriors).shape[1] - 1).astype(int)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    left.plot([0, 1], [0, 1], color="#999999", linewidth=1, label="calibrated")
    if raw_posteriors is not None:
        nominal, observed = reliability_curve(raw_posteriors, on_grid)
        left.plot(nominal, observed, "--o", color="#d62728", markersize=3, label="before calibration")
    nominal, observed = reliability_curve(posteriors, on_grid)
    left.plot(nominal, observed, "-o", color="#1f77b4", markersize=3, label="model")
    left.set(xlabel="nominal level of the central interval", ylabel="share of true ages inside",
             xlim=(0, 1), ylim=(0, 1), title="reliability")
    left.grid(alpha=0.3)
    left.legend(loc="upper left", fontsize=8)
    starts, maes, counts = error_by_age(estimates, true_ages)
    right.bar(starts + AGE_BIN / 2, maes, width=AGE_BIN * 0.85, color="#1f77b4")
    for x, y, n in zip(starts, maes, counts):
        right.annotate(str(n), (x + AGE_BIN / 2, y), ha="center", va="bottom", fontsize=6, color="#555555")
    right.set(xlabel=f"true age ({AGE_BIN}-year bins; faces above each bar)", ylabel="mean absolute error (years)",
              title="error by age")
    right.grid(alpha=0.3, axis="y")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    figure.savefig(tmp)
    plt.close(figure)
    tmp.replace(path)
    return path
