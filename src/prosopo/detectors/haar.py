"""OpenCV's frontal-face Haar cascade. Fast and old: no landmarks and no
confidence; the score is a normalised count of neighbouring detections."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..types import Box, Face

CASCADE = "haarcascade_frontalface_default.xml"


class Haar:
    def __init__(self) -> None:
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        self._path = str(Path(folder) / CASCADE)
        if not folder or not Path(self._path).is_file():
            raise ModelError(f"this OpenCV build ships no Haar cascades ({CASCADE}); install opencv-python-headless<5")
        self._local = threading.local()
        self._cascade()

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = cv2.CascadeClassifier(self._path)
        return cascade

    def detect(self, rgb: np.ndarray) -> list[Face]:
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        min_side = max(20, min(gray.shape) // 20)
        boxes, _, weights = self._cascade().detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side), outputRejectLevels=True
        )
        return [
            Face(Box(*map(float, box)), float(1.0 - np.exp(-max(float(weight), 0.0) / 2.0)))
            for box, weight in zip(boxes, np.ravel(weights))
        ]
