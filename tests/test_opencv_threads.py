"""OpenCV's pool is off while a video is anonymised (serial_opencv), and
back as it was after; anonymize_video's own check is in test_video_output."""

import threading
from collections.abc import Iterator

import cv2
import pytest

from prosopo.runtime.opencv_threads import serial_opencv


@pytest.fixture(autouse=True)
def three_threads() -> Iterator[None]:
    """A setting the blocks must give back, whatever the machine's cores."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    yield
    cv2.setNumThreads(before)


def test_opencv_runs_serially_inside_and_as_before_after():
    with serial_opencv():
        assert cv2.getNumThreads() == 1
        with serial_opencv():  # nested: still serial, and not given back by the inner block
            pass
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == 3


def test_blocks_ending_out_of_order_give_the_setting_back_when_the_last_ends():
    """The main thread's block opens first and ends first; the other
    thread's block, still open, keeps OpenCV serial until it ends."""
    opened, release = threading.Event(), threading.Event()

    def other() -> None:
        with serial_opencv():
            opened.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with serial_opencv():
        thread.start()
        assert opened.wait(10)
    assert cv2.getNumThreads() == 1  # the first block ended, the other is open
    release.set()
    thread.join(10)
    assert cv2.getNumThreads() == 3
