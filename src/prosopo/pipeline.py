"""The pipeline: image -> faces -> aligned crops -> embeddings.

:func:`locate` loads an image (a large JPEG decoded reduced), finds its faces
and makes sure the pixels it keeps are sharp enough to crop them; the other
functions take decoded RGB arrays and registry names. ``api.py`` adds the
public signatures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from . import frontend, liveness
from . import image as imagelib
from .align import Template, box_transform, similarity
from .defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from .detectors import DETECTORS
from .embed import RECOGNIZERS
from .errors import ModelError, NoFaceError, ParameterError
from .types import Box, Face

# A face without landmarks (Haar, dlib HOG) borrows YuNet's landmarks found
# in this much larger region around its box, when YuNet agrees it is a face.
LANDMARK_REGION = 1.6
LANDMARK_MIN_IOU = 0.3


def find_faces(
    rgb: np.ndarray,
    detector: str = DEFAULT_DETECTOR,
    *,
    min_face_size: float = 0,
    max_faces: int | None = None,
    landmarks: bool = False,
    auto_rotate: bool = False,
) -> list[Face]:
    """Faces in ``rgb``, largest first.

    ``min_face_size`` drops faces whose box is smaller (pixels, shorter side);
    ``max_faces`` keeps only the largest; ``landmarks=True`` fills in
    landmarks for detectors that give none (see :func:`add_landmarks`).
    Detectors with landmarks see the image at every scale it needs and, with
    ``auto_rotate``, upright (see :mod:`prosopo.frontend`).
    """
    _check_min_face_size(min_face_size)
    if max_faces is not None and (not isinstance(max_faces, int) or max_faces < 1):
        raise ParameterError(f"max_faces must be a positive integer or None, got {max_faces!r}")
    if not isinstance(auto_rotate, bool):
        raise ParameterError(f"auto_rotate must be True or False, got {auto_rotate!r}")
    faces = [f for f in _detect(detector, rgb, auto_rotate) if min(f.box.w, f.box.h) >= min_face_size]
    faces.sort(key=lambda f: f.box.area, reverse=True)
    if max_faces is not None:
        faces = faces[:max_faces]
    if landmarks:
        faces = [add_landmarks(rgb, f) for f in faces]
    return faces


def _check_min_face_size(min_face_size: float) -> None:
    if min_face_size < 0:
        raise ParameterError(f"min_face_size must be >= 0, got {min_face_size!r}")


def _detect(detector: str, rgb: np.ndarray, auto_rotate: bool = False) -> list[Face]:
    backend = DETECTORS.get(detector)
    if hasattr(backend, "fine_side"):
        return frontend.detect(backend, rgb, auto_rotate=auto_rotate)
    if auto_rotate:
        raise ParameterError(f"auto_rotate needs a detector with landmarks ({', '.join(_frontend_detectors())}), "
                             f"not {detector!r}")
    return backend.detect(rgb)


def _frontend_detectors() -> list[str]:
    """The detectors with landmarks, which see every scale and orientation
    (their classes are imported, no model is loaded)."""
    names = []
    for name in DETECTORS.names():
        try:
            if hasattr(DETECTORS.backend_class(name), "fine_side"):
                names.append(name)
        except ModelError:  # its package is not installed
            pass
    return names


def add_landmarks(rgb: np.ndarray, face: Face) -> Face:
    """``face`` with YuNet's five landmarks, found in a region around its box,
    when it has none; unchanged when YuNet finds no matching face there."""
    if face.landmarks:
        return face
    h, w = rgb.shape[:2]
    cx, cy = face.box.center
    half = max(face.box.w, face.box.h) * LANDMARK_REGION / 2
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return face
    best: tuple[tuple[float, float], ...] | None = None
    best_iou = LANDMARK_MIN_IOU
    for cand in _detect("yunet", np.ascontiguousarray(rgb[y0:y1, x0:x1])):
        moved = Box(cand.box.x + x0, cand.box.y + y0, cand.box.w, cand.box.h)
        iou = moved.iou(face.box)
        if iou > best_iou and cand.landmarks:
            best, best_iou = cand.landmarks, iou
    if best is None:
        return face
    return Face(face.box, face.score, tuple((x + x0, y + y0) for x, y in best))


def whole_image(rgb: np.ndarray) -> Face:
    """The whole image as one face (score 0: nothing was detected)."""
    h, w = rgb.shape[:2]
    return Face(Box(0.0, 0.0, float(w), float(h)), 0.0)


def embed_faces(rgb: np.ndarray, faces: list[Face], model: str = DEFAULT_MODEL, *, align: bool = True,
                flip: bool = False) -> np.ndarray:
    """Unit-length float32 embeddings, one row per face."""
    return RECOGNIZERS.get(model).represent(rgb, faces, align=align, flip=flip)


@dataclass(frozen=True, eq=False)
class Located:
    """The faces of one image: ``faces`` in the input image's pixels, and the
    same faces as ``local`` in the pixels of ``rgb``, which may be the image
    decoded reduced (``scale`` of its pixels per input pixel)."""

    name: str
    faces: list[Face]
    rgb: np.ndarray
    local: list[Face]
    scale: float


def locate(
    img: Any,
    detector: str = DEFAULT_DETECTOR,
    *,
    template: Template | None = None,
    bgr: bool = False,
    enforce_detection: bool = True,
    align: bool = True,
    min_face_size: float = 0,
    max_faces: int | None = None,
    auto_rotate: bool = False,
    empty_ok: bool = False,
    anti_spoofing: bool | str = False,
    spoof_threshold: float | None = None,
    advice: str = "try another detector, auto_rotate=True for a turned photo, or enforce_detection=False to use the "
                  "whole image",
) -> Located:
    """Load ``img`` and find its faces (:func:`find_faces`). With none:
    :class:`NoFaceError` if ``enforce_detection`` (its message ending with
    ``advice``, the options the caller offers), else the whole image as the
    face (score 0); with ``empty_ok``, an empty list.

    A JPEG larger than the detector's working size is decoded reduced; when
    a face is to be cropped to ``template`` and the reduced pixels hold less
    detail than the crop needs, the image is decoded again, sharper. With
    ``anti_spoofing`` (see :func:`prosopo.liveness.check`) the image is read
    at full size, as the spoof threshold was calibrated, and each face's
    liveness is filled in; without the anti-spoofing model files that is a
    :class:`~prosopo.ModelError` before the image is read, whatever it holds.
    """
    _check_min_face_size(min_face_size)
    _check_anti_spoofing(anti_spoofing, spoof_threshold)
    backend = DETECTORS.get(detector)
    reduce_to = getattr(backend, "fine_side", None) if anti_spoofing is False else None
    picture = imagelib.load_picture(img, bgr=bgr, reduce_to=reduce_to)
    local = find_faces(picture.rgb, detector, min_face_size=min_face_size * picture.scale, max_faces=max_faces,
                       landmarks=align, auto_rotate=auto_rotate)
    if not local and not empty_ok:
        if enforce_detection:
            raise NoFaceError(
                f"no face found in {picture.name} by detector {detector!r}"
                + (f" (min_face_size={min_face_size})" if min_face_size else "")
                + "; " + advice
            )
        w, h = picture.size
        found = Located(picture.name, [Face(Box(0.0, 0.0, float(w), float(h)), 0.0)], picture.rgb,
                        [whole_image(picture.rgb)], picture.scale)
        return _check_liveness(found, anti_spoofing, spoof_threshold)
    if template is not None and local and picture.scale < 1.0:
        need = picture.scale * max(_enlargement(f, template, align) for f in local)
        sharper = picture.at_scale(need)
        if sharper is not picture:
            local = _scaled(local, sharper.scale / picture.scale)
            picture = sharper
    found = Located(picture.name, _scaled(local, 1.0 / picture.scale), picture.rgb, local, picture.scale)
    return _check_liveness(found, anti_spoofing, spoof_threshold)


def _check_anti_spoofing(anti_spoofing: bool | str, threshold: float | None) -> None:
    """Refuse a bad mode or threshold, and make sure the anti-spoofing model
    is there when it will be needed (a ModelError naming the missing files)."""
    if not any(anti_spoofing is mode or (isinstance(mode, str) and anti_spoofing == mode) for mode in liveness.MODES):
        raise ParameterError(f"anti_spoofing must be False, True, 'report' or 'reject', got {anti_spoofing!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, Real)
                                  or not 0.0 <= threshold <= 1.0):
        raise ParameterError(f"the spoof threshold is a live probability between 0 and 1, got {threshold!r}")
    if anti_spoofing is not False:
        liveness.model()  # loads once; a ModelError when the files are missing or wrong


def _enlargement(face: Face, template: Template, align: bool) -> float:
    """How much the crop to ``template`` enlarges ``face``'s pixels."""
    if align and face.landmarks:
        m = similarity(np.array(face.landmarks), np.array(template.points))
    else:
        m = box_transform(face, template)
    return float(np.hypot(m[0, 0], m[1, 0]))


def _scaled(faces: list[Face], k: float) -> list[Face]:
    """``faces`` with every coordinate multiplied by ``k``."""
    if k == 1.0:
        return faces
    return frontend.map_faces(faces, np.array([[k, 0, 0], [0, k, 0]]))


def _check_liveness(found: Located, anti_spoofing: bool | str, threshold: float | None) -> Located:
    """``found`` with each face's liveness filled in (see :func:`prosopo.liveness.check`)."""
    checked = liveness.check(found.rgb, found.local, anti_spoofing, threshold, source=found.name, shown=found.faces)
    if checked is found.local:
        return found
    faces = [dataclasses.replace(f, is_real=c.is_real, spoof_score=c.spoof_score) for f, c in zip(found.faces, checked)]
    return dataclasses.replace(found, faces=faces, local=checked)
