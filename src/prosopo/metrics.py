"""Distances between embeddings, and the thresholds that turn them into
decisions.

prosopo's embeddings are unit length, so every metric here is a monotone
function of the cosine similarity: they rank pairs identically and differ
only in scale. They are offered so that code written for other libraries
keeps its habits:

- ``cosine``: 1 - cos(a, b), in [0, 2]
- ``euclidean``: ||a - b|| of the embeddings as returned
- ``euclidean_l2``: ||a/|a| - b/|b| ||, = sqrt(2 * cosine) for unit vectors
- ``angular``: arccos(cos(a, b)) / pi, in [0, 1]

Thresholds are calibrated in cosine distance (see :mod:`prosopo.thresholds`)
and converted to the other metrics exactly.
"""

from __future__ import annotations

import math
from typing import Literal, get_args, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .errors import ParameterError

# The metric names, once: the library, the CLI and the web service's schema
# (``Metric``) all read them from here.
Metric = Literal["cosine", "euclidean", "euclidean_l2", "angular"]
METRICS: tuple[str, ...] = get_args(Metric)
DEFAULT_METRIC: Metric = "cosine"


def check_metric(metric: str) -> str:
    """``metric`` if it is one of :data:`METRICS`, else ``ParameterError``."""
    if metric not in METRICS:
        raise ParameterError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    return metric


def normalize(x: ArrayLike, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Rows (the last axis) scaled to unit L2 length, as ``dtype``; zero rows
    stay zero. prosopo's one L2 normaliser."""
    x = np.asarray(x, dtype=dtype)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def distances(a: np.ndarray, b: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Pairwise distances between the rows of ``a`` (n, d) and ``b`` (m, d): (n, m)."""
    check_metric(metric)
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1]:
        raise ParameterError(f"embeddings of different sizes cannot be compared: {a.shape[1]} and {b.shape[1]}")
    if metric == "euclidean":
        sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        return np.sqrt(np.maximum(sq, 0.0))
    cos = np.clip(normalize(a, np.float64) @ normalize(b, np.float64).T, -1.0, 1.0)
    return from_cosine(1.0 - cos, metric)


def distance(a: np.ndarray, b: np.ndarray, metric: str = "cosine") -> float:
    """Distance between two embeddings."""
    return float(distances(np.ravel(a), np.ravel(b), metric)[0, 0])


@overload
def from_cosine(d: float, metric: str) -> float: ...
@overload
def from_cosine(d: np.ndarray, metric: str) -> np.ndarray: ...
def from_cosine(d: float | np.ndarray, metric: str) -> float | np.ndarray:
    """A cosine distance (scalar or array) expressed in ``metric``."""
    check_metric(metric)
    if metric == "cosine":
        return d
    if isinstance(d, np.ndarray):
        if metric in ("euclidean", "euclidean_l2"):
            return np.sqrt(np.maximum(2.0 * d, 0.0))
        return np.arccos(np.clip(1.0 - d.astype(np.float64), -1.0, 1.0)) / np.pi
    if metric in ("euclidean", "euclidean_l2"):
        return math.sqrt(max(2.0 * float(d), 0.0))
    return math.acos(min(max(1.0 - float(d), -1.0), 1.0)) / math.pi
