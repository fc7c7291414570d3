"""Is a face good enough for attribute estimates? Size and sharpness checks,
so that a tiny or blurred face is flagged instead of silently guessed."""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Face

# Below these the heads' held-out errors grow fast (see training/README.md).
MIN_FACE_PIXELS = 32  # shorter side of the detected box
MIN_SHARPNESS = 20.0  # variance of the Laplacian of the aligned 112x112 crop


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned crop's grey levels (higher is
    sharper); scale-free because every crop has the template's size."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def problems(face: Face, crop: np.ndarray) -> tuple[float, list[str]]:
    """The crop's sharpness and what makes its estimates unreliable."""
    found = []
    size = min(face.box.w, face.box.h)
    if size < MIN_FACE_PIXELS:
        found.append(f"face is {size:.0f} px, below {MIN_FACE_PIXELS} px: estimates are unreliable")
    sharp = sharpness(crop)
    if sharp < MIN_SHARPNESS:
        found.append(f"face is blurred (sharpness {sharp:.1f} < {MIN_SHARPNESS}): estimates are unreliable")
    return sharp, found
