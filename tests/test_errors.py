"""Bad input through the public API: typed errors that say what was wrong."""

from __future__ import annotations

import io

import numpy as np
import pytest

import prosopo
from prosopo import ImageError, ModelError, NoFaceError, ParameterError, ProsopoError


def _png(width: int, height: int, value: int = 128) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _file(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p / "missing.jpg", "no such file"),
        (lambda p: _file(p / "empty.jpg", b""), "empty"),
        (lambda p: b"", "empty"),
        (lambda p: b"hello, I am text\n" * 10, "looks like text"),
        (lambda p: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "pdf"),
        (lambda p: _png(1, 1), "too small"),
        (lambda p: np.zeros((10, 10, 5), np.uint8), "shape"),
        (lambda p: np.zeros((64, 64, 3), np.int64), "dtype"),
        (lambda p: 12345, "int"),
        (lambda p: p, "directory"),
    ],
)
def test_bad_images_raise_image_error(tmp_path, make, words):
    source = make(tmp_path)
    for call in (prosopo.detect, prosopo.represent, lambda s: prosopo.verify(s, s)):
        with pytest.raises(ImageError) as info:
            call(source)
        assert words.lower() in str(info.value).lower(), str(info.value)


def test_truncated_jpeg(tmp_path):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated"):
        prosopo.represent(path)


def test_pixel_limit_is_configurable():
    data = _png(400, 300)
    old = prosopo.get_limits()
    try:
        prosopo.set_limits(max_pixels=100_000)
        with pytest.raises(ImageError, match="pixels"):
            prosopo.detect(data)
        prosopo.set_limits(max_pixels=200_000)
        assert prosopo.detect(data) == []
    finally:
        prosopo.set_limits(max_pixels=old.max_pixels)


def test_no_face():
    blank = np.full((200, 200, 3), 127, np.uint8)
    assert prosopo.detect(blank) == []
    with pytest.raises(NoFaceError, match="no face"):
        prosopo.represent(blank)
    with pytest.raises(NoFaceError):
        prosopo.verify(blank, blank)
    # without enforcement the whole image stands in for the face
    reps = prosopo.represent(blank, enforce_detection=False)
    assert len(reps) == 1 and reps[0].face.score == 0.0 and reps[0].face.box.w == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "facenet"},
        {"detector": "retinaface"},
        {"metric": "manhattan"},
        {"threshold": "fmr=0.5"},
        {"threshold": "strict"},
        {"threshold": [0.3]},
        {"min_face_size": -1},
    ],
)
def test_bad_parameters(kwargs):
    face = np.full((64, 64, 3), 127, np.uint8)
    with pytest.raises(ParameterError) as info:
        prosopo.verify(face, face, enforce_detection=False, **kwargs)
    assert isinstance(info.value, ProsopoError) and isinstance(info.value, ValueError)
    value = str(next(iter(kwargs.values())))
    assert value.strip("[]") in str(info.value)


@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf", "NaN", " +Infinity ", float("inf"), float("-inf"),
                                       float("nan"), np.float32("inf")])
def test_non_finite_thresholds_are_refused(lfw, threshold):
    # defect 8: with "nan" identical photos were "different", with "inf" strangers "same"
    photo = lfw / "images" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    with pytest.raises(ParameterError, match="threshold"):
        prosopo.verify(photo, photo, threshold=threshold)


@pytest.mark.parametrize("kwargs", [{"threshold": float("nan")}, {"threshold": 1.5}, {"threshold": -0.1},
                                    {"threshold": "0.5"}, {"threshold": True}])
def test_bad_spoof_thresholds_are_refused_before_anything_loads(kwargs):
    from prosopo import api

    with pytest.raises(ParameterError, match="threshold"):
        api.check_liveness(np.full((64, 64, 3), 90, np.uint8), **kwargs)


@pytest.mark.parametrize("mode", [0.0, 1, "yes", None])
def test_bad_anti_spoofing_modes_are_refused(mode):
    with pytest.raises(ParameterError, match="anti_spoofing"):
        prosopo.represent(np.full((64, 64, 3), 90, np.uint8), enforce_detection=False, anti_spoofing=mode)


def test_bad_max_faces():
    with pytest.raises(ParameterError, match="max_faces"):
        prosopo.detect(np.zeros((64, 64, 3), np.uint8), max_faces=0)


def test_missing_model_package_gives_model_error(monkeypatch):
    from prosopo import models

    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install"):
        models.package_file("face_recognition_models", "models/x.dat", extra="dlib")


def test_errors_have_codes():
    codes = {cls.code for cls in (ImageError, NoFaceError, ModelError, ParameterError)}
    assert len(codes) == 4


def test_messages_spell_options_per_interface():
    err = prosopo.NoFaceError("no face found in x.jpg (min_face_size=40); try auto_rotate=True, or "
                              "enforce_detection=False; max_faces must be positive")
    assert err.message_for("cli") == ("no face found in x.jpg (--min-face-size 40); try --auto-rotate, or "
                                      "--no-enforce; --max-faces must be positive")
    assert err.message_for("http") == ('no face found in x.jpg ("min_face_size": 40); try "auto_rotate": true, or '
                                       '"enforce_detection": false; "max_faces" must be positive')
    assert str(err).startswith("no face found in x.jpg (min_face_size=40)")


def test_a_gallery_search_without_a_face_suggests_only_what_a_gallery_offers(tmp_path):
    import numpy as np

    with prosopo.Gallery.open(tmp_path / "g") as gallery, pytest.raises(prosopo.NoFaceError) as caught:
        gallery.search(np.full((120, 120, 3), 90, np.uint8))
    message = caught.value.message_for("cli")
    assert "a gallery needs a face" in message
    assert "--no-enforce" not in message and "--auto-rotate" not in message
