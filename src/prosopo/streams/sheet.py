"""Best shots and contact sheets: one thumbnail per track, of its best view
(the best by :func:`prosopo.quality.assess`), cut when that view is taken,
and a grid of them labelled with track id and name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import draw
from ..errors import ParameterError
from ..types import Box

THUMB = 112  # thumbnail side, pixels
CONTEXT = 1.6  # the square cut around a face, times the longer side of its box
COLUMNS = 8
_INK, _PAPER = (0, 0, 0), (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True, eq=False)
class BestShot:
    """A track's best view: the frame it was seen in, its box there, its
    quality, ``image`` (an RGB thumbnail :data:`THUMB` pixels square), and
    the track's identity and attributes when the shot was taken or the
    track ended."""

    track_id: int
    frame: int
    box: Box
    quality: float
    image: np.ndarray
    identity: str | None = None
    attributes: dict[str, Any] | None = None


def thumbnail(rgb: np.ndarray, box: Box, size: int = THUMB) -> np.ndarray:
    """A ``size`` square thumbnail of the face ``box`` in ``rgb``, centred on
    it with some context; black where the square leaves the frame."""
    side = max(box.w, box.h) * CONTEXT
    cx, cy = box.center
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    n = max(1, round(side))
    h, w = rgb.shape[:2]
    square = np.zeros((n, n, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + n, w), min(y0 + n, h)
    if sx1 > sx0 and sy1 > sy0:
        square[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if n > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def _caption(shot: BestShot) -> tuple[str, str]:
    return f"#{shot.track_id}", shot.identity or "unknown"


def contact_sheet(shots: Sequence[BestShot], *, columns: int = COLUMNS) -> np.ndarray:
    """The thumbnails of ``shots`` in a grid of ``columns``, each captioned
    with its track id and name ("unknown" when not named); an RGB image.
    No shot gives a single empty cell captioned "no faces"."""
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ParameterError(f"columns must be a positive integer, got {columns!r}")
    size = shots[0].image.shape[0] if shots else THUMB
    scale, line = 0.4, 16
    cell_h = size + 2 * line + 4
    cols = max(1, min(columns, len(shots)))
    rows = max(1, math.ceil(len(shots) / cols))
    sheet = np.full((rows * cell_h, cols * size, 3), _PAPER, np.uint8)
    if not shots:
        cv2.putText(sheet, "no faces", (8, size // 2), _FONT, scale, _INK, 1, cv2.LINE_AA)
    for k, shot in enumerate(shots):
        x, y = (k % cols) * size, (k // cols) * cell_h
        sheet[y:y + size, x:x + size] = cv2.resize(shot.image, (size, size))
        for n, text in enumerate(_caption(shot)):
            while len(text) > 1 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > size - 4:
                text = text[:-2] + "~"
            cv2.putText(sheet, text, (x + 2, y + size + line * (n + 1) - 3), _FONT, scale, _INK, 1, cv2.LINE_AA)
    return sheet


def write_sheet(shots: Sequence[BestShot], path: str | os.PathLike[str], *, columns: int = COLUMNS) -> np.ndarray:
    """:func:`contact_sheet` of ``shots``, saved to ``path`` (PNG, or JPEG or
    WebP by its extension); a path that cannot be written is a
    :class:`ParameterError` naming it."""
    target = draw.check_writable(Path(path))
    sheet = contact_sheet(shots, columns=columns)
    draw.save(sheet, target)
    return sheet
