"""dlib's HOG + linear SVM frontal face detector (the ``dlib-bin`` package).
No landmarks; the score is the SVM margin squashed into 0..1."""

from __future__ import annotations

import threading

import dlib
import numpy as np

from ..types import Box, Face


class DlibHog:
    upsample = 1  # finds faces down to about 40 px, as face_recognition does

    def __init__(self) -> None:
        # one detector per thread: dlib's keeps per-image state while it runs,
        # without Python's lock (a video reader's detecting threads, a server's workers)
        self._local = threading.local()

    def _detector(self):
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = self._local.detector = dlib.get_frontal_face_detector()
        return detector

    def detect(self, rgb: np.ndarray) -> list[Face]:
        rects, scores, _ = self._detector().run(np.ascontiguousarray(rgb), self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            box = Box(float(rect.left()), float(rect.top()), float(rect.width()), float(rect.height()))
            faces.append(Face(box, float(1.0 / (1.0 + np.exp(-2.0 * score)))))
        return faces
