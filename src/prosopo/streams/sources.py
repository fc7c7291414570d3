"""Frame sources: a video file, a camera, a network stream or any iterable of
numpy frames, each read as RGB uint8 frames with their index and timestamp.

Reading never hangs: opening a camera or a stream and every read from one
wait at most ``read_timeout`` seconds (an :class:`~prosopo.ImageError` after
that). A frame that cannot be used (undecodable, or an array of the wrong
shape or type) is skipped and counted in :attr:`FrameSource.skipped`, and
the stream goes on; a source that yields no frame at all is an error.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import image as imagelib
from ..errors import ImageError, ParameterError

URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
DEFAULT_FPS = 30.0
# consecutive undecodable frames after which a file is taken to end there
MAX_BAD_RUN = 25


@dataclass(frozen=True, eq=False)
class RawFrame:
    """One frame read from a source: ``rgb`` is None when it was skipped,
    and ``problem`` says why. ``ahead``: what :class:`ReadAhead`'s ``work``
    made of the frame, ahead of the caller, in the reader's pool."""

    index: int
    timestamp: float
    rgb: np.ndarray | None
    problem: str | None = None
    ahead: Any = None


class FrameSource:
    """An iterable of :class:`RawFrame`, read once. ``fps`` is the source's
    frame rate (``DEFAULT_FPS`` when it does not say); ``skipped`` lists
    ``(index, reason)`` of every frame skipped so far; ``frames`` counts the
    frames read, skipped or not."""

    name: str = "video"

    def __init__(self) -> None:
        self.fps = DEFAULT_FPS
        self.skipped: list[tuple[int, str]] = []
        self.frames = 0

    def __iter__(self) -> Iterator[RawFrame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the source (a file or a camera); safe to call twice."""

    def _checked(self, index: int, timestamp: float, frame: Any, bgr: bool) -> RawFrame:
        """``frame`` as an RGB uint8 frame, or a skipped one with its reason."""
        self.frames += 1
        name = f"{self.name} frame {index}"
        try:
            if not isinstance(frame, np.ndarray):
                raise ImageError(f"{name}: expected a numpy array, got {type(frame).__name__}")
            if frame.ndim != 3 or frame.shape[2] not in (3, 4):
                raise ImageError(f"{name}: expected an (H, W, 3) colour frame, got shape {frame.shape}")
            rgb = imagelib.load(frame, bgr=bgr)
        except ImageError as exc:
            self.skipped.append((index, str(exc)))
            return RawFrame(index, timestamp, None, str(exc))
        return RawFrame(index, timestamp, rgb)


class ArraySource(FrameSource):
    """Frames from any iterable of numpy arrays (RGB, or BGR with ``bgr``),
    timestamped at ``fps``."""

    name = "frames"

    def __init__(self, frames: Iterable[Any], *, bgr: bool = False, fps: float | None = None):
        super().__init__()
        self._frames = frames
        self._bgr = bgr
        self.fps = float(fps) if fps else DEFAULT_FPS

    def __iter__(self) -> Iterator[RawFrame]:
        for index, frame in enumerate(self._frames):
            yield self._checked(index, index / self.fps, frame, self._bgr)
        if self.frames == 0:
            raise ImageError("the frames given hold no frame at all")
        if len(self.skipped) == self.frames:
            raise ImageError(f"none of the {self.frames} frames given could be used; the first: "
                             f"{self.skipped[0][1]}")


def _bounded(call: Any, timeout: float, what: str) -> Any:
    """``call()`` run in a daemon thread, waiting at most ``timeout`` seconds
    (OpenCV's camera and network reads can block for ever)."""
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(1)

    def run() -> None:
        try:
            box.put((True, call()))
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
            box.put((False, exc))

    threading.Thread(target=run, name="prosopo-video-read", daemon=True).start()
    try:
        ok, value = box.get(timeout=timeout)
    except queue.Empty:
        raise ImageError(f"{what} did not answer within {timeout:g} s (read_timeout); is it stalled or "
                         "disconnected?") from None
    if not ok:
        raise ImageError(f"{what} failed: {value}") from None
    return value


class CaptureSource(FrameSource):
    """Frames read by OpenCV from a file, a camera index or a stream URL."""

    def __init__(self, target: str | int, *, live: bool, read_timeout: float, fps: float | None = None):
        super().__init__()
        import cv2

        self._cv2 = cv2
        self._live = live
        self.path = None if live else str(target)  # a file's path, else None
        self._timeout = read_timeout
        self.name = f"camera {target}" if isinstance(target, int) else (
            str(target) if live else os.path.basename(str(target)))
        if live:
            cap = _bounded(lambda: cv2.VideoCapture(target), read_timeout, f"opening {self.name}")
        else:
            cap = cv2.VideoCapture(str(target))
        self._cap = cap
        if not cap.isOpened():
            cap.release()
            what = "no camera" if isinstance(target, int) else "cannot open"
            raise ImageError(f"{self.name}: {what} (not a video OpenCV can read, or not there)")
        if not live and int(cap.get(cv2.CAP_PROP_FOURCC) or 0).to_bytes(4, "little") == b"ansi":
            # FFmpeg renders any text file as frames of text (its tty demuxer)
            cap.release()
            raise ImageError(f"{self.name}: not a video (a text file)")
        reported = float(cap.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = float(fps) if fps else (reported if 0 < reported < 1000 else DEFAULT_FPS)
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not live else 0
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        limit = imagelib.get_limits().max_pixels
        if width * height > limit:
            cap.release()
            raise ImageError(f"{self.name}: frames of {width}x{height} = {width * height:,} pixels exceed the limit "
                             f"of {limit:,} pixels (see prosopo.image.set_limits)")

    def _read(self) -> tuple[bool, Any]:
        if self._live:
            return _bounded(self._cap.read, self._timeout, f"reading {self.name}")  # type: ignore[no-any-return]
        return self._cap.read()  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[RawFrame]:
        index = 0
        bad_run = 0
        try:
            while True:
                ok, frame = self._read()
                if not ok or frame is None:
                    # a file may hold an undecodable frame before its end: skip it
                    if self._live or index >= self.frame_count or bad_run >= MAX_BAD_RUN:
                        break
                    bad_run += 1
                    self.frames += 1
                    self.skipped.append((index, "undecodable frame"))
                    yield RawFrame(index, index / self.fps, None, "undecodable frame")
                    index += 1
                    continue
                bad_run = 0
                if self._live:
                    msec = float(self._cap.get(self._cv2.CAP_PROP_POS_MSEC) or 0)
                    timestamp = msec / 1000 if msec > 0 else index / self.fps
                else:
                    timestamp = index / self.fps
                yield self._checked(index, timestamp, frame, True)
                index += 1
        finally:
            self.close()
        if index == 0:
            raise ImageError(f"{self.name}: no frame could be read (an empty, truncated or unreadable video)")
        if len(self.skipped) == self.frames:
            raise ImageError(f"{self.name}: none of its {self.frames} frames could be decoded")

    @property
    def live(self) -> bool:
        """A camera or a network stream (else a file)."""
        return self._live

    def close(self) -> None:
        self._cap.release()


class ReadAhead(Iterator[RawFrame]):
    """The frames of ``source`` read by a thread up to ``depth`` frames ahead
    of the caller, so that decoding the next frame (OpenCV releases the GIL
    while it decodes) overlaps the work on this one. For files: a camera's
    frames are taken as they come. ``work``, if given, runs on each usable
    frame's pixels in a pool of ``workers`` threads, several frames at once,
    its result in ``RawFrame.ahead``, the frames still in order (an error it
    raises ends the frames, raised in the caller's thread); it must not hold
    this object or its owner, which would then never be collected. The
    threads start at the first frame asked for and end with the source, at
    :meth:`stop`, or when this object is garbage-collected."""

    def __init__(self, source: FrameSource, depth: int = 3, work: Callable[[np.ndarray], Any] | None = None,
                 workers: int = 1):
        if workers < 1:
            raise ParameterError(f"workers must be at least 1, got {workers!r}")
        self._source = source
        self._work = work
        self._workers = workers
        self._queue: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = False
        weakref.finalize(self, self._stopped.set)

    @staticmethod
    def _run(source: FrameSource, out: queue.Queue[tuple[bool, Any]], stopped: threading.Event,
             work: Callable[[np.ndarray], Any] | None, workers: int) -> None:
        def put(item: tuple[bool, Any]) -> bool:
            while not stopped.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        pool = ThreadPoolExecutor(workers, thread_name_prefix="prosopo-video-work") if work is not None else None
        frames = iter(source)
        try:
            for raw in frames:
                job = None
                if work is not None and pool is not None and raw.rgb is not None:
                    try:
                        job = pool.submit(work, raw.rgb)
                    except RuntimeError as exc:  # the interpreter is shutting down
                        raise ImageError(f"{source.name}: reading stopped: {exc}") from exc
                if not put((True, (raw, job))):
                    return
            put((False, None))
        except Exception as exc:  # noqa: BLE001 - raised again in the caller's thread
            put((False, exc))
        finally:
            if pool is not None:  # the frames queued keep their work, unless the caller stopped
                pool.shutdown(wait=True, cancel_futures=stopped.is_set())
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # the source's own clean-up runs here, in the thread that read it

    def __next__(self) -> RawFrame:
        if self._finished:
            raise StopIteration
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prosopo-video-read-ahead", daemon=True,
                                            args=(self._source, self._queue, self._stopped, self._work, self._workers))
            self._thread.start()
        while True:
            try:
                ok, value = self._queue.get(timeout=0.5)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self._finished = True
                    raise ImageError(f"{self._source.name}: the reading thread stopped") from None
        if ok:
            raw, job = value
            if job is None:
                return raw  # type: ignore[no-any-return]
            try:
                return replace(raw, ahead=job.result())
            except CancelledError:  # stopped from another thread meanwhile
                self._finished = True
                raise StopIteration from None
            except BaseException:
                self.stop()
                raise
        self._finished = True
        if value is None:
            raise StopIteration
        raise value

    def stop(self) -> None:
        """Stop reading and wait for the thread (safe to call twice)."""
        self._stopped.set()
        self._finished = True
        if self._thread is not None:
            self._thread.join()


def open_source(source: Any, *, bgr: bool = False, allow_urls: bool = False, read_timeout: float = 10.0,
                fps: float | None = None) -> FrameSource:
    """A :class:`FrameSource` for ``source``: a video file path, a camera
    index (int), an ``rtsp://`` or ``http(s)://`` URL (only with
    ``allow_urls=True``) or any iterable of numpy frames (RGB, BGR with
    ``bgr``). ``fps`` overrides the frame rate used for timestamps."""
    if isinstance(read_timeout, bool) or not isinstance(read_timeout, (int, float)) or not read_timeout > 0:
        raise ParameterError(f"read_timeout must be a positive number of seconds, got {read_timeout!r}")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps < 1000):
        raise ParameterError(f"fps must be a positive number below 1000 or None, got {fps!r}")
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, bool):
        raise ParameterError("source must be a video path, a camera index, a URL or an iterable of frames, not a bool")
    if isinstance(source, (int, np.integer)):
        if source < 0:
            raise ParameterError(f"a camera index is 0 or more, got {source!r}")
        return CaptureSource(int(source), live=True, read_timeout=float(read_timeout), fps=fps)
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if text.lower().startswith(URL_SCHEMES):
            if not allow_urls:
                raise ParameterError(f"{text.split('://')[0]}:// sources are read only with allow_urls=True (the "
                                     "process would connect to that address)")
            return CaptureSource(text, live=True, read_timeout=float(read_timeout), fps=fps)
        if "://" in text:
            raise ParameterError(f"unsupported URL scheme in {text!r}; use rtsp://, http:// or https://")
        path = Path(text)
        if not path.exists():
            raise ImageError(f"{text}: no such video file")
        if path.is_dir():
            raise ImageError(f"{text}: is a folder, not a video file")
        return CaptureSource(text, live=False, read_timeout=float(read_timeout), fps=fps)
    if isinstance(source, np.ndarray):
        if source.ndim == 4:
            return ArraySource(iter(source), bgr=bgr, fps=fps)
        raise ParameterError(f"a single array is not a video; pass a list of frames or an (N, H, W, 3) array, got "
                             f"shape {source.shape}")
    if isinstance(source, (bytes, bytearray)):
        raise ParameterError("video bytes are not read; save them to a file and pass its path")
    if isinstance(source, Iterable):
        return ArraySource(source, bgr=bgr, fps=fps)
    raise ParameterError(f"source must be a video path, a camera index, a URL or an iterable of frames, got "
                         f"{type(source).__name__}")
