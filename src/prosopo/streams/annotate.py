"""Annotated video: each frame with its tracks' boxes, ids, names and
attributes drawn, labels placed as :func:`prosopo.draw.draw_faces` places
them (:func:`prosopo.draw.place_labels`).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from .. import draw
from ..errors import ParameterError
from .stream import FrameResult, TrackedFace, VideoStream
from .writer import VideoWriter, check_not_source

DETECTED = (0, 255, 0)  # RGB: a box detected in this frame
PREDICTED = (255, 190, 0)  # a box the tracker predicted (no detection this frame)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def track_label(t: TrackedFace) -> str:
    """``#id``, then the name and the attributes' gist when known:
    ``"#3 Ada 34y female happy"``."""
    parts = [f"#{t.track_id}"]
    if t.identity:
        parts.append(t.identity)
    a = t.attributes or {}
    if "age" in a:
        parts.append(f"{a['age']:.0f}y")
    parts += [a[k] for k in ("dominant_gender", "dominant_emotion") if a.get(k)]
    return " ".join(parts)


def annotate(result: FrameResult) -> np.ndarray:
    """A copy of ``result.frame`` with each track's box (green when detected
    in this frame, amber when predicted) and label (:func:`track_label`).
    The stream must keep its frames (``video(..., keep_frames=True)``)."""
    rgb = _pixels(result).copy()
    draw_tracks(rgb, result)
    return rgb


def draw_tracks(img: np.ndarray, result: FrameResult, *, bgr: bool = False) -> None:
    """Draw ``result``'s tracks as :func:`annotate` does, on ``img`` (a
    frame the size of ``result.frame``, in BGR order with ``bgr=True``)."""
    height, width = img.shape[:2]
    scale, thick = draw.label_style((width, height))
    texts = [track_label(t) for t in result.tracks]
    sizes = [draw.label_size(text, scale, thick) for text in texts]
    detected, predicted = (DETECTED[::-1], PREDICTED[::-1]) if bgr else (DETECTED, PREDICTED)
    for t in result.tracks:
        b = t.box
        cv2.rectangle(img, (round(b.x), round(b.y)), (round(b.x + b.w), round(b.y + b.h)),
                      detected if t.detected else predicted, thick if t.detected else max(1, thick // 2))
    places = draw.place_labels([t.box for t in result.tracks], sizes, (width, height))
    pad = max(1, thick)
    for t, text, (x, y, w, h) in zip(result.tracks, texts, places):
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), detected if t.detected else predicted, -1)
        (_, th), _ = cv2.getTextSize(text, _FONT, scale, thick)
        cv2.putText(img, text, (x + pad, y + pad + th), _FONT, scale, (0, 0, 0), thick, cv2.LINE_AA)


def write_frame(out: VideoWriter, result: FrameResult) -> None:
    """Append ``result``'s frame to ``out`` with its tracks drawn (as
    :func:`annotate`), the drawing done in ``out``'s encoding thread."""
    out.write(_pixels(result), result.index, partial(draw_tracks, result=result, bgr=True))


def _pixels(result: FrameResult) -> np.ndarray:
    if result.frame is None:
        raise ParameterError("this frame's pixels were not kept: make the stream with "
                             "prosopo.video(..., keep_frames=True)")
    return result.frame


def write_annotated(stream: VideoStream, path: str | os.PathLike[str]) -> VideoWriter:
    """Run ``stream`` to its end, writing each frame annotated
    (:func:`annotate`) to the video ``path`` (its extension picks the codec,
    see :data:`~prosopo.streams.writer.CODECS`) at the stream's frame rate
    and size; returns the closed writer (``frames`` written). A frame the
    source could not decode is replaced by the one before it. No audio.

    >>> stream = prosopo.video("in.mp4", gallery, keep_frames=True)   # doctest: +SKIP
    >>> write_annotated(stream, "annotated.mp4").frames                # doctest: +SKIP
    """
    if not stream.keep_frames:
        raise ParameterError("write_annotated needs the frames: make the stream with "
                             "prosopo.video(..., keep_frames=True)")
    check_not_source(Path(path), getattr(stream.source, "path", None))
    with VideoWriter(Path(path), stream.fps) as out, stream:
        for result in stream:
            write_frame(out, result)
    return out
