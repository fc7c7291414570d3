"""Result types: frozen dataclasses with ``to_dict()`` for JSON."""

from __future__ import annotations

from collections.abc import Sequence
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

    def text(self) -> str:
        """``x=.. y=.. w=.. h=..`` in whole pixels, for messages (a box just
        past the left or top edge shows ``x=0``, never ``x=-0``: round()
        gives an int)."""
        return f"x={round(self.x)} y={round(self.y)} w={round(self.w)} h={round(self.h)}"

    def to_dict(self) -> dict[str, float]:
        # + 0.0 turns a -0.0 (a box at the border, rounded) into 0.0
        return {"x": round(self.x, 2) + 0.0, "y": round(self.y, 2) + 0.0, "w": round(self.w, 2) + 0.0,
                "h": round(self.h, 2) + 0.0}


def box_rows(boxes: Sequence[Box]) -> np.ndarray:
    """``boxes`` as an (n, 4) array of rows x, y, w, h, for :func:`iou_matrix`."""
    return np.array([(b.x, b.y, b.w, b.h) for b in boxes], np.float64).reshape(-1, 4)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:meth:`Box.iou` of every box in ``a`` with every box in ``b`` (rows
    x, y, w, h), at once."""
    aw, ah, bw, bh = (np.maximum(v, 0.0) for v in (a[:, 2], a[:, 3], b[:, 2], b[:, 3]))
    ix = np.minimum((a[:, 0] + a[:, 2])[:, None], (b[:, 0] + b[:, 2])[None]) - np.maximum(a[:, 0, None], b[None, :, 0])
    iy = np.minimum((a[:, 1] + a[:, 3])[:, None], (b[:, 1] + b[:, 3])[None]) - np.maximum(a[:, 1, None], b[None, :, 1])
    inter = np.maximum(ix, 0.0) * np.maximum(iy, 0.0)
    union = (aw * ah)[:, None] + (bw * bh)[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


@dataclass(frozen=True)
class Quality:
    """How usable a face is (:func:`prosopo.quality.assess`).

    ``size`` is the shorter side of the face's box in pixels, ``sharpness``
    the variance of the Laplacian of its aligned 112x112 crop, ``yaw``,
    ``pitch`` and ``roll`` the head pose in degrees estimated from the five
    landmarks (None without landmarks; rough, see
    :func:`prosopo.quality.pose`), ``detector_score`` the detector's
    confidence and ``score`` all of them in one number in [0, 1] (higher
    is better; see :func:`prosopo.quality.score`).
    """

    size: float
    sharpness: float
    yaw: float | None
    pitch: float | None
    roll: float | None
    score: float
    detector_score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        def angle(v: float | None) -> float | None:
            return None if v is None else round(v, 1) + 0.0

        return {"size": round(self.size, 1), "sharpness": round(self.sharpness, 1), "yaw": angle(self.yaw),
                "pitch": angle(self.pitch), "roll": angle(self.roll), "score": round(self.score, 4)}


@dataclass(frozen=True)
class Face:
    """One detected face.

    ``landmarks`` are five points (the subject's right eye, left eye, nose tip,
    right and left mouth corners; "right eye" is on the left of the picture),
    or ``None`` when the detector gives none. With ``anti_spoofing``,
    ``spoof_score`` is the probability that the face is live (not a photo or
    a screen of one) and ``is_real`` whether it passed the threshold.
    ``quality`` is filled only where asked for (see
    :func:`prosopo.quality.assess`).
    """

    box: Box
    score: float
    landmarks: tuple[Point, ...] | None = None
    is_real: bool | None = None
    spoof_score: float | None = None
    quality: Quality | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "box": self.box.to_dict(),
            "score": round(float(self.score), 4),
            "landmarks": [[round(x, 2), round(y, 2)] for x, y in self.landmarks] if self.landmarks else None,
        }
        if self.spoof_score is not None:
            out.update(is_real=self.is_real, spoof_score=round(float(self.spoof_score), 4))
        if self.quality is not None:
            out["quality"] = self.quality.to_dict()
        return out


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


@dataclass(frozen=True)
class Match:
    """One enrolled identity found close to a probe face.

    ``distance`` is the cosine distance to that identity's nearest enrolled
    face (``source`` and ``box`` say which face); ``confidence`` is 1 minus
    the false-match rate at that distance (see
    :func:`prosopo.thresholds.confidence`); ``is_match`` is
    ``distance <= threshold``.
    """

    identity: str
    distance: float
    confidence: float
    is_match: bool
    source: str | None = None
    box: Box | None = None
    face_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "distance": round(self.distance, 6),
            "confidence": round(self.confidence, 6),
            "is_match": self.is_match,
            "source": self.source,
            "box": self.box.to_dict() if self.box else None,
            "face_id": self.face_id,
        }


@dataclass(frozen=True)
class Search:
    """The answer for one face of a probe photo: the closest identities,
    best first."""

    face: Face
    matches: tuple[Match, ...]
    threshold: float
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {"face": self.face.to_dict(), "matches": [m.to_dict() for m in self.matches],
                "threshold": round(self.threshold, 6), "model": self.model}


@dataclass(frozen=True)
class Identification:
    """Open-set identification of one face: ``identity`` is None (unknown)
    when no enrolled identity is within the threshold."""

    face: Face
    identity: str | None
    match: Match | None
    threshold: float

    @property
    def known(self) -> bool:
        return self.identity is not None

    def to_dict(self) -> dict[str, Any]:
        return {"face": self.face.to_dict(), "identity": self.identity,
                "known": self.known, "match": self.match.to_dict() if self.match else None,
                "threshold": round(self.threshold, 6)}


class SearchResults(list):
    """A list of :class:`Search`, one per probe face, with :meth:`to_pandas`;
    ``sync`` is what :func:`prosopo.find` did to the folder (a
    ``SyncReport``), None otherwise."""

    sync: Any = None

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self]

    def to_pandas(self):
        """One row per (probe face, match): DeepFace's ``find`` layout plus
        the probe face index and box."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        rows = []
        for i, search in enumerate(self):
            for rank, m in enumerate(search.matches, 1):
                rows.append({
                    "face": i, "rank": rank, "identity": m.identity, "source": m.source,
                    "distance": m.distance, "confidence": m.confidence, "threshold": search.threshold,
                    "is_match": m.is_match, "probe_x": search.face.box.x, "probe_y": search.face.box.y,
                    "probe_w": search.face.box.w, "probe_h": search.face.box.h,
                    "source_x": m.box.x if m.box else None, "source_y": m.box.y if m.box else None,
                    "source_w": m.box.w if m.box else None, "source_h": m.box.h if m.box else None,
                })
        columns = ["face", "rank", "identity", "source", "distance", "confidence", "threshold", "is_match",
                   "probe_x", "probe_y", "probe_w", "probe_h", "source_x", "source_y", "source_w", "source_h"]
        return pd.DataFrame(rows, columns=columns)


def _dominant(probs: dict[str, float] | None) -> str | None:
    """The label with the highest probability (None without any)."""
    return max(probs.items(), key=lambda item: item[1])[0] if probs else None


@dataclass(frozen=True)
class Analysis:
    """The attributes of one face (:func:`prosopo.analyze`). Attributes not
    asked for are ``None``.

    ``age`` is the expected age in years and ``age_range`` the central 80%
    of the model's distribution. ``gender``, ``emotion`` and ``race`` map each
    label to its probability. ``reliable`` is False when the face is too small
    or blurred for a trustworthy estimate; ``warnings`` say why. With the
    actions ``"pose"`` and ``"quality"``, ``pose`` maps ``yaw``, ``pitch``
    and ``roll`` to degrees and ``quality`` is the face's
    :class:`Quality` (see :mod:`prosopo.quality`).
    """

    face: Face
    age: float | None = None
    age_range: tuple[float, float] | None = None
    gender: dict[str, float] | None = None
    emotion: dict[str, float] | None = None
    race: dict[str, float] | None = None
    pose: dict[str, float] | None = None
    quality: Quality | None = None
    sharpness: float = 0.0
    reliable: bool = True
    warnings: tuple[str, ...] = ()

    @property
    def dominant_gender(self) -> str | None:
        return _dominant(self.gender)

    @property
    def dominant_emotion(self) -> str | None:
        return _dominant(self.emotion)

    @property
    def dominant_race(self) -> str | None:
        return _dominant(self.race)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.face.to_dict()
        if self.age is not None:
            out["age"] = round(self.age, 1)
            out["age_range"] = [round(v, 1) for v in self.age_range] if self.age_range else None
        for name in ("gender", "emotion", "race"):
            probs = getattr(self, name)
            if probs is not None:
                out[name] = {k: round(float(v), 4) for k, v in probs.items()}
                out[f"dominant_{name}"] = getattr(self, f"dominant_{name}")
        if self.pose is not None:
            out["pose"] = {k: round(float(v), 1) + 0.0 for k, v in self.pose.items()}
        if self.quality is not None:
            out["quality"] = self.quality.to_dict()
        out.update({"sharpness": round(self.sharpness, 1), "reliable": self.reliable, "warnings": list(self.warnings)})
        return out
