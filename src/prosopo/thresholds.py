"""Decision thresholds per model, in cosine distance, calibrated on LFW.

``default`` maximises accuracy under LFW's 10-fold protocol (the mean of
the ten fold thresholds). ``fmr=X`` is the distance at which the false-match
rate among impostor pairs of LFW images (all pairs of different people's
images, 87 million pairs) is X. Reproduce with ``python
benchmarks/calibrate.py``; the table is in the README.
"""

from __future__ import annotations

import re

from .errors import ParameterError
from .metrics import check_metric, from_cosine

# LFW 10-fold accuracy (mean), YuNet detector, no flip
LFW_ACCURACY: dict[str, float] = {"sface": 0.9938, "dlib": 0.9892, "sface+dlib": 0.9953}

# model -> operating point -> cosine distance (calibrated without flip; with
# flip=True the distances shrink slightly: the default would be 0.665)
THRESHOLDS: dict[str, dict[str, float]] = {
    "sface": {"default": 0.6748, "fmr=0.01": 0.7055, "fmr=0.001": 0.6367, "fmr=0.0001": 0.5754, "fmr=1e-05": 0.5084},
    "dlib": {"default": 0.0927, "fmr=0.01": 0.0919, "fmr=0.001": 0.0736, "fmr=0.0001": 0.0593, "fmr=1e-05": 0.0475},
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
            return float(threshold), None
        except ValueError:
            pass
        raise ParameterError(f"unknown threshold {threshold!r} for model {model!r}; use a number or one of: "
                             + ", ".join(points))
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold != threshold:
        raise ParameterError(f"threshold must be a number, a name like 'fmr=1e-3', or None; got {threshold!r}")
    return float(threshold), None
