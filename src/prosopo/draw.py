"""Pictures for people: faces drawn on a photo, ROC curves. Written with
OpenCV so no plotting library is needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import image as imagelib
from .errors import ImageError
from .types import Face

# landmark colours (RGB): eyes, nose, mouth corners
_MARK_COLOURS = ((0, 200, 255), (0, 200, 255), (255, 80, 80), (80, 220, 80), (80, 220, 80))
_CURVE_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


def save(rgb: np.ndarray, path: str | Path) -> None:
    """Write an RGB image; the format follows the extension (.jpg, .png, .webp)."""
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    try:
        ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"cannot write {path}: unsupported image extension {ext!r} (use .jpg, .png or .webp)")
    try:
        path.write_bytes(data.tobytes())
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def draw_faces(img: Any, faces: Sequence[Face], path: str | Path | None = None,
               labels: Sequence[str] | None = None) -> np.ndarray:
    """The image with each face's box, landmarks and label (default: its
    index and score) drawn; saved to ``path`` when given."""
    rgb = imagelib.load(img).copy()
    thick = max(1, round(max(rgb.shape[:2]) / 400))
    for i, face in enumerate(faces):
        b = face.box
        p1, p2 = (round(b.x), round(b.y)), (round(b.x + b.w), round(b.y + b.h))
        cv2.rectangle(rgb, p1, p2, (0, 255, 0), thick)
        for (x, y), colour in zip(face.landmarks or (), _MARK_COLOURS):
            cv2.circle(rgb, (round(x), round(y)), thick + 1, colour, -1)
        text = labels[i] if labels else f"{i}: {face.score:.2f}"
        scale = 0.4 * thick
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = max(0, p1[1] - th - base - 2)
        cv2.rectangle(rgb, (p1[0], top), (p1[0] + tw + 2, top + th + base + 2), (0, 255, 0), -1)
        cv2.putText(rgb, text, (p1[0] + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick,
                    cv2.LINE_AA)
    if path is not None:
        save(rgb, path)
    return rgb


def draw_roc(curves: Sequence[tuple[str, np.ndarray]], same: Sequence[bool], path: str | Path,
             size: tuple[int, int] = (800, 600)) -> np.ndarray:
    """ROC curves (true-accept rate against false-accept rate, log scale)
    for several distance arrays over the same pairs; saved as an image."""
    from .evaluate import roc

    w, h = size
    left, right, top, bottom = 80, 20, 20, 60
    canvas = np.full((h, w, 3), 255, np.uint8)
    lo_far, lo_tar = 1e-4, 0.8

    def xy(far: np.ndarray, tar: np.ndarray) -> np.ndarray:
        fx = (np.log10(np.clip(far, lo_far, 1.0)) - np.log10(lo_far)) / -np.log10(lo_far)
        fy = (np.clip(tar, lo_tar, 1.0) - lo_tar) / (1 - lo_tar)
        return np.stack([left + fx * (w - left - right), h - bottom - fy * (h - top - bottom)], 1).astype(np.int32)

    grey, black = (200, 200, 200), (0, 0, 0)
    for e in range(-4, 1):
        (x, _), = xy(np.array([10.0**e]), np.array([lo_tar]))
        cv2.line(canvas, (x, top), (x, h - bottom), grey, 1)
        cv2.putText(canvas, f"1e{e}", (x - 18, h - bottom + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, black, 1, cv2.LINE_AA)
    for t in np.linspace(lo_tar, 1.0, 5):
        (_, y), = xy(np.array([1.0]), np.array([t]))
        cv2.line(canvas, (left, y), (w - right, y), grey, 1)
        cv2.putText(canvas, f"{t:.2f}", (left - 45, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, black, 1, cv2.LINE_AA)
    cv2.rectangle(canvas, (left, top), (w - right, h - bottom), black, 1)
    cv2.putText(canvas, "false accept rate", (w // 2 - 60, h - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, black, 1,
                cv2.LINE_AA)
    cv2.putText(canvas, "TAR", (10, (top + h - bottom) // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, black, 1, cv2.LINE_AA)
    same = np.asarray(same, dtype=bool)
    for k, (label, dist) in enumerate(curves):
        colour = _CURVE_COLOURS[k % len(_CURVE_COLOURS)]
        far, tar = roc(np.asarray(dist), same)
        cv2.polylines(canvas, [xy(far, tar)], False, colour, 2, cv2.LINE_AA)
        cv2.putText(canvas, label, (left + 15, h - bottom - 20 - 22 * (len(curves) - 1 - k)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    save(canvas, path)
    return canvas
