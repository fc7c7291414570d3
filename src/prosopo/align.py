"""Face alignment: a 5-point similarity transform (rotation, uniform scale,
translation) that maps the detected landmarks onto a recognizer's canonical
template, fitted by least squares (Umeyama, 1991)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import Face


@dataclass(frozen=True)
class Template:
    """Where a recognizer expects the five landmarks, in its input crop."""

    size: tuple[int, int]  # (width, height)
    points: tuple[tuple[float, float], ...]


# ArcFace / SFace 112x112 template: the de-facto standard positions.
ARCFACE_112 = Template(
    (112, 112),
    ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)),
)

# dlib's 150x150 face chip (padding 0.25), expressed in YuNet's five points:
# measured here by mapping YuNet landmarks through dlib's own 5-point chip
# transform on 600 random LFW images, then made left-right symmetric.
DLIB_150 = Template(
    (150, 150),
    ((46.66, 45.65), (103.34, 45.65), (75.0, 78.05), (50.73, 103.64), (99.27, 103.64)),
)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform that best maps ``src`` points onto ``dst``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s**2).sum() / len(src)
    scale = (sig * np.diag(sign)).sum() / var if var > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def box_transform(face: Face, template: Template) -> np.ndarray:
    """For faces without landmarks: map the box's square hull onto the crop."""
    b = face.box
    side = max(b.w, b.h, 1.0)
    cx, cy = b.center
    w, h = template.size
    k = w / side
    return np.array([[k, 0.0, w / 2 - k * cx], [0.0, k, h / 2 - k * cy]])


def align_face(rgb: np.ndarray, face: Face, template: Template, *, use_landmarks: bool = True) -> np.ndarray:
    """The face cropped and warped to ``template`` (RGB uint8).

    With ``use_landmarks=False``, or when the face has no landmarks, the box
    is cropped and scaled without rotation.
    """
    import cv2  # here, so that the registries (which import this module) stay light

    if use_landmarks and face.landmarks:
        m = similarity(np.array(face.landmarks), np.array(template.points))
    else:
        m = box_transform(face, template)
    return cv2.warpAffine(rgb, m, template.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
