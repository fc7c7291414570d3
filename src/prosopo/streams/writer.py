"""Writing video files with OpenCV.

OpenCV's pip wheel has no H.264 encoder, so each container gets a codec
the wheel does write (checked by writing and reading back in the tests):
``.mp4`` MPEG-4 Part 2 (``mp4v``), ``.avi`` Motion JPEG (``MJPG``),
``.webm`` VP8 (``VP80``). OpenCV writes pictures only: the output has no
audio track, whatever the source had.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

from ..errors import ParameterError

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".webm": "VP80"}
# queued for the encoding thread: a frame (the writer's own BGR copy), what to
# draw on it, and how many times to write the frame before it first (frames skipped)
_Item = tuple[np.ndarray, Callable[[np.ndarray], None] | None, int]


def check_video_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if a video can be written there (an extension of
    :data:`CODECS`, in an existing folder that may be written), else a
    :class:`ParameterError` naming it: checked before a long run, not after."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in CODECS:
        raise ParameterError(f"cannot write {path}: unsupported video extension {ext or '(none)'!r}; use one of "
                             + ", ".join(f"{e} ({c})" for e, c in CODECS.items()))
    if not path.parent.is_dir():
        raise ParameterError(f"cannot write {path}: no such folder {str(path.parent)!r}")
    if path.is_dir():
        raise ParameterError(f"cannot write {path}: it is a folder")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise ParameterError(f"cannot write {path}: permission denied")
    return path


def check_not_source(out: Path, source: Any) -> None:
    """A :class:`ParameterError` when ``out`` is the video file ``source``
    (a path; also through a link): writing would destroy it while it is
    read."""
    if not isinstance(source, (str, os.PathLike)) or not out.exists():
        return
    try:
        same = os.path.samefile(out, source)
    except OSError:
        return
    if same:
        raise ParameterError(f"the output {out} must not be the input video")


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the C-level stderr while OpenCV opens a writer: its FFmpeg
    backend prints a line about the codec tag of every .webm file, which is
    written correctly all the same."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class VideoWriter:
    """Writes RGB frames to a video file at ``fps``, the codec chosen by the
    extension (:data:`CODECS`). The file is opened at the first frame, whose
    size every frame must have; an odd width or height is padded by one
    pixel (the codecs store even sizes). Frames are encoded by a thread a
    few frames behind the caller (OpenCV releases the GIL while it
    encodes), so encoding overlaps the work on the next frame; :meth:`close`
    waits for the last. :meth:`write` with the frame's
    ``index`` repeats the previous frame for indices skipped (frames the
    source could not decode), so the output keeps the source's timing.

    >>> with VideoWriter("out.mp4", 25.0) as out:      # doctest: +SKIP
    ...     for frame in frames:
    ...         out.write(frame)
    """

    def __init__(self, path: str | os.PathLike[str], fps: float):
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps < 1000:
            raise ParameterError(f"fps must be a positive number below 1000, got {fps!r}")
        self.path = check_video_path(path)
        self.fps = float(fps)
        self.size: tuple[int, int] | None = None  # width, height of the frames given
        self.frames = 0  # frames written, repeats included
        self._writer: cv2.VideoWriter | None = None
        self._next_index = 0
        self._queue: queue.Queue[_Item | None] = queue.Queue(3)
        self._thread: threading.Thread | None = None
        self._failure: list[BaseException] = []  # what stopped the encoding thread, if anything
        self._finalizer: weakref.finalize | None = None
        self._closed = False

    def _open(self, width: int, height: int) -> cv2.VideoWriter:
        fourcc = cv2.VideoWriter.fourcc(*CODECS[self.path.suffix.lower()])
        with _quiet_stderr():
            writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width + width % 2, height + height % 2))
        if not writer.isOpened():
            raise ParameterError(f"cannot write {self.path}: OpenCV could not open it for writing")
        return writer

    def write(self, rgb: np.ndarray, index: int | None = None,
              overlay: Callable[[np.ndarray], None] | None = None) -> None:
        """Append ``rgb`` (H x W x 3, uint8); with ``index``, first repeat
        the previous frame for each index skipped since it. ``overlay``
        draws on the frame's BGR copy, in the encoding thread (so drawing
        too overlaps the caller's work on the next frame); ``rgb`` itself is
        copied at once and may change after the call."""
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ParameterError("frames to write are RGB uint8 arrays of shape (H, W, 3), got "
                                 + (f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__))
        if self._closed:
            raise ParameterError(f"{self.path} is closed: open a new VideoWriter to write again")
        height, width = rgb.shape[:2]
        if self._writer is None or self.size is None:
            self._writer = self._open(width, height)
            self.size = (width, height)
            self._thread = threading.Thread(target=self._encode, args=(self._writer, self._queue, self._failure),
                                            name="prosopo-video-write", daemon=True)
            self._thread.start()
            # a writer dropped without close() still ends its thread and finishes its file
            self._finalizer = weakref.finalize(self, self._queue.put, None)
        elif self.size != (width, height):
            first_width, first_height = self.size
            raise ParameterError(f"every frame of {self.path} must be {first_width}x{first_height} as the first, "
                                 f"got {width}x{height}")
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # 0.4 ms at 1080p, numpy's [..., ::-1] copy 13 ms
        if width % 2 or height % 2:
            bgr = cv2.copyMakeBorder(bgr, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
        # frames the source could not decode: the one before again (the first, if none came before)
        skipped = 0 if index is None else max(0, index - self._next_index)
        self._put((bgr, overlay, skipped))
        self.frames += skipped + 1
        self._next_index = (self._next_index if index is None else index) + 1

    def _put(self, item: _Item) -> None:
        while True:
            if self._failure:
                raise ParameterError(f"cannot write {self.path}: {self._failure[0]}")
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    @staticmethod
    def _encode(writer: cv2.VideoWriter, items: queue.Queue[_Item | None], failure: list[BaseException]) -> None:
        last: np.ndarray | None = None  # the frame written last, as written
        try:
            while (item := items.get()) is not None:
                bgr, overlay, skipped = item
                if overlay is not None:
                    overlay(bgr)
                for _ in range(skipped):
                    writer.write(last if last is not None else bgr)
                writer.write(bgr)
                last = bgr
        except Exception as exc:  # noqa: BLE001 - reported by the next write() or close()
            failure.append(exc)
            while items.get() is not None:  # let the caller's puts through until close
                pass

    def close(self) -> None:
        """Finish the file: the frames still queued are encoded first (safe
        to call twice)."""
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._failure:
            raise ParameterError(f"cannot write {self.path}: {self._failure[0]}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
