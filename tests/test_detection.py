"""Detection on real crowd and scene photos (WIDER FACE, ../shared/data/wider-mini)."""

from __future__ import annotations

import pytest

import prosopo
from prosopo.evaluate import detection_recall, read_wider

# measured here (with the coarse pass of frontend.py): yunet 0.892 and scrfd 0.869 of the 130 valid faces >= 20 px,
# haar 0.602 and dlib-hog 0.648 of the 88 faces >= 40 px
FLOORS = {"yunet": (20, 0.80), "scrfd": (20, 0.80), "haar": (40, 0.50), "dlib-hog": (40, 0.55)}


@pytest.fixture(scope="module")
def truth(wider):
    return read_wider(wider / "wider_face_train_bbx_gt.txt")


@pytest.mark.parametrize("detector", list(FLOORS))
def test_recall_floor(wider, truth, detector):
    if detector == "dlib-hog":
        pytest.importorskip("dlib")
    min_size, floor = FLOORS[detector]
    matched = total = 0
    for name, faces in truth.items():
        found = [f.box for f in prosopo.detect(wider / "images" / name, detector=detector)]
        m, t = detection_recall(faces, found, iou=0.5, min_size=min_size)
        matched, total = matched + m, total + t
    assert total > 80
    assert matched / total >= floor, f"{detector}: recall {matched}/{total}"


@pytest.mark.parametrize("detector", ["scrfd", "yunet"])
def test_boxes_have_landmarks_inside(wider, truth, detector):
    name = next(iter(truth))
    faces = prosopo.detect(wider / "images" / name, detector=detector)
    assert faces, name
    for face in faces:
        b = face.box
        assert len(face.landmarks) == 5 and 0 < face.score <= 1
        for x, y in face.landmarks:
            assert b.x - b.w * 0.2 <= x <= b.x + b.w * 1.2 and b.y - b.h * 0.2 <= y <= b.y + b.h * 1.2


def test_min_face_size_and_max_faces(wider, truth):
    name = max(truth, key=lambda n: len(truth[n]))
    path = wider / "images" / name
    every = prosopo.detect(path)
    assert len(every) >= 3
    areas = [f.box.area for f in every]
    assert areas == sorted(areas, reverse=True)  # largest first
    assert prosopo.detect(path, max_faces=2) == every[:2]
    big = prosopo.detect(path, min_face_size=40)
    assert big and all(min(f.box.w, f.box.h) >= 40 for f in big) and len(big) < len(every)


def test_skip_detector_is_the_whole_image(wider, truth):
    name = next(iter(truth))
    faces = prosopo.detect(wider / "images" / name, detector="skip")
    assert len(faces) == 1 and faces[0].box.x == 0 and faces[0].landmarks is None


@pytest.mark.parametrize("detector", ["scrfd", "yunet"])
def test_score_threshold_per_call(wider, truth, detector):
    """A threshold given to one call changes that call only: lower finds a
    superset, every score clears it, the backend's own stays in place."""
    from concurrent.futures import ThreadPoolExecutor

    from prosopo import frontend
    from prosopo.detectors import DETECTORS

    backend = DETECTORS.get(detector)
    rgb = prosopo.image.load(wider / "images" / max(truth, key=lambda n: len(truth[n])))
    usual = backend.detect(rgb)
    low, high = backend.detect(rgb, 0.1), backend.detect(rgb, 0.9)
    assert len(high) < len(usual) < len(low)
    assert all(f.score >= 0.1 for f in low) and all(f.score >= 0.9 for f in high)
    assert {f.box for f in high} <= {f.box for f in low}
    with ThreadPoolExecutor(4) as pool:  # thresholds of concurrent calls do not leak into each other
        runs = list(pool.map(lambda t: backend.detect(rgb, t), [0.1, 0.9] * 4))
    assert all(r == (low if i % 2 == 0 else high) for i, r in enumerate(runs))
    assert backend.detect(rgb) == usual and backend.detect(rgb, backend.score_threshold) == usual

    every = frontend.detect(backend, rgb)
    more = frontend.detect(backend, rgb, score_threshold=0.1)
    coarser = frontend.detect(backend, rgb, score_threshold=0.1, fine_side=max(rgb.shape[:2]) // 3)
    assert len(every) < len(more) and len(coarser) < len(more)
    assert frontend.detect(backend, rgb) == every


def test_side_by_side_inference_gives_the_same_faces(wider, truth):
    """Inside ``side_by_side`` SCRFD runs on a session of its share of the
    cores (the video reader's detecting threads use it), and finds the
    same faces as through the shared session."""
    import threading

    from prosopo.detectors import DETECTORS
    from prosopo.image import load
    from prosopo.runtime.onnx_session import side_by_side

    backend = DETECTORS.get("scrfd")
    rgb = load(wider / "images" / min(truth))
    shared = backend.detect(rgb)
    found: list = []

    def side() -> None:
        with side_by_side(2):
            found.append(backend.detect(rgb))
        found.append(backend.detect(rgb))  # the shared session again, past the block

    thread = threading.Thread(target=side)
    thread.start()
    thread.join()
    assert backend._session._fewer
    assert len(shared) > 0 and found == [shared, shared]
