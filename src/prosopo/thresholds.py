"""Decision thresholds per model, in cosine distance, calibrated on LFW.

``default`` maximises accuracy under LFW's 10-fold protocol (the mean of
the ten fold thresholds). ``fmr=X`` is the distance at which the false-match
rate among impostor pairs of LFW images (all pairs of different people's
images, 87 million pairs) is X. Reproduce with ``python
benchmarks/calibrate.py`` (results in ``benchmarks/results/calibration.json``,
keyed by model and detector); the table is in the README.
"""

from __future__ import annotations

import math
import re
from functools import cache

import numpy as np

from .errors import ParameterError
from .metrics import check_metric, from_cosine

# LFW 10-fold accuracy (mean), no flip, with the detector the thresholds below were calibrated with: the
# default, SCRFD, for arcface-mbf, sface and their fusion; YuNet for dlib and sface+dlib (dlib's template is fitted to
# YuNet's landmarks)
LFW_ACCURACY: dict[str, float] = {"arcface-mbf": 0.9962, "sface": 0.9953, "dlib": 0.9892, "sface+dlib": 0.9953,
                                  "arcface-mbf+sface": 0.9970}
CALIBRATED_WITH: dict[str, str] = {"arcface-mbf": "scrfd", "sface": "scrfd", "dlib": "yunet", "sface+dlib": "yunet",
                                   "arcface-mbf+sface": "scrfd"}

# model -> operating point -> cosine distance (calibrated without flip and with
# the detectors named above; other detectors move the accuracy-maximising
# default a little, the fmr= points hardly: see the README's table)
THRESHOLDS: dict[str, dict[str, float]] = {
    "arcface-mbf": {"default": 0.7645, "fmr=0.01": 0.8303, "fmr=0.001": 0.7667, "fmr=0.0001": 0.7045,
                    "fmr=1e-05": 0.6427},
    "sface": {"default": 0.6521, "fmr=0.01": 0.6922, "fmr=0.001": 0.6245, "fmr=0.0001": 0.5618, "fmr=1e-05": 0.4880},
    "dlib": {"default": 0.0927, "fmr=0.01": 0.0919, "fmr=0.001": 0.0736, "fmr=0.0001": 0.0593, "fmr=1e-05": 0.0475},
    "arcface-mbf+sface": {"default": 0.7422, "fmr=0.01": 0.7741, "fmr=0.001": 0.7107, "fmr=0.0001": 0.6474,
                          "fmr=1e-05": 0.5738},
    "sface+dlib": {"default": 0.3964, "fmr=0.01": 0.4141, "fmr=0.001": 0.3716, "fmr=0.0001": 0.3347,
                   "fmr=1e-05": 0.2954},
}

_POINT = re.compile(r"^\s*fmr\s*=\s*([0-9.eE+-]+)\s*$")


def operating_points(model: str) -> dict[str, float]:
    if model not in THRESHOLDS:
        raise ParameterError(f"no calibrated thresholds for model {model!r}; pass threshold=<float>")
    return THRESHOLDS[model]


def resolve(model: str, metric: str, threshold: float | str | None) -> tuple[float, str | None]:
    """The threshold to use, in ``metric``'s units, and the operating point's name.

    ``threshold`` is None (the model's default), a number (used as given, in
    the metric's units), or a named operating point like ``"fmr=1e-3"``.
    """
    check_metric(metric)
    if threshold is None or (isinstance(threshold, str) and threshold.strip() == "default"):
        return float(from_cosine(operating_points(model)["default"], metric)), "default"
    if isinstance(threshold, str):
        match = _POINT.match(threshold)
        points = operating_points(model)
        if match:
            key = f"fmr={float(match.group(1)):g}"
            if key in points:
                return float(from_cosine(points[key], metric)), key
        try:
            value = float(threshold)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value, None
        raise ParameterError(f"unknown threshold {threshold!r} for model {model!r}; use a number or one of: "
                             + ", ".join(points))
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ParameterError(f"threshold must be a finite number, a name like 'fmr=1e-3', or None; got {threshold!r}")
    return float(threshold), None


@cache
def _fmr_curve(model: str) -> tuple[np.ndarray, np.ndarray]:
    points = sorted((d, float(name.split("=")[1])) for name, d in operating_points(model).items()
                    if name.startswith("fmr="))
    return np.array([d for d, _ in points]), np.log10([f for _, f in points])


def confidence(model: str, distance: float) -> float:
    """1 minus the false-match rate at this cosine distance: the chance that
    an unrelated person's face would *not* come this close, interpolated
    (log-linearly) between the LFW operating points above and extrapolated
    beyond them. 0.999 means one impostor pair in a thousand is this close."""
    xs, logs = _fmr_curve(model)
    if distance <= xs[0]:
        slope = (logs[1] - logs[0]) / (xs[1] - xs[0])
        log_fmr = logs[0] + slope * (distance - xs[0])
    elif distance >= xs[-1]:
        slope = (logs[-1] - logs[-2]) / (xs[-1] - xs[-2])
        log_fmr = logs[-1] + slope * (distance - xs[-1])
    else:
        log_fmr = float(np.interp(distance, xs, logs))
    return float(1.0 - min(1.0, 10.0 ** log_fmr))


def distance_at(model: str, fmr: float) -> float:
    """The cosine distance at which the false-match rate is ``fmr`` (the
    inverse of :func:`confidence`, same interpolation)."""
    xs, logs = _fmr_curve(model)
    target = np.log10(min(max(fmr, 1e-12), 1.0))
    if target <= logs[0]:
        return float(xs[0] + (target - logs[0]) * (xs[1] - xs[0]) / (logs[1] - logs[0]))
    if target >= logs[-1]:
        return float(xs[-1] + (target - logs[-1]) * (xs[-1] - xs[-2]) / (logs[-1] - logs[-2]))
    return float(np.interp(target, logs, xs))


def identification_threshold(model: str, faces: int, fpir: float = 0.01) -> float:
    """The cosine distance for open-set identification in a gallery of
    ``faces`` enrolled faces such that a stranger is wrongly matched to
    someone with probability about ``fpir`` (false-positive identification
    rate): each comparison may falsely match with rate ``fpir / faces``."""
    if not 0 < fpir < 1:
        raise ParameterError(f"fpir must be between 0 and 1, got {fpir!r}")
    return distance_at(model, fpir / max(int(faces), 1))
