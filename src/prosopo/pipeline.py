"""The pipeline: image -> faces -> aligned crops -> embeddings.

Functions here take decoded RGB arrays and registry names; ``api.py`` adds
image loading and the public signatures.
"""

from __future__ import annotations

import numpy as np

from .defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from .detectors import DETECTORS
from .embed import RECOGNIZERS
from .errors import NoFaceError, ParameterError
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
) -> list[Face]:
    """Faces in ``rgb``, largest first.

    ``min_face_size`` drops faces whose box is smaller (pixels, shorter side);
    ``max_faces`` keeps only the largest; ``landmarks=True`` fills in
    landmarks for detectors that give none (see :func:`add_landmarks`).
    """
    if min_face_size < 0:
        raise ParameterError(f"min_face_size must be >= 0, got {min_face_size!r}")
    if max_faces is not None and (not isinstance(max_faces, int) or max_faces < 1):
        raise ParameterError(f"max_faces must be a positive integer or None, got {max_faces!r}")
    faces = [f for f in DETECTORS.get(detector).detect(rgb) if min(f.box.w, f.box.h) >= min_face_size]
    faces.sort(key=lambda f: f.box.area, reverse=True)
    if max_faces is not None:
        faces = faces[:max_faces]
    if landmarks:
        faces = [add_landmarks(rgb, f) for f in faces]
    return faces


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
    best, best_iou = None, LANDMARK_MIN_IOU
    for cand in DETECTORS.get("yunet").detect(np.ascontiguousarray(rgb[y0:y1, x0:x1])):
        moved = Box(cand.box.x + x0, cand.box.y + y0, cand.box.w, cand.box.h)
        iou = moved.iou(face.box)
        if iou > best_iou and cand.landmarks:
            best, best_iou = cand, iou
    if best is None:
        return face
    return Face(face.box, face.score, tuple((x + x0, y + y0) for x, y in best.landmarks))


def whole_image(rgb: np.ndarray) -> Face:
    """The whole image as one face (score 0: nothing was detected)."""
    h, w = rgb.shape[:2]
    return Face(Box(0.0, 0.0, float(w), float(h)), 0.0)


def faces_or_whole(
    rgb: np.ndarray,
    detector: str,
    *,
    enforce_detection: bool,
    align: bool,
    min_face_size: float = 0,
    max_faces: int | None = None,
    source: str = "image",
) -> list[Face]:
    """Detected faces; with none, the whole image if ``enforce_detection`` is
    False, else :class:`NoFaceError`."""
    faces = find_faces(rgb, detector, min_face_size=min_face_size, max_faces=max_faces, landmarks=align)
    if faces:
        return faces
    if enforce_detection:
        raise NoFaceError(
            f"no face found in {source} by detector {detector!r}"
            + (f" (min_face_size={min_face_size})" if min_face_size else "")
            + "; try another detector, or enforce_detection=False to use the whole image"
        )
    return [whole_image(rgb)]


def embed_faces(rgb: np.ndarray, faces: list[Face], model: str = DEFAULT_MODEL, *, align: bool = True,
                flip: bool = False) -> np.ndarray:
    """Unit-length float32 embeddings, one row per face."""
    return RECOGNIZERS.get(model).represent(rgb, faces, align=align, flip=flip)
