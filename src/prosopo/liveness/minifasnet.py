"""MiniFASNet on ONNX Runtime: the probability that a detected face is live.

Each of the two models looks at the face box enlarged around its centre (by
2.7 and by 4.0, shifted to stay inside the image), resized to 80x80, as BGR
floats 0..255 without normalisation; the live probability is the softmax's
second class, averaged over the two models. The boxes come from prosopo's
own detector.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..runtime import prelu
from ..runtime.onnx_session import session
from ..types import Face
from . import installed

SCALES = {"2.7_80x80_MiniFASNetV2.onnx": 2.7, "4_0_0_80x80_MiniFASNetV1SE.onnx": 4.0}
SIZE = 80


def crop(bgr: np.ndarray, face: Face, scale: float) -> np.ndarray:
    """The face box enlarged ``scale`` times about its centre (as far as the
    image allows, keeping its aspect), moved inside the image, at 80x80."""
    h, w = bgr.shape[:2]
    b = face.box
    scale = min(scale, (h - 1) / max(b.h, 1.0), (w - 1) / max(b.w, 1.0))
    cw, ch = b.w * scale, b.h * scale
    cx, cy = b.x + b.w / 2, b.y + b.h / 2
    x0, y0 = cx - cw / 2, cy - ch / 2
    x0 = min(max(0.0, x0), w - 1 - cw)
    y0 = min(max(0.0, y0), h - 1 - ch)
    x1, y1 = int(x0 + cw), int(y0 + ch)
    region = bgr[int(y0):y1 + 1, int(x0):x1 + 1]
    return cv2.resize(region, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


class MiniFASNet:
    """Both models, loaded once (they check their hashes first), with their
    PReLU activations rewritten (:mod:`prosopo.runtime.prelu`: 4.0 to 2.3 ms a
    model here)."""

    def __init__(self) -> None:
        paths = installed()
        self._sessions = [(session(prelu.fast_file(paths[name]), threads=1), scale) for name, scale in SCALES.items()]

    def live_probability(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """One probability per face that it is a live face (not a photo of one)."""
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        out = np.zeros(len(faces), np.float32)
        for i, face in enumerate(faces):
            total = 0.0
            for sess, scale in self._sessions:
                x = crop(bgr, face, scale).astype(np.float32).transpose(2, 0, 1)[None]
                logits = sess.run(None, {"input": np.ascontiguousarray(x)})[0][0].astype(np.float64)
                p = np.exp(logits - logits.max())
                total += p[1] / p.sum()
            out[i] = total / len(self._sessions)
        return out
