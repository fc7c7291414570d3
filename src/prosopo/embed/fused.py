"""SFace and dlib fused: both embeddings, weighted and concatenated.

Each part is unit length, so the cosine similarity of the fused vectors is
``w * cos_sface + (1 - w) * cos_dlib``: a score-level fusion that any
cosine search (galleries, ANN indexes) handles as a plain 256-D embedding.
The weight was chosen on LFW (see README, "Models").
"""

from __future__ import annotations

import numpy as np

from ..types import Face
from . import RECOGNIZERS


class SFaceDlib:
    name = "sface+dlib"
    dim = 256
    weight = 0.7  # share of SFace in the fused cosine similarity

    def __init__(self) -> None:
        self._sface = RECOGNIZERS.get("sface")
        self._dlib = RECOGNIZERS.get("dlib")
        self.template = self._sface.template

    def represent(self, rgb: np.ndarray, faces: list[Face], align: bool = True, flip: bool = False) -> np.ndarray:
        a = self._sface.represent(rgb, faces, align, flip)
        b = self._dlib.represent(rgb, faces, align, flip)
        return np.hstack([np.sqrt(self.weight) * a, np.sqrt(1.0 - self.weight) * b]).astype(np.float32)
