"""Detection near the tracks: between two detections of the whole frame, the
detector looks only where the tracker expects its faces.

Each expected box gets a square window, ``WINDOW`` times its longer side,
centred on it and shrunk (or enlarged) to a ``TILE``-pixel tile, so the face
lands near the middle of the detector's band whatever its size in the frame.
The tiles are laid side by side on one canvas and the detector runs once on
it: ten faces of a 1080p crowd cost one 384x384 input instead of the 960x540
and 320x180 views of the whole frame. A face is kept from the tile its
centre lies in, when the tile's border does not cut it; faces found by two
overlapping windows are merged. Faces that no track expects are not looked
for: the whole-frame detections (``video(every=...)``) find those.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from ..frontend import suppress
from ..types import Box, Face

TILE = 96  # detector pixels a side; a multiple of the detector's largest stride (32)
WINDOW = 2.0  # a window's side, in the expected box's longer side
MAX_SCALE = 3.0  # a tiny face is enlarged at most this much
CUT = 0.15  # a face reaching this far (of its size) past its tile's border is cut: dropped
MERGE_IOU = 0.5
# beyond this many tracks the whole frame is detected instead: 48 tiles (8x6,
# 512x384) are about the pixels of a 1080p frame's 960x540 view
MAX_TILES = 48


def canvas_size(count: int) -> tuple[int, int]:
    """Height and width of the canvas for ``count`` tiles, as square as it gets."""
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    return rows * TILE, cols * TILE


def detect_near(backend, rgb: np.ndarray, boxes: Sequence[Box], score_threshold: float | None = None) -> list[Face]:
    """The faces ``backend`` finds in windows around ``boxes`` (see the
    module docstring), in ``rgb``'s pixels."""
    if not boxes:
        return []
    height, width = rgb.shape[:2]
    rows_px, cols_px = canvas_size(len(boxes))
    cols = cols_px // TILE
    canvas = np.zeros((rows_px, cols_px, 3), np.uint8)
    canvas[:] = 128  # the detector's zero after its normalisation, as its own padding
    maps: list[tuple[float, float, float, float] | None] = []  # per tile: tile pixel -> frame, x = a + u * k
    for i, b in enumerate(boxes):
        side = max(b.w, b.h) * WINDOW
        scale = min(TILE / max(side, 1.0), MAX_SCALE)
        span = TILE / scale  # the window's side in frame pixels
        x0, y0 = b.x + b.w / 2 - span / 2, b.y + b.h / 2 - span / 2
        # the part of the window inside the frame, and where it goes in the tile
        fx0, fy0 = max(0, math.floor(x0)), max(0, math.floor(y0))
        fx1, fy1 = min(width, math.ceil(x0 + span)), min(height, math.ceil(y0 + span))
        tx0, ty0 = max(0, round((fx0 - x0) * scale)), max(0, round((fy0 - y0) * scale))
        tw, th = min(TILE - tx0, round((fx1 - fx0) * scale)), min(TILE - ty0, round((fy1 - fy0) * scale))
        if tw < 2 or th < 2:  # the window left the frame
            maps.append(None)
            continue
        patch = cv2.resize(rgb[fy0:fy1, fx0:fx1], (tw, th),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        r, c = divmod(i, cols)
        canvas[r * TILE + ty0:r * TILE + ty0 + th, c * TILE + tx0:c * TILE + tx0 + tw] = patch
        kx, ky = (fx1 - fx0) / tw, (fy1 - fy0) / th
        maps.append((fx0 - (c * TILE + tx0) * kx, fy0 - (r * TILE + ty0) * ky, kx, ky))
    found = []
    for face in backend.detect(canvas, score_threshold):
        b = face.box
        r, c = int((b.y + b.h / 2) // TILE), int((b.x + b.w / 2) // TILE)
        i = r * cols + c
        if i >= len(boxes):
            continue
        left, top = c * TILE, r * TILE
        slack_x, slack_y = CUT * b.w, CUT * b.h
        if (b.x < left - slack_x or b.y < top - slack_y or b.x + b.w > left + TILE + slack_x
                or b.y + b.h > top + TILE + slack_y):
            continue
        to_frame = maps[i]
        if to_frame is not None:
            found.append(_mapped(face, *to_frame))
    return _merged(found)


def _mapped(face: Face, ax: float, ay: float, kx: float, ky: float) -> Face:
    """``face`` from canvas pixels to the frame's: x = ax + u * kx, y = ay + v * ky."""
    b = face.box
    box = Box(float(ax + b.x * kx), float(ay + b.y * ky), float(b.w * kx), float(b.h * ky))
    points = None
    if face.landmarks:
        points = tuple((float(ax + x * kx), float(ay + y * ky)) for x, y in face.landmarks)
    return Face(box, face.score, points)


def _merged(faces: list[Face]) -> list[Face]:
    """One face per place, the highest scoring."""
    if len(faces) < 2:
        return faces
    return suppress(sorted(faces, key=lambda f: f.score, reverse=True), MERGE_IOU)
