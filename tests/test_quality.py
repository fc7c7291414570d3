"""Face quality and head pose (prosopo.quality) on real LFW faces."""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import prosopo
from prosopo import quality
from prosopo.errors import ParameterError
from prosopo.pipeline import locate


def photos(lfw: Path, n: int) -> list[Path]:
    return sorted((lfw / "images").glob("*/*.jpg"))[:: 7][:n]


def rgb_of(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def measure(rgb: np.ndarray):
    found = locate(rgb, max_faces=1)
    return quality.assess(found.rgb, found.local[0])


@pytest.fixture(scope="module")
def frontal(lfw) -> np.ndarray:
    """An LFW photo whose face is near frontal (|yaw|, |roll| small)."""
    for path in photos(lfw, 60):
        rgb = rgb_of(path)
        q = measure(rgb)
        if abs(q.yaw) < 8 and abs(q.roll) < 4 and abs(q.pitch) < 12 and q.size > 90:
            return rgb
    pytest.fail("no frontal face among the LFW photos tried")


def rotated(rgb: np.ndarray, degrees: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("degrees", [-30, -15, 15, 30])
def test_roll_follows_an_in_plane_rotation(frontal, degrees):
    base = measure(frontal).roll
    turned = measure(rotated(frontal, degrees)).roll
    assert turned - base == pytest.approx(degrees, abs=3.0)


def test_mirrored_face_has_opposite_yaw(lfw):
    checked = 0
    for path in photos(lfw, 30):
        rgb = rgb_of(path)
        q, m = measure(rgb), measure(rgb[:, ::-1].copy())
        assert m.yaw == pytest.approx(-q.yaw, abs=7.0), path.name  # 30 photos: median 1.9, max 5.9
        assert m.roll == pytest.approx(-q.roll, abs=4.0), path.name  # landmark noise on the eyes
        assert m.pitch == pytest.approx(q.pitch, abs=7.0), path.name
        if abs(q.yaw) > 8:
            assert math.copysign(1, m.yaw) == -math.copysign(1, q.yaw)
            checked += 1
    assert checked >= 5  # enough turned faces to test the sign


def test_lfw_faces_are_mostly_frontal(lfw):
    yaws, rolls, pitches = [], [], []
    for path in photos(lfw, 40):
        q = measure(rgb_of(path))
        yaws.append(abs(q.yaw))
        rolls.append(abs(q.roll))
        pitches.append(q.pitch)
    assert np.median(yaws) < 15
    assert np.mean(np.array(yaws) < 30) >= 0.8
    assert np.median(rolls) < 5
    assert abs(np.median(pitches)) < 8  # the frontal reference is LFW's median


def test_yaw_grows_with_the_turn(frontal):
    """Shifting the nose sideways (landmarks only) increases |yaw|
    monotonically, with the direction's sign."""
    found = locate(frontal, max_faces=1)
    pts = np.array(found.local[0].landmarks)
    iod = float(np.hypot(*(pts[1] - pts[0])))
    yaws = []
    for shift in (-0.3, -0.15, 0.0, 0.15, 0.3):
        moved = pts.copy()
        moved[2, 0] += shift * iod
        yaws.append(quality.pose([tuple(p) for p in moved])[0])
    assert yaws == sorted(yaws) and yaws[0] < -15 and yaws[-1] > 15


def test_score_prefers_large_sharp_upright_faces(frontal):
    good = measure(frontal)
    assert 0.0 <= good.score <= 1.0
    blurred = measure(cv2.GaussianBlur(frontal, (0, 0), 3.0))
    assert blurred.score < good.score * 0.6
    assert blurred.sharpness < good.sharpness
    # a 24-px face: the image reduced, placed on a grey canvas the detector sees well
    k = 24 / good.size
    small = cv2.resize(frontal, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    canvas = np.full((200, 200, 3), 128, np.uint8)
    canvas[80:80 + small.shape[0], 80:80 + small.shape[1]] = small
    tiny = measure(canvas)
    assert tiny.size < 35
    assert tiny.score < good.score * 0.6
    tilted = measure(rotated(frontal, 45))
    assert abs(tilted.roll) > 35
    assert tilted.score < good.score


def test_upper_bound_is_never_below_the_score(lfw):
    # video skips assessing a view whose bound cannot beat the best: the bound must hold
    for path in photos(lfw, 30):
        found = locate(rgb_of(path), max_faces=1)
        face = found.local[0]
        for img in (found.rgb, cv2.GaussianBlur(found.rgb, (0, 0), 2.0)):
            assert quality.upper_bound(face) >= quality.assess(img, face).score - 1e-12


def test_quality_without_landmarks_is_neutral_on_pose(frontal):
    found = locate(frontal, max_faces=1)
    from dataclasses import replace

    bare = replace(found.local[0], landmarks=None)
    q = quality.assess(found.rgb, bare)
    assert q.yaw is None and q.pitch is None and q.roll is None
    assert 0.0 < q.score <= 1.0
    assert q.to_dict()["yaw"] is None


def test_assess_is_cheap(frontal):
    found = locate(frontal, max_faces=1)
    face = found.local[0]
    crop = prosopo.align.align_face(found.rgb, face, prosopo.align.ARCFACE_112)
    quality.assess(found.rgb, face, crop=crop)
    start = time.perf_counter()
    for _ in range(200):
        quality.assess(found.rgb, face, crop=crop)
    per_face = (time.perf_counter() - start) / 200
    assert per_face < 0.005  # generous for a shared CI machine; typically ~0.1 ms


def test_analyze_pose_and_quality(frontal):
    result = prosopo.analyze(frontal, actions=("pose", "quality"))[0]
    assert result.pose is not None and set(result.pose) == {"yaw", "pitch", "roll"}
    assert abs(result.pose["roll"]) < 4
    assert result.quality is not None and 0 < result.quality.score <= 1
    assert result.age is None and result.gender is None and result.emotion is None
    d = result.to_dict()
    assert set(d["pose"]) == {"yaw", "pitch", "roll"} and d["quality"]["score"] == round(result.quality.score, 4)
    assert "quality" not in d["box"]
    import json

    json.dumps(d)
    only = prosopo.analyze(frontal, actions="pose")[0]
    assert only.quality is None and only.pose is not None


def test_analyze_defaults_unchanged(frontal):
    assert prosopo.defaults.DEFAULT_ACTIONS == ("age", "gender", "emotion")
    result = prosopo.analyze(frontal)[0]
    assert result.pose is None and result.quality is None and result.age is not None
    assert "pose" not in result.to_dict() and "quality" not in result.to_dict()
    mixed = prosopo.analyze(frontal, actions=("age", "quality"))[0]
    assert mixed.age is not None and mixed.quality is not None and mixed.gender is None


@pytest.mark.parametrize("bad", [("posture",), ("quality", "beauty"), ()])
def test_analyze_refuses_bad_actions(frontal, bad):
    with pytest.raises(ParameterError):
        prosopo.analyze(frontal, actions=bad)


def test_face_to_dict_shows_quality_only_when_set(frontal):
    from dataclasses import replace

    found = locate(frontal, max_faces=1)
    face = found.local[0]
    assert "quality" not in face.to_dict()
    rated = replace(face, quality=quality.assess(found.rgb, face))
    assert rated.to_dict()["quality"]["score"] == round(rated.quality.score, 4)


def test_enroll_min_quality(tmp_path, frontal):
    good = tmp_path / "good.png"
    blurred = tmp_path / "blurred.png"
    cv2.imwrite(str(good), frontal[:, :, ::-1])
    cv2.imwrite(str(blurred), cv2.GaussianBlur(frontal, (0, 0), 3.5)[:, :, ::-1])
    floor = 0.4
    assert measure(frontal).score > floor > measure(rgb_of(blurred)).score
    with prosopo.Gallery.open(tmp_path / "g.db") as g:
        result = g.enroll("alice", [good, blurred], min_quality=floor)
        assert result.added == 1
        assert len(result.skipped) == 1
        source, reason = result.skipped[0]
        assert "blurred" in source
        assert "below min_quality 0.4" in reason and "sharpness" in reason
        with pytest.raises(prosopo.NoFaceError):
            g.enroll("bob", [blurred], min_quality=floor)
        assert g.enroll("carol", [blurred]).added == 1  # no floor: enrolled as before


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "high", True])
def test_enroll_refuses_bad_min_quality(tmp_path, frontal, bad):
    with prosopo.Gallery.open(tmp_path / "g.db") as g, pytest.raises(ParameterError, match="min_quality"):
        g.enroll("alice", frontal, min_quality=bad)
