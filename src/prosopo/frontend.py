"""The detector front end: which scales and orientations a detector
with landmarks sees an image at, and how the passes are merged.

A CNN detector finds faces within a band of sizes in its own input: SCRFD-500M
finds 97% of LFW faces 24 pixels wide (87% at 20 px, 59% at 16 px) and
faces up to about 250 pixels; YuNet up to about 400. One pass at a fixed
size misses the face of a selfie or a portrait, which fills the frame.
So every image gets

* a *fine* pass, the image shrunk (never enlarged) so its long side is at most
  the detector's ``fine_side``: small and mid-sized faces;
* a *coarse* pass when the fine one saw more than ``coarse_side`` pixels: the
  image shrunk to ``coarse_side``, so a face filling the frame, or cut by its
  border, falls inside the detector's band. (The anonymiser's low-threshold
  points leave it out when the fine view is at most 512 px, where it found
  no face more: ``anonymizer.COARSE_ABOVE``.)

The sizes were chosen by measurement (``benchmarks/realworld.py``). On
renderings of LFW faces, a coarse side of 256 or 320 lets both detectors find
faces up to 130% of the image width, and tight crops whose face overflows
every border, with or without a grey border added (so none is added). On
WIDER-mini's faces of 80 px and more, SCRFD finds 33 of 38 with the fine pass
alone, 34 with a coarse side of 192 or 256, 35 with 320 (YuNet 35 and 36 at
256 and 320); 320 it is, about a ninth of the fine pass's cost.

Where passes find the same face, the finest pass that saw it within the
detector's band (``largest_face`` pixels) gives its box and landmarks: a face
seen larger is localised worse, a face seen smaller has coarser landmarks.
Boxes and landmarks are mapped back to the input image's pixels.

``auto_rotate`` first tries the image turned by 0, 90, 180 and 270 degrees
at the coarse size (at the fine size too when the coarse one finds no face)
and keeps the orientation whose best face scores highest: a turned face is
often found, but with its landmarks in the wrong places, so "no face found"
is not the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .types import Box, Face, box_rows, iou_matrix

MERGE_IOU = 0.4


@dataclass(frozen=True)
class Pass:
    """One look at the image: shrunk to ``scale`` and turned ``quarter_turns``
    times counter-clockwise."""

    scale: float
    quarter_turns: int = 0


def plan(height: int, width: int, fine_side: int, coarse_side: int, quarter_turns: int = 0) -> list[Pass]:
    """The passes for an image of this size (see the module docstring)."""
    long_side = max(height, width)
    fine = min(1.0, fine_side / long_side)
    passes = [Pass(fine, quarter_turns)]
    if long_side * fine > coarse_side:
        passes.append(Pass(coarse_side / long_side, quarter_turns))
    return passes


def render(rgb: np.ndarray, p: Pass) -> tuple[np.ndarray, np.ndarray]:
    """The detector's input for pass ``p`` and the 2x3 map from it back to
    ``rgb``'s pixels."""
    h, w = rgb.shape[:2]
    out = rgb
    if p.scale != 1.0:
        size = (max(1, round(w * p.scale)), max(1, round(h * p.scale)))
        # shrunk to half or less: each pixel the average of those it covers.
        # Less than that, bilinear interpolation skips none of them, and
        # OpenCV's averaging is slow off whole ratios (640x360 to 512x288:
        # 0.47 ms against 0.10; that view to 320 px: 0.50 against 0.09)
        out = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if p.scale <= 0.5 else cv2.INTER_LINEAR)
    sh, sw = out.shape[:2]
    # forward map image -> detector input, as a 3x3 matrix
    fwd = np.diag([sw / w, sh / h, 1.0])
    q = p.quarter_turns % 4
    if q:
        out = np.ascontiguousarray(np.rot90(out, q))
        turn = {1: [[0, 1, 0], [-1, 0, sw - 1]], 2: [[-1, 0, sw - 1], [0, -1, sh - 1]],
                3: [[0, -1, sh - 1], [1, 0, 0]]}[q]
        fwd = np.vstack([np.array(turn, np.float64), [0, 0, 1]]) @ fwd
    return out, np.linalg.inv(fwd)[:2]


def map_faces(faces: list[Face], m: np.ndarray) -> list[Face]:
    """``faces`` carried by the similarity map ``m`` (2x3), all at once:
    landmarks exactly; each box keeps its size about its mapped centre (the
    hull when the map turns by a multiple of 90 degrees, which swaps width
    and height)."""
    if not faces:
        return []
    boxes = box_rows([f.box for f in faces])
    k = float(np.hypot(m[0, 0], m[1, 0]))
    centres = (boxes[:, :2] + boxes[:, 2:] / 2) @ m[:, :2].T + m[:, 2]
    sizes = boxes[:, 2:] * k
    if abs(m[0, 0]) < 1e-9:  # a quarter turn
        sizes = sizes[:, ::-1]
    corners = np.hstack([centres - sizes / 2, sizes]).tolist()
    marked = [i for i, f in enumerate(faces) if f.landmarks]
    points: list[Any] = [None] * len(faces)
    if marked:
        mapped = np.array([faces[i].landmarks for i in marked], np.float64) @ m[:, :2].T + m[:, 2]
        for i, pts in zip(marked, mapped.tolist()):
            points[i] = tuple(map(tuple, pts))
    return [Face(Box(*c), f.score, p, f.is_real, f.spoof_score) for f, c, p in zip(faces, corners, points)]


def run(backend, rgb: np.ndarray, p: Pass, score_threshold: float | None = None) -> list[Face]:
    """Faces of one pass, in ``rgb``'s pixels, scoring at least
    ``score_threshold`` (None: the backend's own threshold)."""
    return _faces(backend, *render(rgb, p), score_threshold)


def _faces(backend, view: np.ndarray, back: np.ndarray, score_threshold: float | None) -> list[Face]:
    return map_faces(backend.detect(view, score_threshold), back)


def _then(first: np.ndarray, back: np.ndarray) -> np.ndarray:
    """The 2x3 map ``back`` applied after ``first``."""
    return np.hstack([back[:, :2] @ first[:, :2], back[:, :2] @ first[:, 2:] + back[:, 2:]])


def _fine_then_coarse(backend, rgb: np.ndarray, fine: Pass, coarse: Pass,
                      thresholds: tuple[float | None, float | None]) -> list[tuple[Pass, list[Face]]]:
    """Both upright passes, the coarse view shrunk from the fine one rather
    than from ``rgb``: the same picture for less work (a 1080p frame to 320
    px: 4.8 ms from the frame, 1.9 ms from its 960-px fine view)."""
    view, back = render(rgb, fine)
    small, small_back = render(view, Pass(coarse.scale / fine.scale))
    return [(fine, _faces(backend, view, back, thresholds[0])),
            (coarse, _faces(backend, small, _then(small_back, back), thresholds[1]))]


def merge(passes: list[tuple[Pass, list[Face]]], largest_face: float, iou: float = MERGE_IOU) -> list[Face]:
    """One face per place: among overlapping faces, the one from the finest
    pass that saw it no larger than ``largest_face`` detector pixels (or, if
    every pass saw it larger, from the coarsest)."""
    ranked = []
    for p, faces in passes:
        for f in faces:
            in_band = max(f.box.w, f.box.h) * p.scale <= largest_face
            ranked.append(((in_band, p.scale if in_band else -p.scale, f.score), f))
    ranked.sort(key=lambda item: item[0], reverse=True)
    return suppress([f for _, f in ranked], iou)


def suppress(faces: list[Face], iou: float) -> list[Face]:
    """``faces`` (in order of preference) without those that overlap a face
    kept before them by ``iou`` or more."""
    boxes = box_rows([f.box for f in faces])
    overlap = iou_matrix(boxes, boxes)
    covered = np.zeros(len(faces), bool)
    kept: list[Face] = []
    for i, f in enumerate(faces):
        if not covered[i]:
            kept.append(f)
            covered |= overlap[i] >= iou
    return kept


def detect(backend, rgb: np.ndarray, *, auto_rotate: bool = False, score_threshold: float | None = None,
           fine_side: int | None = None, coarse: bool = True) -> list[Face]:
    """Every face ``backend`` finds in ``rgb`` over the passes of :func:`plan`
    (the fine one alone with ``coarse=False``).

    ``score_threshold`` and ``fine_side`` replace the backend's own for this
    call (None: keep them), so one loaded model serves several operating
    points at once. The threshold is the fine pass's; the coarse pass never
    goes below the backend's own: the faces it is there for, those filling
    the frame, score high, and a lower threshold there only adds large false
    boxes (SCRFD on WIDER-mini, fine pass at 640 px and 0.1: 6.6% of the
    image wrongly masked instead of 3.2%, and no face more found)."""
    h, w = rgb.shape[:2]
    fine_side = fine_side or backend.fine_side
    thresholds = _thresholds(backend, score_threshold)
    turns, done = upright(backend, rgb, thresholds, fine_side) if auto_rotate else (0, {})
    passes = plan(h, w, fine_side, backend.coarse_side, turns)[:None if coarse else 1]
    if len(passes) == 2 and turns == 0 and not done:
        found = _fine_then_coarse(backend, rgb, passes[0], passes[1], thresholds)
    else:
        found = [(p, done[p] if p in done else run(backend, rgb, p, thresholds[i > 0]))
                 for i, p in enumerate(passes)]
    if len(found) == 1:
        return found[0][1]
    return merge(found, backend.largest_face)


def _thresholds(backend, score_threshold: float | None) -> tuple[float | None, float | None]:
    """The score thresholds of the fine and the coarse pass (None: the
    backend's own)."""
    if score_threshold is None:
        return None, None
    return score_threshold, max(score_threshold, backend.score_threshold)


def upright(backend, rgb: np.ndarray, thresholds: tuple[float | None, float | None] = (None, None),
            fine_side: int | None = None) -> tuple[int, dict[Pass, list[Face]]]:
    """How many quarter turns put the faces of ``rgb`` upright (the turn
    whose best face scores highest; 0 when no turn shows a face), and the
    passes run to find out, with their faces, for :func:`detect` to reuse.
    ``thresholds``: the fine and the coarse pass's score thresholds."""
    long_side = max(rgb.shape[:2])
    fine = min(1.0, (fine_side or backend.fine_side) / long_side)
    done: dict[Pass, list[Face]] = {}
    for side in (backend.coarse_side, fine_side or backend.fine_side):
        scale = min(1.0, side / long_side)
        threshold = thresholds[scale != fine]
        for q in range(4):
            done[Pass(scale, q)] = run(backend, rgb, Pass(scale, q), threshold)
        scores = [max((f.score for f in done[Pass(scale, q)]), default=0.0) for q in range(4)]
        if max(scores) > 0:
            return int(np.argmax(scores)), done
        if scale == 1.0:
            break
    return 0, done
