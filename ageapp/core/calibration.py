"""Calibrated age posteriors (method.md sections 6 and 7): what a model's calibration is, how it is applied and
stored, in numpy only, so that the light runtime applies it without torch. Fitting lives in
`ageapp.core.calibration_fit`.

A posterior is calibrated when the true age falls inside its q-interval a share q of the time, at every q, and
not only on average: also on poor pictures and at every age. Up to three steps, each fitted on faces the weights
never trained on (the calibration part of the held-out split):

1. a temperature T: p(a) ∝ p(a)^(1/T);
2. a monotone map R of the cumulative distribution (Kuleshov, Fenner and Ermon, ICML 2018): with F the tempered
   CDF, the recalibrated CDF is R(F(a)) and the recalibrated posterior its differences. R is stored as values
   on a fixed grid of KNOTS points and applied by linear interpolation;
3. ("mondrian" only) group-conditional maps, as in Mondrian conformal prediction (Vovk et al. 2003):
   - by picture quality (the face crop's score, `ageapp.faces.quality`): each quality band has its own
     temperature and CDF map in place of steps 1 and 2, so a noisy or blurred face gets the width that such
     faces needed on the calibration set (which holds degraded copies of its faces);
   - then by predicted age (the posterior's mean after the quality step): each age band's own temperature
     (a band may also carry a CDF map: calibrations fitted before 2026-12 did), fitted on what the quality
     step left, so that the old, whose ages a model underestimates, get the width they need rather than the
     average of everyone's.
   A band with few faces is shrunk towards its parent (the quality bands towards the pooled map, the age bands
   towards the identity): `calibration_fit` says how.

Optionally, split-conformal levels: for each nominal level q, the smallest central level q' whose intervals
cover at least q of the calibration faces, which guarantees coverage >= q for exchangeable faces.

Intervals are the mid-distribution intervals of `ageapp.core.posterior.credible_intervals`, the rule under
which a calibrated posterior over integer ages covers its nominal share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ageapp.core.posterior import normalize_log

CALIBRATION_VERSION = 2  # 1: one temperature and map; 2: + bands by quality and by predicted age, fallback
KNOTS = 201  # the CDF map's grid: x = 0, 0.005, ..., 1
LEVELS = (0.5, 0.8, 0.9, 0.95)  # the levels reported (and given conformal adjustments)
TEMPERATURE_RANGE = (0.05, 50.0)
METHODS = ("none", "temperature", "isotonic", "mondrian")
MAX_BANDS = 16


class CalibrationError(ValueError):
    """A calibration that cannot be fitted or read, with what to do about it."""


@dataclass(frozen=True)
class Band:
    """One group of a Mondrian calibration: values >= `low` (up to the next band's low). temperature 1 and
    cdf_map None are the identity; n: calibration faces that fell in the band."""

    low: float
    temperature: float = 1.0
    cdf_map: tuple[float, ...] | None = None
    n: int = 0

    def apply(self, p: np.ndarray) -> np.ndarray:
        if self.temperature != 1.0:
            p = apply_temperature(p, self.temperature)
        if self.cdf_map is not None:
            p = apply_cdf_map(p, np.asarray(self.cdf_map, dtype=np.float64))
        return p

    def to_dict(self) -> dict:
        return {"low": float(self.low), "temperature": float(self.temperature), "n": int(self.n),
                "cdf_map": None if self.cdf_map is None else [round(float(v), 7) for v in self.cdf_map]}


@dataclass(frozen=True)
class Calibration:
    """How to turn a model's raw posterior into a calibrated one. The identity when method is "none".

    temperature: T > 0 (1 = unchanged). cdf_map: values of R on the KNOTS grid (None: identity).
    quality_bands / age_bands: the Mondrian groups ("mondrian"; empty otherwise). conformal: {level: adjusted
    central level} (optional). flip: whether it was fitted on posteriors averaged with the mirror image (then
    apply it to those). n: the distinct faces fitted on; copies: the degraded copies of them fitted on too.
    fallback: why a simpler method than the one asked for was fitted ('' when none). before / after: metrics on
    the calibration faces themselves (not their copies)."""

    method: str = "none"
    temperature: float = 1.0
    cdf_map: tuple[float, ...] | None = None
    conformal: dict[float, float] = field(default_factory=dict)
    flip: bool = False
    n: int = 0
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    quality_bands: tuple[Band, ...] = ()
    age_bands: tuple[Band, ...] = ()
    fallback: str = ""
    copies: int = 0

    @property
    def is_identity(self) -> bool:
        return self.method == "none"

    @property
    def uses_quality(self) -> bool:
        """Whether `apply` needs each face's picture-quality score."""
        return bool(self.quality_bands)

    def describe(self) -> str:
        """One line for a user: which calibration, on how many faces, and any fallback."""
        if self.is_identity:
            return "uncalibrated"
        text = {"temperature": f"a temperature (T = {self.temperature:.2f})", "isotonic": "a CDF map",
                "mondrian": "CDF maps by picture quality, temperatures by age"}[self.method]
        text = f"calibrated with {text} on {self.n:,} held-out faces"
        if self.copies:
            text += f" and {self.copies:,} degraded copies of them"
        return f"{text} ({self.fallback})" if self.fallback else text

    def apply(self, posteriors: np.ndarray, quality=None) -> np.ndarray:
        """Calibrated posteriors (rows over ages 0..A; a single row is fine). Sums stay 1. `quality`: each
        face's picture-quality score (needed when `uses_quality`)."""
        p = np.asarray(posteriors, dtype=np.float64)
        if self.is_identity:
            return p
        single = p.ndim == 1
        p = np.atleast_2d(p)
        if self.quality_bands:
            if quality is None:
                raise CalibrationError("this model's calibration depends on picture quality: give each face's "
                                       "quality score (ageapp.faces.quality)")
            p = apply_bands(p, self.quality_bands, np.atleast_1d(np.asarray(quality, dtype=np.float64)))
        else:
            p = Band(0.0, self.temperature, self.cdf_map).apply(p)
        if self.age_bands:
            p = apply_bands(p, self.age_bands, p @ np.arange(p.shape[1], dtype=np.float64))
        return p[0] if single else p

    def interval_level(self, level: float) -> float:
        """The central level whose interval has the split-conformal guarantee at `level` (level itself when
        none was fitted for it)."""
        return float(self.conformal.get(round(float(level), 4), level))

    # -- storage: a plain dict of floats and lists (a checkpoint entry, ONNX metadata as JSON)
    def to_dict(self) -> dict:
        return {
            "version": CALIBRATION_VERSION, "method": self.method, "temperature": float(self.temperature),
            "cdf_map": None if self.cdf_map is None else [round(float(v), 7) for v in self.cdf_map],
            "conformal": {str(k): float(v) for k, v in self.conformal.items()}, "flip": bool(self.flip),
            "n": int(self.n), "before": dict(self.before), "after": dict(self.after),
            "quality_bands": [band.to_dict() for band in self.quality_bands],
            "age_bands": [band.to_dict() for band in self.age_bands], "fallback": str(self.fallback),
            "copies": int(self.copies),
        }

    @classmethod
    def from_dict(cls, data) -> "Calibration":
        """Validated: a damaged or foreign entry is a CalibrationError, never a silently wrong posterior."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise CalibrationError(f"the model's calibration is a {type(data).__name__}, not a table")
        version = data.get("version", CALIBRATION_VERSION)
        if not isinstance(version, int) or version > CALIBRATION_VERSION:
            raise CalibrationError(f"the model's calibration has version {version!r}; this app reads up to "
                                   f"{CALIBRATION_VERSION}: update the app")
        method = data.get("method", "none")
        if method not in METHODS:
            raise CalibrationError(f"unknown calibration method {method!r} (known: {', '.join(METHODS)})")
        temperature = _temperature(data.get("temperature", 1.0))
        cdf_map = _cdf_map(data.get("cdf_map"))
        conformal, stored = {}, data.get("conformal") or {}
        if not isinstance(stored, dict):
            raise CalibrationError(f"the calibration's conformal levels are a {type(stored).__name__}, not a table "
                                   "of level -> adjusted level")
        for key, value in stored.items():
            try:
                level = float(key)
            except (TypeError, ValueError):
                raise CalibrationError(f"conformal level {key!r} is not a number") from None
            if not (0 < level < 1 and _finite_number(value) and 0 < value <= 1):
                raise CalibrationError(f"conformal level {key!r} -> {value!r} is not a pair of levels in (0, 1]")
            conformal[round(level, 4)] = float(value)
        n = data.get("n", 0)
        quality_bands = _bands(data.get("quality_bands"), "quality", 0.0, 1.0)
        if method == "mondrian" and not quality_bands:
            raise CalibrationError("a Mondrian calibration without its quality bands: recalibrate the model")
        fallback, copies = data.get("fallback", ""), data.get("copies", 0)
        return cls(method=method, temperature=temperature, cdf_map=cdf_map, conformal=conformal,
                   flip=bool(data.get("flip", False)), n=int(n) if _finite_number(n) else 0,
                   before=_plain_dict(data.get("before")), after=_plain_dict(data.get("after")),
                   quality_bands=quality_bands, age_bands=_bands(data.get("age_bands"), "age", 0.0, 1000.0),
                   fallback=fallback[:300] if isinstance(fallback, str) else "",
                   copies=int(copies) if _finite_number(copies) and copies >= 0 else 0)


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(values) -> bool:
    return isinstance(values, (list, tuple)) and all(_finite_number(v) for v in values)


def _plain_dict(value) -> dict:
    return {str(k): v for k, v in value.items() if _finite_number(v)} if isinstance(value, dict) else {}


def _temperature(value) -> float:
    if not _finite_number(value) or not TEMPERATURE_RANGE[0] <= value <= TEMPERATURE_RANGE[1]:
        raise CalibrationError(f"calibration temperature {value!r} is not a number between "
                               f"{TEMPERATURE_RANGE[0]} and {TEMPERATURE_RANGE[1]}")
    return float(value)


def _cdf_map(values) -> tuple[float, ...] | None:
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64) if _numbers(values) else None
    if array is None or array.shape != (KNOTS,) or np.any(np.diff(array) < -1e-9) or abs(array[0]) > 1e-6 \
            or abs(array[-1] - 1) > 1e-6:
        raise CalibrationError(f"the calibration's CDF map is not {KNOTS} non-decreasing values from 0 to 1")
    return tuple(float(v) for v in array)


def _bands(values, what: str, lowest: float, highest: float) -> tuple[Band, ...]:
    """Bands read back: a list of at most MAX_BANDS tables with increasing lows, the first at `lowest`."""
    if values is None or values == []:
        return ()
    if not isinstance(values, list) or len(values) > MAX_BANDS or not all(isinstance(v, dict) for v in values):
        raise CalibrationError(f"the calibration's {what} bands are not a list of at most {MAX_BANDS} tables")
    bands = []
    for value in values:
        low, n = value.get("low"), value.get("n", 0)
        if not _finite_number(low) or not lowest <= low <= highest or not _finite_number(n):
            raise CalibrationError(f"a {what} band starts at {low!r}, outside {lowest}..{highest}")
        bands.append(Band(float(low), _temperature(value.get("temperature", 1.0)), _cdf_map(value.get("cdf_map")),
                          int(n)))
    lows = [band.low for band in bands]
    if lows[0] != lowest or any(b <= a for a, b in zip(lows, lows[1:])):
        raise CalibrationError(f"the calibration's {what} bands must start at {lowest} and increase")
    return tuple(bands)


# ------------------------------------------------------------------------------------------------ the maps
def band_index(values: np.ndarray, lows) -> np.ndarray:
    """The band of each value: the last band whose low is <= the value (values below the first: band 0)."""
    return np.clip(np.searchsorted(np.asarray(lows, dtype=np.float64), values, side="right") - 1, 0, len(lows) - 1)


def apply_bands(p: np.ndarray, bands, values: np.ndarray) -> np.ndarray:
    """Each row through the band its value falls in."""
    if len(values) != len(p):
        raise CalibrationError(f"{len(values)} band values for {len(p)} posteriors")
    index = band_index(values, [band.low for band in bands])
    out = np.empty_like(p)
    for i in np.unique(index):
        rows = index == i
        out[rows] = bands[i].apply(p[rows])
    return out


def apply_temperature(posteriors: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T), renormalised per row (T > 1 widens, T < 1 sharpens)."""
    log_p = np.log(np.maximum(np.asarray(posteriors, dtype=np.float64), 1e-300))
    return np.exp(normalize_log(log_p / float(temperature)))


def apply_cdf_map(posteriors: np.ndarray, cdf_map: np.ndarray) -> np.ndarray:
    """Posteriors whose CDF is R(F): R given on the KNOTS grid, interpolated linearly."""
    p = np.asarray(posteriors, dtype=np.float64)
    cdf = np.clip(np.cumsum(p, axis=-1), 0.0, 1.0)
    cdf[..., -1] = 1.0
    grid = np.linspace(0.0, 1.0, len(cdf_map))
    mapped = np.interp(cdf, grid, cdf_map)
    out = np.diff(mapped, axis=-1, prepend=0.0)
    out = np.maximum(out, 0.0)
    return out / out.sum(axis=-1, keepdims=True)
