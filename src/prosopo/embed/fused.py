"""Fused recognizers: two models' embeddings, weighted and concatenated.

Each part is unit length, so the cosine similarity of the fused vectors is
``w * cos_a + (1 - w) * cos_b``: a score-level fusion that any cosine search
(galleries, ANN indexes) handles as a plain embedding. Both fusions weight
their parts equally; the weight was not tuned (see README, "Models": on LFW
a weight chosen inside the cross validation gives the same accuracy).
"""

from __future__ import annotations

import numpy as np

from ..types import Face
from . import RECOGNIZERS


class Fused:
    name: str
    dim: int  # the parts' dimensions added
    parts: tuple[str, str]
    weight = 0.5  # share of the first part in the fused cosine similarity

    def __init__(self) -> None:
        self._parts = [RECOGNIZERS.get(p) for p in self.parts]
        self.template = self._parts[0].template

    def represent(self, rgb: np.ndarray, faces: list[Face], align: bool = True, flip: bool = False) -> np.ndarray:
        return self.combine(*(p.represent(rgb, faces, align, flip) for p in self._parts))

    @classmethod
    def combine(cls, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The fused embeddings of the parts' unit-length embeddings."""
        return np.hstack([np.sqrt(cls.weight) * first, np.sqrt(1.0 - cls.weight) * second]).astype(np.float32)


class SFaceDlib(Fused):
    name = "sface+dlib"
    dim = 256
    parts = ("sface", "dlib")


class ArcFaceSFace(Fused):
    name = "arcface-mbf+sface"
    dim = 640
    parts = ("arcface-mbf", "sface")
