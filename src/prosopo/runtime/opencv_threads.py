"""OpenCV's own thread pool, turned off while prosopo's threads keep the
cores busy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

_lock = threading.Lock()
_holders = 0
_before = 1


@contextmanager
def serial_opencv() -> Iterator[None]:
    """Within this block (in any thread of the process: OpenCV's setting is
    global, so other OpenCV work in the process runs serially too), OpenCV
    runs each call in its calling thread; the setting before the first such
    block comes back when the last one ends (a change made meanwhile by
    other code is undone then).

    A video's reader, detecting and writing threads already keep every core
    busy; OpenCV's pool threads, which also wait for work by spinning, then
    only take CPU from them: anonymising a 640x360 video on 2 cores, they
    took 0.6 ms of CPU a frame, and without them the job's CPU a frame fell
    from 12.3 to 11.6 ms and its speed rose by 5-7% (runs taking turns)."""
    global _holders, _before
    with _lock:
        if _holders == 0:
            _before = cv2.getNumThreads()
            cv2.setNumThreads(0)  # serial; reported as 1 by every threading backend
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                cv2.setNumThreads(_before)
