"""SFace and dlib fused: both embeddings, weighted and concatenated.

Each part is unit length, so the cosine similarity of the fused vectors is
``w * cos_sface + (1 - w) * cos_dlib``: a score-level fusion that any
cosine search (galleries, ANN indexes) handles as a plain 256-D embedding.
The two are weighted equally (not tuned: on LFW, weights from 0.4 to 0.7
all land within 0.1 point of each other; see README, "Models").
"""

from __future__ import annotations

import numpy as np

from ..types import Face
from . import RECOGNIZERS


class SFaceDlib:
    name = "sface+dlib"
    dim = 256
    parts = ("sface", "dlib")
    weight = 0.5  # share of SFace in the fused cosine similarity

    def __init__(self) -> None:
        self._sface = RECOGNIZERS.get("sface")
        self._dlib = RECOGNIZERS.get("dlib")
        self.template = self._sface.template

    def represent(self, rgb: np.ndarray, faces: list[Face], align: bool = True, flip: bool = False) -> np.ndarray:
        return self.combine(self._sface.represent(rgb, faces, align, flip),
                            self._dlib.represent(rgb, faces, align, flip))

    @classmethod
    def combine(cls, sface: np.ndarray, dlib: np.ndarray) -> np.ndarray:
        """The fused embeddings of unit-length SFace and dlib embeddings."""
        return np.hstack([np.sqrt(cls.weight) * sface, np.sqrt(1.0 - cls.weight) * dlib]).astype(np.float32)
