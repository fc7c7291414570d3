"""Tests of prosopo.image. Every image is generated here; no binary fixtures."""

from __future__ import annotations

import ast
import base64
import dataclasses
import io
import os
import pathlib
import struct
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from prosopo import image
from prosopo.errors import ImageError, ParameterError

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


@pytest.fixture(autouse=True)
def _restore_limits():
    saved = image.get_limits()
    yield
    image.set_limits(**dataclasses.asdict(saved))


def pattern(height: int = 32, width: int = 48) -> np.ndarray:
    """An RGB array with a distinct colour in each quadrant."""
    array = np.zeros((height, width, 3), np.uint8)
    array[: height // 2, : width // 2] = RED
    array[: height // 2, width // 2 :] = GREEN
    array[height // 2 :, : width // 2] = BLUE
    array[height // 2 :, width // 2 :] = WHITE
    return array


def encode(picture: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    if isinstance(picture, np.ndarray):
        picture = Image.fromarray(picture)
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def header_only_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height RGB, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def assert_rgb_image(result: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.uint8
    assert result.shape == (*shape, 3)
    assert result.flags.c_contiguous


def load_error(source, **kwargs) -> str:
    with pytest.raises(ImageError) as caught:
        image.load(source, **kwargs)
    return str(caught.value)


# --- limits -------------------------------------------------------------------


def test_default_limits():
    assert image.get_limits() == image.Limits(
        max_bytes=50 * 1024 * 1024, max_pixels=50_000_000, min_side=16
    )


def test_set_limits_changes_the_default_used_by_load():
    new = image.set_limits(min_side=40)
    assert new.min_side == 40 and image.get_limits() is new
    assert new.max_pixels == 50_000_000
    assert "too small" in load_error(pattern(32, 48))
    image.set_limits(min_side=16)
    assert image.load(pattern(32, 48)).shape == (32, 48, 3)


@pytest.mark.parametrize(
    "changes",
    [{"max_size": 10}, {"min_side": 0}, {"max_pixels": -5}, {"max_bytes": 1.5},
     {"min_side": True}, {"max_bytes": "100"}, {"max_bytes": None}],
)
def test_set_limits_rejects_bad_values_and_keeps_the_old_ones(changes):
    before = image.get_limits()
    with pytest.raises(ParameterError):
        image.set_limits(**changes)
    assert image.get_limits() == before


def test_set_limits_unknown_name_lists_known_names():
    with pytest.raises(ParameterError, match="max_pixels"):
        image.set_limits(max_size=10)


def test_limits_constructor_validates():
    with pytest.raises(ParameterError, match="min_side"):
        image.Limits(min_side=0)


def test_load_rejects_a_limits_of_the_wrong_type():
    with pytest.raises(ParameterError):
        image.load(pattern(), limits={"max_pixels": 10})


# --- encoded inputs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("GIF", {}), ("WEBP", {"lossless": True})],
)
def test_lossless_formats_round_trip_exactly(tmp_path, fmt, options):
    path = tmp_path / f"picture.{fmt.lower()}"
    path.write_bytes(encode(pattern(), fmt, **options))
    for source in (path, str(path)):
        result = image.load(source)
        assert_rgb_image(result, (32, 48))
        np.testing.assert_array_equal(result, pattern())


def test_jpeg_and_lossy_webp_are_close(tmp_path):
    for fmt in ("JPEG", "WEBP"):
        path = tmp_path / f"picture.{fmt.lower()}"
        path.write_bytes(encode(pattern(64, 64), fmt, quality=95))
        result = image.load(path)
        assert_rgb_image(result, (64, 64))
        # compare block centres, away from the compression artefacts at edges
        assert np.abs(result[16, 16].astype(int) - RED).max() < 20
        assert np.abs(result[48, 16].astype(int) - BLUE).max() < 20


@pytest.mark.parametrize("name", ["照片.png", "smile 😀 face.png", "with space/é ü ß.png"])
def test_unicode_paths(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(encode(pattern(), "PNG"))
    np.testing.assert_array_equal(image.load(str(path)), pattern())
    np.testing.assert_array_equal(image.load(path), pattern())


def test_bytes_bytearray_memoryview():
    data = encode(pattern(), "PNG")
    for source in (data, bytearray(data), memoryview(data)):
        np.testing.assert_array_equal(image.load(source), pattern())


def test_file_objects(tmp_path):
    data = encode(pattern(), "PNG")
    np.testing.assert_array_equal(image.load(io.BytesIO(data)), pattern())
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    with open(path, "rb") as file:
        np.testing.assert_array_equal(image.load(file), pattern())


def test_file_object_is_read_at_most_max_bytes_plus_one():
    class Recorder(io.BytesIO):
        def __init__(self, data: bytes):
            super().__init__(data)
            self.sizes: list[int] = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    source = Recorder(encode(pattern(), "PNG"))
    image.load(source, limits=image.Limits(max_bytes=10_000))
    assert source.sizes == [10_001]


def test_base64_forms():
    data = encode(pattern(), "PNG")
    forms = [
        base64.b64encode(data).decode(),
        base64.encodebytes(data).decode(),  # with line breaks
        base64.urlsafe_b64encode(data).decode().rstrip("="),  # no padding
        "data:image/png;base64," + base64.b64encode(data).decode(),
        "  DATA:image/png;BASE64," + base64.encodebytes(data).decode(),
    ]
    for text in forms:
        np.testing.assert_array_equal(image.load(text), pattern())


def test_base64_of_jpeg():
    text = base64.b64encode(encode(pattern(64, 64), "JPEG")).decode()
    assert image.load(text).shape == (64, 64, 3)


def test_existing_file_wins_over_base64_reading(tmp_path, monkeypatch):
    # this name is base64 alphabet only and starts like a base64 PNG
    name = "iVBORw0KGgo" + "A" * 40
    (tmp_path / name).write_bytes(encode(pattern(), "PNG"))
    monkeypatch.chdir(tmp_path)
    assert image.describe(name) == name
    np.testing.assert_array_equal(image.load(name), pattern())


def test_base64_alphabet_text_that_is_not_an_image_is_a_missing_path():
    text = base64.b64encode(b"hello world, this is plain text, not a picture").decode()
    assert image.describe(text) == text
    assert "no such file" in load_error(text)


def test_bad_data_uris():
    assert "base64" in load_error("data:image/png,rawdata")
    assert "invalid base64" in load_error("data:image/png;base64,iVBOR!!!w0KGgo")
    assert "invalid base64" in load_error("data:image/png;base64,iVBORw0KG")  # bad length
    assert "empty" in load_error("data:image/png;base64,")
    assert "not a supported image" in load_error(
        "data:image/png;base64," + base64.b64encode(b"plain text, really").decode()
    )


# --- PIL inputs ---------------------------------------------------------------


def test_pil_rgb_is_copied_and_left_untouched():
    picture = Image.fromarray(pattern())
    result = image.load(picture)
    np.testing.assert_array_equal(result, pattern())
    result[:] = 0
    assert picture.mode == "RGB" and picture.getpixel((0, 0)) == RED


def test_pil_gray_and_bilevel():
    gray = Image.new("L", (20, 30), 77)
    np.testing.assert_array_equal(image.load(gray), np.full((30, 20, 3), 77, np.uint8))
    bilevel = Image.fromarray(np.tile([True, False], (20, 10)))
    result = image.load(bilevel)
    assert_rgb_image(result, (20, 20))
    assert result[0, 0].tolist() == [255] * 3 and result[0, 1].tolist() == [0] * 3


def test_pil_alpha_modes_are_composited_over_white():
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 128))
    assert image.load(rgba)[0, 0].tolist() == [255, 127, 127]
    clear = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert (image.load(clear) == 255).all()
    la = Image.new("LA", (20, 20), (40, 255))
    assert image.load(la)[5, 5].tolist() == [40, 40, 40]
    assert image.load(Image.new("LA", (20, 20), (40, 0)))[5, 5].tolist() == [255] * 3
    premultiplied = Image.new("RGBA", (20, 20), (0, 0, 255, 255)).convert("RGBa")
    assert image.load(premultiplied)[0, 0].tolist() == list(BLUE)


def test_pil_palette_with_and_without_transparency():
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    assert image.load(palette)[0, 0].tolist() == [0, 0, 0]
    assert image.load(palette)[5, 5].tolist() == [0, 200, 0]
    palette.info["transparency"] = 0
    assert image.load(palette)[0, 0].tolist() == [255, 255, 255]
    assert image.load(palette)[5, 5].tolist() == [0, 200, 0]


@pytest.mark.parametrize("mode", ["CMYK", "YCbCr", "HSV", "P"])
def test_pil_other_colour_modes(mode):
    converted = Image.fromarray(pattern()).convert(mode)
    result = image.load(converted)
    assert_rgb_image(result, (32, 48))
    assert np.abs(result.astype(int) - pattern()).max() <= 8


def test_pil_16_bit_and_integer_modes():
    sixteen = Image.fromarray(np.full((20, 20), 32768, np.uint16))
    assert sixteen.mode == "I;16"
    assert image.load(sixteen)[0, 0].tolist() == [128] * 3
    small_int = Image.fromarray(np.full((20, 20), 200, np.int32))
    assert small_int.mode == "I"
    assert image.load(small_int)[0, 0].tolist() == [200] * 3
    wide_int = Image.fromarray(np.array([[65535, 16384, -5, 90000]] * 20, np.int32))
    result = image.load(wide_int.resize((20, 20), Image.Resampling.NEAREST))
    assert result[0, [0, 5, 10, 15], 0].tolist() == [255, 64, 0, 255]


def test_pil_float_mode():
    unit = Image.fromarray(np.full((20, 20), 0.5, np.float32))
    assert unit.mode == "F"
    assert image.load(unit)[0, 0].tolist() == [128] * 3
    byte_range = Image.fromarray(np.full((20, 20), 200.0, np.float32))
    assert image.load(byte_range)[0, 0].tolist() == [200] * 3
    assert "[0, 1]" in load_error(Image.fromarray(np.full((20, 20), 300.0, np.float32)))


def test_pil_image_exif_orientation_is_applied_without_changing_the_input():
    picture = Image.open(io.BytesIO(jpeg_with_orientation(6)))
    result = image.load(picture)
    assert result.shape == (48, 32, 3)
    assert picture.size == (48, 32)


# --- numpy inputs -----------------------------------------------------------------


def test_array_rgb_and_bgr():
    rgb = pattern()
    result = image.load(rgb)
    np.testing.assert_array_equal(result, rgb)
    assert not np.shares_memory(result, rgb)
    flipped = image.load(rgb, bgr=True)
    assert flipped[0, 0].tolist() == list(BLUE)  # red in BGR order reads as blue
    np.testing.assert_array_equal(flipped, rgb[:, :, ::-1])
    np.testing.assert_array_equal(image.load(rgb[:, :, ::-1].copy(), bgr=True), rgb)


def test_array_gray_forms():
    gray = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30).astype(np.uint8)
    expected = np.repeat(gray[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(image.load(gray), expected)
    np.testing.assert_array_equal(image.load(gray[:, :, None]), expected)
    np.testing.assert_array_equal(image.load(gray, bgr=True), expected)


def test_array_rgba_and_bgra_alpha_over_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:10, :, 3] = 255  # top half opaque, bottom half transparent
    result = image.load(rgba)
    assert result[0, 0].tolist() == list(RED)
    assert result[15, 0].tolist() == list(WHITE)
    bgra = image.load(rgba, bgr=True)
    assert bgra[0, 0].tolist() == list(BLUE)
    assert bgra[15, 0].tolist() == list(WHITE)


def test_array_dtypes():
    expected = np.full((20, 20, 3), 128, np.uint8)
    np.testing.assert_array_equal(image.load(np.full((20, 20, 3), 32768, np.uint16)), expected)
    np.testing.assert_array_equal(image.load(np.full((20, 20, 3), 0x80FF, ">u2")), expected)
    for dtype in (np.float16, np.float32, np.float64):
        np.testing.assert_array_equal(image.load(np.full((20, 20, 3), 0.5, dtype)), expected)
    byte_range = np.full((20, 20, 3), 128.0)
    byte_range[0, 0] = 3.0  # values above 1: taken as 0..255
    assert image.load(byte_range)[0, 0].tolist() == [3, 3, 3]
    assert image.load(np.full((20, 20), 1.0))[0, 0].tolist() == [255] * 3
    boolean = np.zeros((20, 20), bool)
    boolean[0, 0] = True
    result = image.load(boolean)
    assert result[0, 0].tolist() == [255] * 3 and result[1, 1].tolist() == [0] * 3


def test_array_non_contiguous_input_gives_contiguous_output():
    big = pattern(64, 96)
    for view in (big[::2, ::2], big.transpose(1, 0, 2), np.asfortranarray(big)):
        result = image.load(view)
        assert result.flags.c_contiguous
        np.testing.assert_array_equal(result, view)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros(400, np.uint8), "400"),
        (np.zeros((2, 20, 20, 3), np.uint8), "2x20x20x3"),
        (np.zeros((20, 20, 2), np.uint8), "20x20x2"),
        (np.zeros((20, 20, 5), np.uint8), "20x20x5"),
        (np.zeros((3, 20, 20), np.uint8), "3x20x20"),
        (np.zeros((0, 0), np.uint8), "empty"),
        (np.zeros((0, 20, 3), np.uint8), "empty"),
        (np.zeros((20, 20), object), "object"),
        (np.zeros((20, 20), complex), "complex"),
        (np.zeros((20, 20), np.int32), "int32"),
        (np.zeros((20, 20), np.uint32), "uint32"),
        (np.full((20, 20), np.nan), "NaN"),
        (np.full((20, 20), np.inf, np.float32), "infinite"),
        (np.full((20, 20), -0.5), "[-0.5, -0.5]"),
        (np.full((20, 20), 256.0), "[256, 256]"),
        (np.array(5, np.uint8), "scalar"),
    ],
)
def test_bad_arrays(array, expected):
    message = load_error(array)
    assert expected in message
    assert message.startswith("<array ")


# --- orientation and special encodings -------------------------------------------


def jpeg_with_orientation(orientation: int) -> bytes:
    """A 48x32 JPEG, red block at the stored top-left, with an EXIF orientation."""
    stored = np.zeros((32, 48, 3), np.uint8)
    stored[:8, :8] = RED
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", exif=exif, quality=95)


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(1, (slice(0, 6), slice(0, 6))),  # no rotation: stays top-left
     (6, (slice(0, 6), slice(-6, None))),  # rotated 90° clockwise: top-right
     (8, (slice(-6, None), slice(0, 6)))],  # rotated 90° counter-clockwise: bottom-left
)
def test_exif_orientation(tmp_path, orientation, corner):
    path = tmp_path / "oriented.jpg"
    path.write_bytes(jpeg_with_orientation(orientation))
    result = image.load(path)
    assert result.shape == ((32, 48, 3) if orientation == 1 else (48, 32, 3))
    assert np.abs(result[corner].astype(int) - RED).max() < 40
    red_mask = (result[..., 0] > 200) & (result[..., 1] < 60)
    assert 30 <= red_mask.sum() <= 80  # only the marker is red


def test_cmyk_jpeg(tmp_path):
    cmyk = Image.fromarray(pattern(64, 64)).convert("CMYK")
    path = tmp_path / "cmyk.jpg"
    path.write_bytes(encode(cmyk, "JPEG", quality=95))
    assert Image.open(path).mode == "CMYK"
    result = image.load(path)
    assert_rgb_image(result, (64, 64))
    assert np.abs(result[16, 16].astype(int) - RED).max() < 20
    assert np.abs(result[48, 48].astype(int) - WHITE).max() < 20


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([0, 16384, 32768, 65535], np.uint16)
    gray = np.repeat(np.repeat(values, 8)[None, :], 20, axis=0)  # 20x32
    path = tmp_path / "deep.png"
    path.write_bytes(encode(Image.fromarray(gray), "PNG"))
    assert Image.open(path).mode.startswith("I")
    result = image.load(path)
    assert_rgb_image(result, (20, 32))
    assert result[0, ::8, 0].tolist() == [0, 64, 128, 255]
    assert (result[..., 0] == result[..., 2]).all()


def test_palette_png_with_transparency(tmp_path):
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([9, 9, 9, 10, 20, 200] + [0] * 762)
    palette.putpixel((3, 4), 0)
    path = tmp_path / "palette.png"
    palette.save(path, transparency=0)
    result = image.load(path)
    assert result[4, 3].tolist() == list(WHITE)
    assert result[0, 0].tolist() == [10, 20, 200]


def test_rgba_png_and_webp(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 1] = 255
    rgba[:, 10:, 3] = 255
    for fmt, options in (("PNG", {}), ("WEBP", {"lossless": True})):
        result = image.load(encode(rgba, fmt, **options))
        assert result[0, 0].tolist() == list(WHITE)
        assert result[0, 15].tolist() == list(GREEN)


def test_gif_first_frame():
    frames = [Image.new("RGB", (20, 20), colour) for colour in (RED, GREEN, BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert image.load(buffer.getvalue())[10, 10].tolist() == list(RED)


# --- bad inputs -------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    assert load_error(path) == f"{path}: no such file"
    assert "no such file" in load_error(str(path))
    assert "no such file" in load_error("x" * 5000)  # too long to be a file name


def test_directory(tmp_path):
    assert "directory" in load_error(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(encode(pattern(), "PNG"))
    path.chmod(0)
    assert "permission denied" in load_error(path)


def test_permission_error_from_open(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    path.write_bytes(encode(pattern(), "PNG"))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(image, "open", refuse, raising=False)
    assert load_error(path) == f"{path}: permission denied"


def test_empty_inputs(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    assert "empty (0 bytes)" in load_error(path)
    assert "empty" in load_error(b"")
    assert "empty" in load_error(io.BytesIO())


def test_text_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("just some notes, ünïcödé too\nsecond line\n", encoding="utf-8")
    message = load_error(path)
    assert message.startswith(str(path))
    assert "not a supported image" in message and "text" in message


def test_pdf_and_heic_are_named():
    assert "PDF" in load_error(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    assert "HEIC" in load_error(b"\0\0\0\x18ftypheic" + b"\0" * 64)
    assert "starts with bytes 00 01 02" in load_error(bytes(range(64)))


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.99])
def test_truncated_jpeg(fraction):
    data = encode((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8), "JPEG")
    message = load_error(data[: int(len(data) * fraction)])
    assert message.startswith("<bytes ")
    assert "truncated" in message


def test_truncated_png_and_webp():
    noise = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    assert "truncated" in load_error(encode(noise, "PNG")[:-200])
    assert "truncated" in load_error(encode(noise, "WEBP")[:-200])


def test_decompression_bomb_is_rejected_fast_from_the_header():
    bomb = header_only_png(100_000, 100_000)
    assert len(bomb) < 200
    tracemalloc.start()
    started = time.perf_counter()
    message = load_error(bomb)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "too large" in message and "pixels" in message
    assert elapsed < 1.0
    assert peak < 5_000_000


def test_our_pixel_limit_applies_before_pillows():
    # 64 M pixels: above our 50 M default, below Pillow's warning threshold
    message = load_error(header_only_png(8000, 8000))
    assert "8000x8000" in message and "too large" in message
    small = image.Limits(max_pixels=1000)
    assert "pixels" in load_error(encode(pattern(), "PNG"), limits=small)
    assert "pixels" in load_error(pattern(), limits=small)
    image.set_limits(max_pixels=1000)
    assert "too large" in load_error(Image.fromarray(pattern()))


def test_pillow_bomb_warning_and_error_become_our_limit(monkeypatch):
    data = encode(pattern(), "PNG")  # 1536 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow would warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(image.load(data), pattern())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # Pillow would raise
    assert "too large" in load_error(data)


def test_max_bytes_for_every_encoded_source(tmp_path):
    data = encode(pattern(), "PNG")
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    limits = image.Limits(max_bytes=len(data) - 1)
    sources = [path, str(path), data, memoryview(data), io.BytesIO(data),
               base64.b64encode(data).decode(),
               "data:image/png;base64," + base64.b64encode(data).decode()]
    for source in sources:
        assert "too large" in load_error(source, limits=limits)
    assert image.load(path, limits=image.Limits(max_bytes=len(data))).shape == (32, 48, 3)


@pytest.mark.parametrize("size", [(1, 1), (15, 100), (100, 15)])
def test_too_small(size):
    width, height = size
    data = encode(np.zeros((height, width, 3), np.uint8), "PNG")
    message = load_error(data)
    assert "too small" in message and f"{width}x{height}" in message
    assert "too small" in load_error(np.zeros((height, width), np.uint8))


@pytest.mark.parametrize(
    ("source", "type_name"),
    [(42, "int"), ([[1, 2], [3, 4]], "list"), (None, "NoneType"), (3.5, "float")],
)
def test_unsupported_source_types(source, type_name):
    message = load_error(source)
    assert f"unsupported image source type {type_name}" in message


def test_text_mode_and_failing_file_objects(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(encode(pattern(), "PNG"))
    with open(path, encoding="latin-1") as text_file:
        assert "binary mode" in load_error(text_file)

    class Broken:
        def read(self, size=-1):
            raise OSError("device gone")

    assert "device gone" in load_error(Broken())
    closed = io.BytesIO(b"abc")
    closed.close()
    assert "cannot read" in load_error(closed)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow notes some corruptions
def test_corrupted_files_never_leak_other_exceptions():
    rng = np.random.default_rng(2)
    originals = [encode(pattern(), fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")]
    for original in originals:
        for _ in range(40):
            data = bytearray(original)
            for position in rng.integers(0, len(data), size=rng.integers(1, 6)):
                data[position] = rng.integers(0, 256)
            try:
                result = image.load(bytes(data))
            except ImageError:
                continue
            assert result.dtype == np.uint8 and result.ndim == 3 and result.shape[2] == 3


# --- describe and module hygiene ---------------------------------------------------


def test_describe(tmp_path):
    data = encode(pattern(), "PNG")
    text = base64.b64encode(data).decode()
    assert image.describe(tmp_path / "a.jpg") == str(tmp_path / "a.jpg")
    assert image.describe("photos/b.jpg") == "photos/b.jpg"
    assert image.describe(data) == f"<bytes {len(data)}>"
    assert image.describe(memoryview(data)) == f"<bytes {len(data)}>"
    assert image.describe(text) == f"<base64 {len(text)} chars>"
    assert image.describe("data:image/png;base64," + text).startswith("<data URI ")
    assert image.describe(np.zeros((250, 200, 3), np.uint8)) == "<array 250x200x3 uint8>"
    assert image.describe(Image.new("L", (200, 250))) == "<PIL L 200x250>"
    assert image.describe(io.BytesIO(data)) == "<file>"
    with open(tmp_path / "c.png", "wb") as file:
        assert image.describe(file) == f"<file {tmp_path / 'c.png'}>"
    assert image.describe(42) == "<int>"
    assert len(image.describe("y" * 5000)) == 200


def test_module_does_not_import_pillow_or_opencv_at_import_time():
    source = pathlib.Path(image.__file__).read_text(encoding="utf-8")
    for node in ast.parse(source).body:  # top-level statements only
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        assert not any(name.split(".")[0] in ("PIL", "cv2") for name in names), names


def test_first_loads_from_many_threads_at_once(tmp_path):
    """Pillow is imported lazily; threads racing through that first import
    must all decode, not trip over a half-initialised module."""
    import subprocess
    import sys

    code = (
        "import io, sys, threading, numpy as np\n"
        "from prosopo import image\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "errors = []\n"
        "def work():\n"
        "    try:\n"
        "        assert image.load(data).shape == (32, 48, 3)\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=work) for _ in range(16)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(errors)\n"
    )
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(path)
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]", out.stdout
