"""dlib's HOG + linear SVM frontal face detector (the ``dlib-bin`` package).
No landmarks; the score is the SVM margin squashed into 0..1."""

from __future__ import annotations

import dlib
import numpy as np

from ..types import Box, Face


class DlibHog:
    upsample = 1  # finds faces down to about 40 px, as face_recognition does

    def __init__(self) -> None:
        self._detector = dlib.get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        rects, scores, _ = self._detector.run(np.ascontiguousarray(rgb), self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            box = Box(float(rect.left()), float(rect.top()), float(rect.width()), float(rect.height()))
            faces.append(Face(box, float(1.0 / (1.0 + np.exp(-2.0 * score)))))
        return faces
