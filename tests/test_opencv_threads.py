"""OpenCV's pool is off while a video is processed, and back after."""

import threading

import cv2

from prosopo.runtime.opencv_threads import serial_opencv


def test_opencv_runs_serially_inside_and_as_before_after():
    before = cv2.getNumThreads()
    with serial_opencv():
        assert cv2.getNumThreads() == 1
        with serial_opencv():  # nested: still serial, and not restored by the inner block
            pass
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == before


def test_overlapping_blocks_in_two_threads_restore_the_setting_once_both_end():
    before = cv2.getNumThreads()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with serial_opencv():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with serial_opencv():
        pass
    assert cv2.getNumThreads() == 1  # the other thread's block is still open
    release.set()
    thread.join(10)
    assert cv2.getNumThreads() == before
