"""Pictures for people: faces drawn on a photo, ROC curves. Written with
OpenCV so no plotting library is needed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import image as imagelib
from .errors import ParameterError
from .types import Box, Face

# landmark colours (RGB): eyes, nose, mouth corners
_MARK_COLOURS = ((0, 200, 255), (0, 200, 255), (255, 80, 80), (80, 220, 80), (80, 220, 80))
_BOX = (0, 255, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_CURVE_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


def check_writable(path: str | Path) -> Path:
    """``path`` as a Path if an image can be saved there (a known extension,
    in an existing folder that may be written), else :class:`ParameterError`;
    so that a long computation is not lost to a mistyped output path."""
    path = Path(path)
    ext = path.suffix.lower()
    if not ext or not cv2.haveImageWriter(f"x{ext}"):
        raise ParameterError(f"cannot write {path}: unsupported image extension {ext or '(none)'!r} "
                             "(use .jpg, .png or .webp)")
    folder = path.parent
    if not folder.is_dir():
        raise ParameterError(f"cannot write {path}: no such folder {str(folder)!r}")
    if path.is_dir():
        raise ParameterError(f"cannot write {path}: it is a folder")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise ParameterError(f"cannot write {path}: permission denied")
    return path


def save(rgb: np.ndarray, path: str | Path) -> None:
    """Write an RGB image; the format follows the extension (.jpg, .png,
    .webp). A path that cannot be written (unknown extension, no such folder,
    no permission) raises :class:`ParameterError` naming it."""
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    try:
        ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise ParameterError(f"cannot write {path}: unsupported image extension {ext!r} (use .jpg, .png or .webp)")
    try:
        path.write_bytes(data.tobytes())
    except OSError as exc:
        raise ParameterError(f"cannot write {path}: {exc.strerror or exc}") from exc


Rect = tuple[int, int, int, int]  # x, y, width, height, in whole pixels

# What a label may cover, per pixel: another label (never, when avoidable),
# another face, its own face; and what each pixel of distance from its own
# box costs, per pixel of the label's height.
_COVER_LABEL, _COVER_FACE, _COVER_OWN, _AWAY = 1000.0, 4.0, 1.0, 0.6
# Past this many faces (a crowd) labels are not searched for over the whole
# image, only near their faces: the search grows with the square of the faces.
_CROWD = 64


def place_labels(boxes: Sequence[Box], sizes: Sequence[tuple[int, int]], image_size: tuple[int, int]) -> list[Rect]:
    """Where to draw each face's label: one rectangle ``(x, y, w, h)`` per
    box, for labels of ``sizes`` (width, height) on an image of
    ``image_size`` (width, height).

    Every rectangle lies inside the image (a label wider or taller than the
    image is cut to it). Labels are placed in order (the first face first),
    each where it covers the least: other labels most of all, then other
    faces' boxes, then its own box, and staying close to its box. Among
    equally good places, above the box comes first, then below, then inside
    its top, then beside it; when nothing near the box is free, places
    further away are tried (anywhere in the image when no place near the
    box is free of labels, except in crowds of more than 64 faces, where
    labels may then overlap). A pure function of its arguments.
    """
    width, height = image_size
    # the boxes as drawn, in whole pixels
    own = np.array([[round(b.x), round(b.y), round(b.x + b.w), round(b.y + b.h)] for b in boxes],
                   dtype=np.float64).reshape(-1, 4)
    placed: list[Rect] = []
    for i, (tw, th) in enumerate(sizes):
        tw, th = max(1, min(int(tw), width)), max(1, min(int(th), height))
        others = np.delete(own, i, axis=0)
        done = np.array([[x, y, x + w, y + h] for x, y, w, h in placed], dtype=np.float64).reshape(-1, 4)
        cand = _near(own[i], tw, th, width, height)
        cost, on_labels = _costs(cand, own[i], others, done, tw, th)
        if on_labels[int(np.argmin(cost))] and len(boxes) <= _CROWD:  # nothing near is free: look everywhere
            cand = np.concatenate([cand, _grid(tw, th, width, height)])
            cost, _ = _costs(cand, own[i], others, done, tw, th)
        best = int(np.argmin(cost))  # the first of equal costs: candidates come in order of preference
        placed.append((int(cand[best, 0]), int(cand[best, 1]), tw, th))
    return placed


def _costs(cand: np.ndarray, box: np.ndarray, others: np.ndarray, done: np.ndarray, tw: int,
           th: int) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's cost, and whether it covers a placed label."""
    x0, y0 = cand[:, 0], cand[:, 1]
    x1, y1 = x0 + tw, y0 + th
    # only the faces and labels that reach the candidates' area can be covered
    area = (x0.min(), y0.min(), x1.max(), y1.max())
    others, done = _reaching(others, area), _reaching(done, area)
    cost = _COVER_OWN * _overlap(x0, y0, x1, y1, box[None]).sum(1)
    if len(others):
        cost += _COVER_FACE * _overlap(x0, y0, x1, y1, others).sum(1)
    on_labels = _overlap(x0, y0, x1, y1, done).sum(1) if len(done) else np.zeros(len(cand))
    cost += _COVER_LABEL * on_labels
    bx0, by0, bx1, by1 = box
    gap_x = np.maximum(0.0, np.maximum(bx0 - x1, x0 - bx1))
    gap_y = np.maximum(0.0, np.maximum(by0 - y1, y0 - by1))
    return cost + _AWAY * th * np.hypot(gap_x, gap_y), on_labels > 0


def _near(box: np.ndarray, tw: int, th: int, width: int, height: int) -> np.ndarray:
    """Top-left corners for a ``tw`` x ``th`` label near ``box``, in order of
    preference, moved inside the image."""
    bx0, by0, bx1, by1 = (float(v) for v in box)
    lefts = (bx0, bx1 - tw)  # aligned with the box's left edge, then its right edge
    near = [(x, by0 - th) for x in lefts]                      # above
    near += [(x, by1) for x in lefts]                          # below
    near += [(x, by0) for x in lefts]                          # inside, at the top
    near += [(x, by1 - th) for x in lefts]                     # inside, at the bottom
    near += [(bx0 - tw, by0), (bx1, by0), (bx0 - tw, by1 - th), (bx1, by1 - th)]  # beside
    # further away: rings of growing distance around the box
    far: list[tuple[float, float]] = []
    for step in range(1, 7):
        dy, dx = step * th, step * max(th, tw // 2)
        for y in (by0 - th - dy, by1 + dy):
            far += [(x + sx, y) for x in lefts for sx in (0, -dx, dx)]
        for x in (bx0 - tw - dx, bx1 + dx):
            far += [(x, by0 + sy) for sy in (0, -dy, dy)]
    return _inside(np.array(near + far, dtype=np.float64), tw, th, width, height)


def _grid(tw: int, th: int, width: int, height: int) -> np.ndarray:
    """Top-left corners for a ``tw`` x ``th`` label anywhere in the image."""
    grid = np.stack(np.meshgrid(np.arange(0, width, max(1, tw // 2)), np.arange(0, height, th)), -1).reshape(-1, 2)
    return _inside(grid.astype(np.float64), tw, th, width, height)


def _inside(cand: np.ndarray, tw: int, th: int, width: int, height: int) -> np.ndarray:
    cand[:, 0] = np.clip(np.round(cand[:, 0]), 0, width - tw)
    cand[:, 1] = np.clip(np.round(cand[:, 1]), 0, height - th)
    return cand


def _reaching(rects: np.ndarray, area: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = area
    return rects[(rects[:, 0] < x1) & (rects[:, 2] > x0) & (rects[:, 1] < y1) & (rects[:, 3] > y0)]


def _overlap(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """Overlap area of each candidate (n) with each rectangle (m, as x0 y0
    x1 y1): (n, m)."""
    w = np.minimum(x1[:, None], rects[None, :, 2]) - np.maximum(x0[:, None], rects[None, :, 0])
    h = np.minimum(y1[:, None], rects[None, :, 3]) - np.maximum(y0[:, None], rects[None, :, 1])
    return np.maximum(w, 0.0) * np.maximum(h, 0.0)


def label_style(image_size: tuple[int, int]) -> tuple[float, int]:
    """Font scale and line width for an image of ``image_size`` (width,
    height): text about 1.5% of the longer side high, at least legible."""
    side = max(image_size)
    scale = min(4.0, max(0.4, side / 1300))
    return scale, max(1, round(side / 600))


def label_size(text: str, scale: float, thick: int) -> tuple[int, int]:
    """Width and height of ``text`` drawn as a label (with its padding)."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    pad = max(1, thick)
    return tw + 2 * pad, th + base + 2 * pad


def _fit(text: str, scale: float, thick: int, width: int) -> tuple[str, float]:
    """``text`` and a font scale at which its label fits in ``width``
    pixels: smaller type first, then the text cut short."""
    while label_size(text, scale, thick)[0] > width and scale > 0.3:
        scale *= 0.85
    while label_size(text, scale, thick)[0] > width and len(text) > 1:
        text = text[:-2] + "~" if len(text) > 2 else text[:1]
    return text, scale


def draw_faces(img: Any, faces: Sequence[Face], path: str | Path | None = None,
               labels: Sequence[str] | None = None) -> np.ndarray:
    """The image with each face's box, landmarks and label drawn; saved to
    ``path`` when given.

    Each label starts with the face's number, its index in ``faces`` (the
    number the command line prints), followed by ``labels[i]`` when given.
    Labels sit above their box when there is room, else below or inside,
    never outside the image, avoiding other faces and labels (see
    :func:`place_labels`); type and lines grow with the image.
    """
    if labels is not None and len(labels) != len(faces):
        raise ParameterError(f"labels must give one text per face: {len(labels)} for {len(faces)} faces")
    rgb = imagelib.load(img).copy()
    height, width = rgb.shape[:2]
    scale, thick = label_style((width, height))
    texts, scales = [], []
    for i in range(len(faces)):
        text, s = _fit(f"{i}: {labels[i]}" if labels else str(i), scale, thick, width)
        texts.append(text)
        scales.append(s)
    sizes = [label_size(t, s, thick) for t, s in zip(texts, scales)]
    boxes = [f.box for f in faces]
    for face in faces:
        b = face.box
        cv2.rectangle(rgb, (round(b.x), round(b.y)), (round(b.x + b.w), round(b.y + b.h)), _BOX, thick)
        for (x, y), colour in zip(face.landmarks or (), _MARK_COLOURS):
            cv2.circle(rgb, (round(x), round(y)), thick + 1, colour, -1)
    for face, text, s, (x, y, w, h) in zip(faces, texts, scales, place_labels(boxes, sizes, (width, height))):
        _leader(rgb, face.box, (x, y, w, h), thick)
        cv2.rectangle(rgb, (x, y), (x + w - 1, y + h - 1), _BOX, -1)
        (_, th), _base = cv2.getTextSize(text, _FONT, s, thick)
        pad = max(1, thick)
        cv2.putText(rgb, text, (x + pad, y + pad + th), _FONT, s, (0, 0, 0), thick, cv2.LINE_AA)
    if path is not None:
        save(rgb, path)
    return rgb


def _leader(rgb: np.ndarray, box: Box, rect: Rect, thick: int) -> None:
    """A line from a label placed away from its box to the box."""
    x, y, w, h = rect
    bx = min(max(x + w / 2, box.x), box.x + box.w)
    by = min(max(y + h / 2, box.y), box.y + box.h)
    lx = min(max(bx, x), x + w - 1)
    ly = min(max(by, y), y + h - 1)
    if np.hypot(bx - lx, by - ly) > 2 * thick + 1:
        cv2.line(rgb, (round(lx), round(ly)), (round(bx), round(by)), _BOX, max(1, thick // 2), cv2.LINE_AA)


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
    is_same = np.asarray(same, dtype=bool)
    for k, (label, dist) in enumerate(curves):
        colour = _CURVE_COLOURS[k % len(_CURVE_COLOURS)]
        far, tar = roc(np.asarray(dist), is_same)
        cv2.polylines(canvas, [xy(far, tar)], False, colour, 2, cv2.LINE_AA)
        cv2.putText(canvas, label, (left + 15, h - bottom - 20 - 22 * (len(curves) - 1 - k)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    save(canvas, path)
    return canvas
