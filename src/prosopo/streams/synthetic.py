"""A synthetic clip whose truth is known: photographs of faces pasted on a
background, moving across it, crossing, one passing behind another, one
leaving the frame and coming back. For tracking metrics (see
:mod:`prosopo.streams.metrics`) and identification latency.

The true face box of each photograph is found once by the detector on the
photograph alone, then moved with the photograph; a face partly hidden (by
another photograph or the frame's edge) is *ignored* in the metrics between
``HIDDEN`` and ``VISIBLE`` of it in view, and absent below ``HIDDEN``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..defaults import DEFAULT_DETECTOR
from ..errors import NoFaceError, ParameterError
from ..types import Box

VISIBLE = 0.7
HIDDEN = 0.3
# the crop of a 250x250 LFW photograph pasted (rows, columns), and its size in the clip
CROP = (slice(45, 205), slice(45, 205))


@dataclass(frozen=True, eq=False)
class SyntheticClip:
    """``frames`` (RGB uint8); ``truth`` per frame: ``(person, box, ignore)``;
    ``people`` in the order of their parts (see :func:`synthetic_clip`)."""

    frames: list[np.ndarray]
    truth: list[list[tuple[str, Box, bool]]]
    people: tuple[str, ...]
    fps: float


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([90 + 60 * xx / width, 110 + 40 * yy / height, 140 - 50 * xx / width], axis=2)
    for _ in range(12):  # soft blobs, so that the background is not flat
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 80)
        colour = rng.uniform(-50, 50, 3)
        base += colour * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[:, :, None]
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def _paths(t: np.ndarray, width: int, height: int, sprite: int) -> list[list[tuple[float, float] | None]]:
    """Top-left corner of each photograph per frame (None: not drawn).
    Part 0 crosses left to right; part 1 right to left, passing behind 0;
    part 2 leaves on the right and comes back; part 3 moves slowly below."""
    p0: list[tuple[float, float] | None] = [(-0.2 * sprite + (width + 0.1 * sprite) * f, 0.12 * height + 10 * np.sin(6 * f)) for f in t]
    p1: list[tuple[float, float] | None] = [(width - 0.8 * sprite - (width - 0.6 * sprite) * f, 0.2 * height) for f in t]
    p2: list[tuple[float, float] | None] = []
    for f in t:
        if f < 0.35:
            p2.append((0.62 * width + (0.45 * width) * f / 0.35, 0.02 * height))
        elif f < 0.6:
            p2.append(None)  # out of the frame
        else:
            p2.append((width - (0.35 * width) * (f - 0.6) / 0.4, 0.02 * height))
    p3: list[tuple[float, float] | None] = [(0.05 * width + 0.25 * width * f, height - 1.05 * sprite) for f in t]
    return [p0, p1, p2, p3]


def synthetic_clip(photos: Sequence[tuple[str, str | os.PathLike[str]]], *, width: int = 640, height: int = 360,
                   frames: int = 100, fps: float = 25.0, sprite: int = 120, seed: int = 0,
                   detector: str = DEFAULT_DETECTOR) -> SyntheticClip:
    """A clip of ``frames`` frames of four people (``photos``: four
    ``(name, LFW photograph path)``); see :func:`_paths` for their parts.
    Drawn bottom to top: 3, 1, 0, 2 (so 0 passes in front of 1)."""
    import cv2

    from ..image import load
    from ..pipeline import find_faces

    if len(photos) != 4:
        raise ParameterError(f"the clip has parts for 4 people, got {len(photos)} photographs")
    rng = np.random.default_rng(seed)
    background = _background(width, height, rng)
    sprites, faces = [], []
    for name, path in photos:
        rgb = load(path)[CROP]
        img = cv2.resize(np.ascontiguousarray(rgb), (sprite, sprite), interpolation=cv2.INTER_AREA)
        found = find_faces(img, detector, max_faces=1)
        if not found:
            raise NoFaceError(f"no face found in {path} for the synthetic clip")
        sprites.append(img)
        faces.append(found[0].box)
    t = np.linspace(0.0, 1.0, frames)
    paths = _paths(t, width, height, sprite)
    order = [3, 1, 0, 2]
    clip_frames: list[np.ndarray] = []
    truth: list[list[tuple[str, Box, bool]]] = []
    for k in range(frames):
        canvas = background.copy()
        cover = np.full((height, width), -1, dtype=np.int8)  # which part is on top at each pixel
        for part in order:
            at = paths[part][k]
            if at is None:
                continue
            x, y = round(at[0]), round(at[1])
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + sprite, width), min(y + sprite, height)
            if x1 <= x0 or y1 <= y0:
                continue
            canvas[y0:y1, x0:x1] = sprites[part][y0 - y:y1 - y, x0 - x:x1 - x]
            cover[y0:y1, x0:x1] = part
        objects: list[tuple[str, Box, bool]] = []
        for part in range(4):
            at = paths[part][k]
            if at is None:
                continue
            fb = faces[part]
            box = Box(at[0] + fb.x, at[1] + fb.y, fb.w, fb.h)
            bx0, by0 = round(box.x), round(box.y)
            bx1, by1 = round(box.x + box.w), round(box.y + box.h)
            inside = cover[max(by0, 0):max(min(by1, height), 0), max(bx0, 0):max(min(bx1, width), 0)]
            seen = float((inside == part).sum()) / max(box.w * box.h, 1.0)
            if seen < HIDDEN:
                continue
            cx0, cy0 = max(box.x, 0.0), max(box.y, 0.0)
            clipped = Box(cx0, cy0, min(box.x + box.w, width) - cx0, min(box.y + box.h, height) - cy0)
            objects.append((photos[part][0], clipped, seen < VISIBLE))
        clip_frames.append(canvas)
        truth.append(objects)
    return SyntheticClip(clip_frames, truth, tuple(name for name, _ in photos), float(fps))
