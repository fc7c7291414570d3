"""Anonymising a video file: every tracked face masked in every frame
(:func:`prosopo.video` with ``anonymize``), written at the source's frame
rate and size.

The output has no audio track: OpenCV writes pictures only, so voices (and
any other sound) are dropped as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..defaults import DEFAULT_DETECTOR
from ..runtime.opencv_threads import serial_opencv
from .stream import VideoStats, video
from .writer import VideoWriter, check_not_source, check_video_path

# containers recognised as video input (by suffix; see is_video for content)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".webm", ".mkv", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a video, by its first bytes (MP4/QuickTime,
    AVI, Matroska/WebM, MPEG), else by its suffix."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ") or head[:4] == b"\x1aE\xdf\xa3" \
            or head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return True
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def anonymize_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    mode: str = "blur",
    detector: str = DEFAULT_DETECTOR,
    recall: Any = True,
    expand: float = 1.0,
    keep: Any = None,
    keep_mode: str = "except",
    threshold: float | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VideoStats:
    """Mask every face of the video ``src`` and write it to ``dst`` (codec by
    extension: see :data:`~prosopo.streams.writer.CODECS`), same frame rate
    and size; no audio. Options as in :func:`prosopo.anonymize`: ``keep`` a
    Gallery whose people stay visible (``keep_mode="except"``) or are the
    only ones masked (``"only"``). A frame the source cannot decode is
    replaced by the one before it. ``progress(frames done, frames in the
    file or 0)`` after each frame. Returns the stream's statistics. While
    it runs, OpenCV's own thread pool is off in the whole process
    (:func:`~prosopo.runtime.opencv_threads.serial_opencv`): this job's
    threads keep the cores busy."""
    target = check_video_path(dst)
    check_not_source(target, src)
    with serial_opencv():  # before the stream's threads start
        stream = video(src, keep, detector=detector, threshold=threshold, anonymize=mode, expand=expand,
                       recall=recall, keep_mode=keep_mode if keep is not None else None, reid=keep is not None)
        total = getattr(stream.source, "frame_count", 0)
        with stream, VideoWriter(target, stream.fps) as out:  # the stream closed if the writer fails
            for result in stream:
                assert result.frame is not None  # anonymize keeps the frames
                out.write(result.frame, result.index)
                if progress is not None:
                    progress(result.index + 1, total)
    return stream.stats
