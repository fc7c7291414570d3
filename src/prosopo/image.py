"""Loading images: the one place in prosopo that decodes image data.

:func:`load` turns any supported input into an RGB ``uint8`` array of shape
``(H, W, 3)``, C-contiguous and never sharing memory with the input.

Accepted inputs
---------------
* A path, as ``str`` or :class:`os.PathLike` (e.g. :class:`pathlib.Path`);
  any Unicode file name works.
* A ``str`` holding the image itself, either a ``data:`` URI with
  ``;base64,`` or a bare base64 string (standard or URL-safe alphabet,
  line breaks allowed).  See :func:`load` for how a ``str`` is told apart
  from a path.
* ``bytes``, ``bytearray`` or ``memoryview`` holding an encoded file.
* A binary file object (anything with ``.read()``); at most
  ``max_bytes + 1`` bytes are read from it.
* A :class:`PIL.Image.Image` in any mode.
* A :class:`numpy.ndarray` of shape ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``
  or ``(H, W, 4)`` and dtype ``uint8``, ``uint16`` (scaled by ``>> 8``),
  ``bool`` or float.  Channels are RGB(A), or BGR(A) with ``bgr=True``.

Encoded formats are JPEG, PNG, GIF (first frame), WebP, TIFF (first page) and
BMP, decoded with Pillow.  EXIF orientation is applied.  Transparent pixels
(alpha channel, palette or ``tRNS`` transparency) are composited over a white
background, for every kind of input.

Limits
------
Every load is checked against a :class:`Limits` (the process-wide default is
changed with :func:`set_limits`, or one is passed to :func:`load`):

* ``max_bytes``: size of the encoded data (checked before it is read whole);
* ``max_pixels``: width times height, checked from the file header before any
  pixel is decoded, so decompression bombs cost neither time nor memory;
* ``min_side``: the smallest allowed width or height.

Every failure raises :class:`~prosopo.errors.ImageError` whose message starts
with :func:`describe` of the input and says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import errno
import io
import os
import stat
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from prosopo.errors import ImageError, ParameterError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["Limits", "Picture", "describe", "get_limits", "load", "load_picture", "set_limits"]

#: Pillow format names that :func:`load` decodes (JPEG includes MPO).
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")

#: A bare base64 string must be at least this long to be taken as an image.
_MIN_BASE64_CHARS = 32

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True)
class Limits:
    """Size limits that every :func:`load` enforces.

    All values are positive integers; anything else raises
    :class:`~prosopo.errors.ParameterError`.  Pillow keeps its own hard
    ceiling of ``2 * PIL.Image.MAX_IMAGE_PIXELS`` (about 179 million pixels);
    a ``max_pixels`` above that only takes effect if that Pillow setting is
    raised as well.
    """

    max_bytes: int = 50 * 1024 * 1024
    """Largest accepted encoded size, in bytes."""
    max_pixels: int = 50_000_000
    """Largest accepted width * height, checked from the header."""
    min_side: int = 16
    """Smallest accepted width and height, in pixels."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ParameterError(
                    f"Limits.{field.name} must be a positive integer, got {value!r}"
                )


_limits = Limits()


def get_limits() -> Limits:
    """Return the process-wide default :class:`Limits`."""
    return _limits


def set_limits(**changes: int) -> Limits:
    """Change fields of the process-wide default :class:`Limits`.

    For example ``set_limits(max_pixels=20_000_000)``.  Returns the new
    limits.  Unknown names and values that are not positive integers raise
    :class:`~prosopo.errors.ParameterError` and leave the limits unchanged.
    """
    global _limits
    known = {field.name for field in fields(Limits)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ParameterError(
            f"unknown limit(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    _limits = replace(_limits, **changes)
    return _limits


def describe(source: Any) -> str:
    """Return a short human-readable name of an image source.

    A path gives the path itself; other inputs give a summary in angle
    brackets, e.g. ``<bytes 1234>``, ``<base64 2000 chars>``,
    ``<data URI 2000 chars>``, ``<file photo.jpg>``, ``<PIL RGB 640x480>``
    (width x height), ``<array 480x640x3 uint8>`` (the array shape) or
    ``<int>`` for an unsupported type.
    """
    if isinstance(source, str):
        kind = _classify_str(source)
        if kind == "path":
            return source if len(source) <= 200 else source[:197] + "..."
        return f"<{kind} {len(source)} chars>"
    if isinstance(source, os.PathLike):
        return os.fsdecode(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<bytes {len(source)}>"
    if isinstance(source, memoryview):
        return f"<bytes {source.nbytes}>"
    if isinstance(source, np.ndarray):
        shape = "x".join(str(n) for n in source.shape) or "scalar"
        return f"<array {shape} {source.dtype}>"
    if _is_pil_image(source):
        return f"<PIL {source.mode} {source.width}x{source.height}>"
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        return f"<file {os.fsdecode(name)}>" if isinstance(name, (str, bytes)) else "<file>"
    return f"<{type(source).__name__}>"


def load(source: Any, *, bgr: bool = False, limits: Limits | None = None) -> np.ndarray:
    """Load an image as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    The result is always RGB, C-contiguous and a new array (never a view of
    ``source``).  See the module docstring for the accepted sources.

    A ``str`` is read as follows: if it names an existing file (or
    directory) it is a path; else if it starts with ``data:`` it is a data
    URI (which must be base64-encoded); else if it is at least 32 characters
    of the base64 alphabet only (whitespace ignored) and its first bytes
    decode to a JPEG, PNG, GIF, WebP, TIFF or BMP signature it is base64;
    anything else is a path, which then fails as a missing file.

    Numpy arrays: ``bgr=True`` says the channels are BGR or BGRA (OpenCV
    order); it is ignored for every other kind of source, since files and
    PIL images know their own channel order.  ``uint16`` values are shifted
    right by 8 bits, ``bool`` maps to 0 and 255.  Float arrays with all
    values in [0, 1] are scaled by 255; float arrays with values above 1 but
    none above 255 are taken as already being in 0..255; either way they are
    rounded.  Negative, NaN or infinite values, values above 255, other
    dtypes and other shapes are rejected.

    PIL images: EXIF orientation is applied if the image still carries an
    orientation tag; 16-bit modes are shifted right by 8 bits; mode ``I`` is
    taken as 8-bit if no value exceeds 255 and as 16-bit otherwise (clipped
    to 0..65535); mode ``F`` follows the float rule above.

    Alpha is never returned: transparent pixels are composited over white.

    ``limits`` defaults to :func:`get_limits`.  ``max_pixels`` and
    ``min_side`` apply to every source, ``max_bytes`` to encoded data.

    Raises :class:`~prosopo.errors.ImageError` for every input that is not a
    loadable image within the limits, and
    :class:`~prosopo.errors.ParameterError` if ``limits`` is not a
    :class:`Limits`.  Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left
    as set; at its default ``False`` truncated files are rejected.
    """
    limits = _given_limits(limits)
    name = describe(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, bgr=bgr, name=name, limits=limits)
    if _is_pil_image(source):
        return _from_pil(source, name=name, limits=limits, owned=False)
    return _decode(_read_encoded(source, name, limits), name, limits)


@dataclass(frozen=True, eq=False)
class Picture:
    """An image decoded no larger than its use needs.

    ``rgb`` holds the image at ``scale`` (its pixels per pixel of the full,
    EXIF-oriented image of ``size`` = (width, height)). A JPEG is decoded
    reduced by its DCT scaling (1/2, 1/4 or 1/8, several times faster than a
    full decode); every other input has ``scale`` 1. :meth:`at_scale` decodes
    again, sharper, when a face turns out to need more pixels.
    """

    rgb: np.ndarray
    scale: float
    size: tuple[int, int]
    name: str
    _data: bytes | None = None
    _limits: Limits = Limits()

    def at_scale(self, scale: float) -> Picture:
        """This image with at least ``scale`` (at most 1), decoded again if
        this one is coarser; ``self`` when it is sharp enough already."""
        if scale <= self.scale * 1.0001 or self._data is None:
            return self
        side = max(self.size) * min(1.0, scale)
        return _decode_picture(self._data, self.name, self._limits, reduce_to=int(np.ceil(side)))


def load_picture(source: Any, *, bgr: bool = False, limits: Limits | None = None,
                 reduce_to: int | None = None) -> Picture:
    """Load an image as :func:`load` does, as a :class:`Picture`: a JPEG is
    decoded reduced as far as its long side stays at least ``reduce_to``
    pixels (None: full size). The limits apply to the full image."""
    limits = _given_limits(limits)
    name = describe(source)
    if isinstance(source, np.ndarray) or _is_pil_image(source) or not reduce_to:
        rgb = load(source, bgr=bgr, limits=limits)
        return Picture(rgb, 1.0, (rgb.shape[1], rgb.shape[0]), name)
    return _decode_picture(_read_encoded(source, name, limits), name, limits, reduce_to=reduce_to)


def _given_limits(limits: Limits | None) -> Limits:
    """``limits``, or the process-wide default when None."""
    if limits is None:
        return _limits
    if not isinstance(limits, Limits):
        raise ParameterError(f"limits must be a Limits, got {type(limits).__name__}")
    return limits


# --- getting the encoded bytes ----------------------------------------------


def _classify_str(text: str) -> str:
    """Say whether a str is a ``path``, a ``data URI`` or ``base64``."""
    if os.path.exists(text):
        return "path"
    if text.lstrip()[:5].lower() == "data:":
        return "data URI"
    head = _compact_base64(text.lstrip()[:100])  # cheap test first
    if (
        head is not None
        and len(head) >= _MIN_BASE64_CHARS
        and _has_image_signature(base64.b64decode(head[:24]))
        and _compact_base64(text) is not None
    ):
        return "base64"
    return "path"


def _compact_base64(text: str) -> bytes | None:
    """Return base64 ``text`` without whitespace, in the standard alphabet and
    padded; None if it has characters outside the base64 alphabets."""
    compact = "".join(text.split())
    if not compact.isascii():
        return None
    body = compact.encode("ascii").rstrip(b"=")
    if len(compact) - len(body) > 2:
        return None
    if body.translate(None, _BASE64_ALPHABET):  # not the standard alphabet
        body = body.translate(_URLSAFE_TO_STANDARD)
        if body.translate(None, _BASE64_ALPHABET):
            return None
    return body + b"=" * (-len(body) % 4)


def _has_image_signature(head: bytes) -> bool:
    return (
        head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM"))
        or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")
    )


def _read_encoded(source: Any, name: str, limits: Limits) -> bytes:
    """Return the encoded image bytes of any non-decoded source."""
    if isinstance(source, str):
        kind = _classify_str(source)
        if kind == "path":
            return _read_path(source, name, limits)
        payload = source
        if kind == "data URI":
            header, comma, payload = source.lstrip().partition(",")
            if not comma or ";base64" not in header.lower():
                raise ImageError(f"{name}: only base64 data URIs are supported")
        return _decode_base64(payload, name, limits)
    if isinstance(source, os.PathLike):
        return _read_path(source, name, limits)
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = source.nbytes if isinstance(source, memoryview) else len(source)
        _check_byte_count(size, name, limits)
        return source.tobytes() if isinstance(source, memoryview) else bytes(source)
    if hasattr(source, "read"):
        try:
            data = source.read(limits.max_bytes + 1)
        except (OSError, ValueError) as exc:
            raise ImageError(f"{name}: cannot read from file object ({exc})") from None
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError(f"{name}: file object must be opened in binary mode")
        _check_byte_count(len(data), name, limits)
        return bytes(data)
    raise ImageError(
        f"{name}: unsupported image source type {type(source).__name__}; expected a "
        "path, bytes, a binary file object, base64 text, a PIL image or a numpy array"
    )


def _read_path(path: str | os.PathLike[Any], name: str, limits: Limits) -> bytes:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise ImageError(
                f"{name}: no such file (name too long; text given as base64 must "
                "decode to a JPEG, PNG, GIF, WebP, TIFF or BMP file)"
            ) from None
        raise ImageError(f"{name}: cannot access file ({_reason(exc)})") from None
    except ValueError as exc:  # a NUL character in the name
        raise ImageError(f"{name}: cannot access file ({_reason(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{name}: is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{name}: not a regular file")
    _check_byte_count(info.st_size, name, limits)
    try:
        with open(path, "rb") as file:
            data = file.read(limits.max_bytes + 1)
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read file ({_reason(exc)})") from None
    _check_byte_count(len(data), name, limits)  # the file may have changed
    return data


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _decode_base64(text: str, name: str, limits: Limits) -> bytes:
    compact = _compact_base64(text)
    if compact is None:
        raise ImageError(f"{name}: invalid base64 (characters outside the alphabet)")
    _check_byte_count(len(compact) * 3 // 4, name, limits)
    try:
        data = base64.b64decode(compact, validate=True)
    except binascii.Error as exc:
        raise ImageError(f"{name}: invalid base64 ({exc})") from None
    _check_byte_count(len(data), name, limits)
    return data


def _check_byte_count(size: int, name: str, limits: Limits) -> None:
    if size == 0:
        raise ImageError(f"{name}: empty (0 bytes), not an image")
    if size > limits.max_bytes:
        raise ImageError(
            f"{name}: file too large: more than {limits.max_bytes:,} bytes "
            "(see prosopo.image.set_limits)"
        )


# --- decoding ----------------------------------------------------------------


def _decode(data: bytes, name: str, limits: Limits) -> np.ndarray:
    return _decode_picture(data, name, limits).rgb


def _decode_picture(data: bytes, name: str, limits: Limits, reduce_to: int | None = None) -> Picture:
    from PIL import Image, ImageOps, UnidentifiedImageError

    with _pillow_errors(name, limits):
        try:
            image = Image.open(io.BytesIO(data), formats=_FORMATS)
        except UnidentifiedImageError:
            raise ImageError(
                f"{name}: not a supported image ({', '.join(_FORMATS)}) or its "
                f"header is damaged; {_sniff(data)}"
            ) from None
        with image:
            full = image.size
            _check_dimensions(*full, name, limits)  # header only
            if reduce_to and image.format in ("JPEG", "MPO") and max(full) > reduce_to:
                k = reduce_to / max(full)
                image.draft(image.mode, (int(np.ceil(full[0] * k)), int(np.ceil(full[1] * k))))
            # DCT scaling divides both sides by the same power of two (rounding up)
            scale = 1.0 / round(max(full) / max(image.size))
            image.load()
            transposed = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
            ImageOps.exif_transpose(image, in_place=True)
            rgb = _from_pil(image, name=name, limits=limits, owned=True, check=scale == 1.0)
    size = (full[1], full[0]) if transposed else full
    return Picture(rgb, scale, size, name, data if scale < 1.0 else None, limits)


@contextmanager
def _pillow_errors(name: str, limits: Limits) -> Iterator[None]:
    """Turn every Pillow failure inside the block into an ImageError.

    Pillow's DecompressionBombWarning is silenced, because our own
    ``max_pixels`` check (stricter by default) is the limit that applies;
    its DecompressionBombError, raised beyond twice its limit, is reported
    as an image that is too large.  (Before Python 3.14 the warning filter
    is process-wide, so a thread racing this block may also see it silenced.)
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except (ImageError, MemoryError):
        raise
    except Image.DecompressionBombError:
        raise ImageError(
            f"{name}: image too large: more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} "
            f"pixels declared (limit {limits.max_pixels:,} pixels)"
        ) from None
    except Exception as exc:  # noqa: BLE001 -- Pillow raises OSError, SyntaxError, struct.error, ...
        raise ImageError(f"{name}: corrupt or truncated image data ({exc})") from None


def _sniff(data: bytes) -> str:
    """Guess what non-image data is, for the error message."""
    if data.startswith(b"%PDF"):
        return "it looks like a PDF document"
    if data[4:8] == b"ftyp":
        return "it looks like HEIC/AVIF or video, which is not supported"
    text = data[:256].decode("utf-8", "replace").rstrip("\ufffd")  # cut multi-byte char
    if "\ufffd" not in text and all(c.isprintable() or c.isspace() for c in text):
        return "it looks like text"
    return f"it starts with bytes {data[:8].hex(' ')}"


def _from_pil(image: PILImage, *, name: str, limits: Limits, owned: bool, check: bool = True) -> np.ndarray:
    """Convert a PIL image; ``owned`` images are already loaded and oriented;
    ``check=False`` for one decoded reduced (its full size was checked)."""
    from PIL import ImageOps

    if check:
        _check_dimensions(image.width, image.height, name, limits)
    with _pillow_errors(name, limits):
        if not owned:
            image = ImageOps.exif_transpose(image)
        if image.mode.startswith("I;16"):
            array = np.asarray(image)
        elif image.mode == "I":
            array = np.clip(np.asarray(image), 0, 65535)
            array = array.astype(np.uint8 if array.max() <= 255 else np.uint16)
        elif image.mode in ("F", "1", "L", "RGB") and not image.has_transparency_data:
            array = np.asarray(image)
        elif image.has_transparency_data:
            array = np.asarray(image.convert("RGBA"))
        else:  # CMYK, YCbCr, LAB, HSV, P without transparency, ...
            array = np.asarray(image.convert("RGB"))
    return _from_array(array, bgr=False, name=name, limits=limits, check=check)


def _from_array(array: np.ndarray, *, bgr: bool, name: str, limits: Limits, check: bool = True) -> np.ndarray:
    source = array
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"{name}: unsupported array shape {source.shape}; expected (H, W), "
            "(H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    if array.size == 0:
        raise ImageError(f"{name}: empty array of shape {source.shape}")
    if check:
        _check_dimensions(array.shape[1], array.shape[0], name, limits)
    array = _to_uint8(array, name)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif bgr:
        # OpenCV's swap is about 40 times faster than numpy's fancy indexing
        # (0.4 against 23 ms for a 1080p frame) and always a fresh array
        import cv2

        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB if array.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    if array.shape[2] == 4:
        array = _over_white(array)
    result = np.ascontiguousarray(array)
    return result.copy() if np.may_share_memory(result, source) else result


def _to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "b":
        return array.astype(np.uint8) * np.uint8(255)
    if kind == "u" and array.dtype.itemsize == 2:
        return (array >> 8).astype(np.uint8)
    if kind == "f":
        low, high = float(array.min()), float(array.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ImageError(f"{name}: array contains NaN or infinite values")
        if low < 0 or high > 255:
            raise ImageError(
                f"{name}: float values must lie in [0, 1] (or [0, 255]), "
                f"got [{low:g}, {high:g}]"
            )
        scaled = array * np.float32(255) if high <= 1 else array
        return np.rint(scaled).astype(np.uint8)
    raise ImageError(
        f"{name}: unsupported dtype {array.dtype}; expected uint8, uint16, bool or float"
    )


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """Composite an RGBA uint8 array over a white background."""
    rgb = rgba[:, :, :3].astype(np.uint16)
    alpha = rgba[:, :, 3:].astype(np.uint16)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _check_dimensions(width: int, height: int, name: str, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise ImageError(
            f"{name}: image too large: {width}x{height} = {width * height:,} pixels, "
            f"limit {limits.max_pixels:,} pixels (see prosopo.image.set_limits)"
        )
    if min(width, height) < limits.min_side:
        raise ImageError(
            f"{name}: image too small: {width}x{height} pixels, each side must be "
            f"at least {limits.min_side}"
        )


def _is_pil_image(source: Any) -> bool:
    """True for PIL images, without importing Pillow if nobody else has.

    Another thread may be importing Pillow right now (the module is in
    ``sys.modules`` but half initialised), so the class is looked up
    defensively: a PIL image can only exist once that import has finished.
    """
    pil = sys.modules.get("PIL.Image")
    cls = getattr(pil, "Image", None)
    return isinstance(cls, type) and isinstance(source, cls)
