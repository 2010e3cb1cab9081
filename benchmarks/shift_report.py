"""The shift benchmark's figures from one condition's raw model outputs: the model's own calibration applied
(with each face's quality, as the app does), then the project's one definition of each metric
(ageapp.core.metrics); and its plot and markdown table."""

from __future__ import annotations

import numpy as np

from ageapp.core import metrics
from ageapp.core.calibration_fit import QUALITY_LOWS
from ageapp.core.posterior import age_grid

SHIFT_BANDS = ((0, 12), (13, 19), (20, 39), (40, 59), (60, 79), (80, None))
TOO_POOR = QUALITY_LOWS[1]  # below this score a face is "too poor" to judge (ageapp.faces.quality.LEVELS)


def calibrated(raw: dict, model) -> np.ndarray:
    """The posteriors the app would show for these faces: the model's calibration given each face's quality."""
    return model.calibrate(np.asarray(raw["posterior"], np.float64), quality=np.asarray(raw["quality"])[:, 0])


def summarize(posterior: np.ndarray, ages: np.ndarray) -> dict:
    """MAE (mean), bias (mean signed error), coverage at 50/80/90/95%, NLL and mean 90% width."""
    on_grid = np.clip(np.rint(ages), 0, posterior.shape[1] - 1).astype(int)
    means = posterior @ age_grid(posterior.shape[1] - 1)
    levels = metrics.coverage_at_levels(posterior, on_grid)
    return {
        "n": int(len(ages)),
        "mae": round(metrics.mae(means, ages), 3),
        "bias": round(float(np.mean(means - ages)), 3),
        **{f"coverage{int(round(q * 100))}": round(v, 2) for q, v in levels.items()},
        "calibration_error": round(metrics.calibration_error(levels), 2),
        "nll": round(metrics.negative_log_likelihood(posterior, on_grid), 4),
        "width90": round(metrics.mean_interval_width(posterior), 2),
    }


def condition_metrics(raw: dict, model, with_bands: bool = False) -> dict:
    posterior = calibrated(raw, model)
    ages = np.asarray(raw["age"], np.float64)
    quality = np.asarray(raw["quality"])[:, 0]
    out = summarize(posterior, ages)
    out.update({"found": round(100.0 * float(np.mean(raw["found"])), 2), "quality": round(float(quality.mean()), 3),
                "too_poor": round(100.0 * float(np.mean(quality < TOO_POOR)), 2)})
    if with_bands:
        out["bands"] = {}
        for low, high in SHIFT_BANDS:
            inside = (ages >= low) & (ages < (np.inf if high is None else high + 1))
            if inside.any():
                out["bands"][metrics.band_name(low, high)] = summarize(posterior[inside], ages[inside])
    return out


def plot_coverage(results: dict, corruptions, severities, path: str, model_name: str) -> None:
    """90% coverage against severity, one line per corruption, the clean figure and 90% nominal marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    clean = results.get("clean-0", {})
    for corruption in corruptions:
        xs = [0] + list(severities)
        cov = [clean.get("coverage90")] + [results[f"{corruption}-{s}"]["coverage90"] for s in severities]
        mae = [clean.get("mae")] + [results[f"{corruption}-{s}"]["mae"] for s in severities]
        left.plot(xs, cov, marker="o", label=corruption.replace("_", " "))
        right.plot(xs, mae, marker="o", label=corruption.replace("_", " "))
    left.axhline(90, color="black", linestyle="--", linewidth=1)
    left.set(xlabel="severity (0 = clean)", ylabel="90% interval coverage (%)", ylim=(0, 100),
             title=f"coverage under corruption ({model_name})")
    right.set(xlabel="severity (0 = clean)", ylabel="MAE (years)", title="error under corruption")
    right.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def summary_table(results: dict, corruptions, severities) -> str:
    """Markdown: one row per corruption, '90% coverage / MAE' per severity; then the clean age bands."""
    head = "| corruption | " + " | ".join(f"severity {s}" for s in severities) + " |"
    rows = [head, "|---|" + "---|" * len(severities)]
    clean = results["clean-0"]
    rows.append(f"| clean | {clean['coverage90']:.1f} / {clean['mae']:.2f}" + " |" * len(severities))
    for corruption in corruptions:
        cells = [f"{results[f'{corruption}-{s}']['coverage90']:.1f} / {results[f'{corruption}-{s}']['mae']:.2f}"
                 for s in severities]
        rows.append(f"| {corruption.replace('_', ' ')} | " + " | ".join(cells) + " |")
    rows += ["", "| clean, by age | faces | MAE | bias | coverage 50 / 80 / 90 / 95 |", "|---|---|---|---|---|"]
    for band, m in clean.get("bands", {}).items():
        rows.append(f"| {band} | {m['n']} | {m['mae']:.2f} | {m['bias']:+.2f} | {m['coverage50']:.1f} / "
                    f"{m['coverage80']:.1f} / {m['coverage90']:.1f} / {m['coverage95']:.1f} |")
    return "\n".join(rows) + "\n"
