"""Result types: frozen dataclasses with ``to_dict()`` for JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the (EXIF-rotated) input image."""

    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> Point:
        return (self.x + self.w / 2, self.y + self.h / 2)

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    def iou(self, other: Box) -> float:
        """Intersection over union with another box."""
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"x": round(self.x, 2), "y": round(self.y, 2), "w": round(self.w, 2), "h": round(self.h, 2)}


@dataclass(frozen=True)
class Face:
    """One detected face.

    ``landmarks`` are five points (the subject's right eye, left eye, nose tip,
    right and left mouth corners; "right eye" is on the left of the picture),
    or ``None`` when the detector gives none.
    """

    box: Box
    score: float
    landmarks: tuple[Point, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": self.box.to_dict(),
            "score": round(float(self.score), 4),
            "landmarks": [[round(x, 2), round(y, 2)] for x, y in self.landmarks] if self.landmarks else None,
        }


@dataclass(frozen=True, eq=False)
class AlignedFace:
    """A face and its aligned crop (RGB uint8, the recognizer's input size)."""

    face: Face
    crop: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {**self.face.to_dict(), "crop_shape": list(self.crop.shape)}


@dataclass(frozen=True, eq=False)
class Representation:
    """A face and its embedding (float32, unit length)."""

    face: Face
    embedding: np.ndarray
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.face.to_dict(), "model": self.model, "embedding": [float(v) for v in self.embedding]}


@dataclass(frozen=True)
class Verification:
    """The answer of :func:`prosopo.verify`.

    ``face1`` and ``face2`` are the faces that were compared; when a photo
    holds several faces the closest pair is used and ``pair`` gives their
    indices among the faces found (``faces_found``), largest first.
    """

    verified: bool
    distance: float
    threshold: float
    model: str
    detector: str
    metric: str
    face1: Face
    face2: Face
    pair: tuple[int, int] = (0, 0)
    faces_found: tuple[int, int] = (1, 1)
    seconds: float = 0.0
    operating_point: str | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "distance": round(self.distance, 6),
            "threshold": round(self.threshold, 6),
            "operating_point": self.operating_point,
            "model": self.model,
            "detector": self.detector,
            "metric": self.metric,
            "face1": self.face1.to_dict(),
            "face2": self.face2.to_dict(),
            "pair": list(self.pair),
            "faces_found": list(self.faces_found),
            "seconds": round(self.seconds, 4),
        }
