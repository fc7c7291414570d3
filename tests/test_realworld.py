"""Photos of every kind, not only LFW's 250-px news photos: a portrait whose
face fills the frame, a tight crop, a 12-megapixel phone JPEG, a photo turned
without an EXIF tag, a small face. Each must be found and verified against
another photo of the same person (scenes are made by benchmarks/scenes.py)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import prosopo
from prosopo import frontend
from prosopo import image as imagelib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import scenes


def jpeg(rgb: np.ndarray, exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=92, **({"exif": exif} if exif else {}))
    return out.getvalue()


@pytest.fixture(scope="module")
def people(lfw, lfw_pairs):
    """Two same-person pairs and one different-person pair: (rgb, face box) each."""
    def source(name):
        rgb = imagelib.load(lfw / "images" / name)
        faces = prosopo.detect(rgb)
        f = min(faces, key=lambda f: (f.box.center[0] - 125) ** 2 + (f.box.center[1] - 125) ** 2)
        return rgb, (f.box.x, f.box.y, f.box.w, f.box.h)

    same = [p for p in lfw_pairs if p.same][:2]
    other = next(p for p in lfw_pairs if not p.same)
    return {"same": [(source(p.left), source(p.right)) for p in same],
            "other": (source(other.left), source(other.right))}


def subject(faces, box):
    hits = [f for f in faces if scenes.found([(f.box.x, f.box.y, f.box.w, f.box.h)], box)]
    assert hits, f"the face at {box} was not found among {[f.box for f in faces]}"
    return hits[0]


def check_scene(people, make, **options):
    """Each scene's subject is found where it is and verified against the
    plain photo of the same person, and not against a stranger."""
    for (a, b) in people["same"]:
        scene = make(*a)
        data = jpeg(scene.rgb)
        subject(prosopo.detect(data, **options), scene.box)
        assert prosopo.verify(data, b[0], **options).verified
    scene = make(*people["other"][0])
    assert not prosopo.verify(jpeg(scene.rgb), people["other"][1][0], **options).verified


@pytest.mark.parametrize("frac,side", [(0.5, 1280), (0.7, 2560), (0.9, 1000), (0.5, 640)])
def test_portrait_whose_face_fills_the_frame(people, frac, side):
    check_scene(people, lambda rgb, box: scenes.frame(rgb, box, frac, side))


def test_tight_crop_upscaled(people):
    def crop(rgb, box):  # LFW's central 110 px (the face overflows the frame), made 1000 px
        c = (rgb.shape[0] - 110) // 2
        k = 1000 / 110
        m = np.array([[k, 0, -c * k], [0, k, -c * k]])
        out = cv2.resize(rgb[c:c + 110, c:c + 110], (1000, 1000), interpolation=cv2.INTER_CUBIC)
        x, y, w, h = box
        return scenes.Scene(out, ((x - c) * k, (y - c) * k, w * k, h * k), m)

    check_scene(people, crop)


def test_phone_photo_is_decoded_reduced_and_found_in_full_size_pixels(people):
    (rgb, box), _ = people["same"][0]
    scene = scenes.frame(rgb, box, 0.3, 4032)
    data = jpeg(scene.rgb)
    picture = imagelib.load_picture(data, reduce_to=960)
    assert picture.size == (3024, 4032) and picture.scale == 0.25 and picture.rgb.shape == (1008, 756, 3)
    face = subject(prosopo.detect(data), scene.box)
    x, y, w, h = scene.box
    assert face.box.iou(prosopo.Box(x, y, w, h)) > 0.5
    check_scene(people, lambda rgb, box: scenes.frame(rgb, box, 0.3, 4032))


def test_small_face_in_a_large_photo_is_cropped_from_sharper_pixels(people):
    # the face is 151 px of a 4032-px photo: 38 px in the reduced decode,
    # so the crop must come from a sharper decode of the same file
    (rgb, box), _ = people["same"][0]
    scene = scenes.frame(rgb, box, 0.05, 4032)
    data = jpeg(scene.rgb)
    from prosopo.embed import RECOGNIZERS
    from prosopo.pipeline import locate

    found = locate(data, template=RECOGNIZERS.get("arcface-mbf").template)
    assert found.scale >= 0.5  # decoded again, sharper
    face = subject(found.faces, scene.box)
    assert face.box.iou(prosopo.Box(*scene.box)) > 0.5  # reported in the full image's pixels
    check_scene(people, lambda rgb, box: scenes.frame(rgb, box, 0.05, 4032))


def test_exif_orientation_applies_to_reduced_decodes(people):
    (rgb, box), (other, _) = people["same"][0]
    scene = scenes.frame(rgb, box, 0.3, 2560)
    stored = np.ascontiguousarray(np.rot90(scene.rgb, 1))  # the camera stored it turned
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    data = jpeg(stored, exif.tobytes())
    picture = imagelib.load_picture(data, reduce_to=960)
    assert picture.scale < 1 and picture.size == (1920, 2560) and picture.rgb.shape[0] > picture.rgb.shape[1]
    subject(prosopo.detect(data), scene.box)
    assert prosopo.verify(data, other).verified


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_turned_photo_with_auto_rotate(people, quarter_turns):
    def turned(rgb, box):
        return scenes.turn(scenes.frame(rgb, box, 0.3, 640), quarter_turns)

    check_scene(people, turned, auto_rotate=True)
    (rgb, box), _ = people["same"][0]
    scene = turned(rgb, box)
    face = subject(prosopo.detect(scene.rgb, auto_rotate=True), scene.box)
    eyes, mouth = np.mean(face.landmarks[:2], axis=0), np.mean(face.landmarks[3:], axis=0)
    down = {1: (1, 0), 2: (0, -1), 3: (-1, 0)}[quarter_turns]  # where the chin points in the turned photo
    assert np.dot(mouth - eyes, down) > 0.7 * np.linalg.norm(mouth - eyes)


@pytest.mark.parametrize("degrees", [-45, -30, 30, 45])
def test_tilted_face(people, degrees):
    check_scene(people, lambda rgb, box: scenes.tilt(scenes.frame(rgb, box, 0.3, 640), degrees))


def test_small_faces_are_found(people):
    for px in (40, 24):
        for (a, _) in people["same"]:
            scene = scenes.frame(*a, px / 480, 640)
            subject(prosopo.detect(jpeg(scene.rgb)), scene.box)


def test_plan_adds_a_coarse_pass_only_above_its_size():
    assert frontend.plan(250, 250, 960, 320) == [frontend.Pass(1.0)]
    passes = frontend.plan(3024, 4032, 960, 320)
    assert [round(p.scale * 4032) for p in passes] == [960, 320]


@pytest.mark.parametrize("q", [0, 1, 2, 3])
def test_turned_pass_maps_landmarks_back(q):
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[10:12, 70:72] = 255  # a marker at image pixels (70.5, 10.5)
    view, back = frontend.render(rgb, frontend.Pass(0.5, q))
    assert view.shape[:2] == ((30, 40) if q % 2 == 0 else (40, 30))
    y, x = np.unravel_index(int(np.argmax(view[:, :, 0])), view.shape[:2])  # where the marker landed
    face = prosopo.Face(prosopo.Box(x - 2.0, y - 2.0, 4.0, 4.0), 0.9, ((float(x), float(y)),) * 5)
    (mapped,) = frontend.map_faces([face], back)
    assert mapped.landmarks[0] == pytest.approx((70.5, 10.5), abs=1.0)
    assert mapped.box.center == pytest.approx((70.5, 10.5), abs=1.0)


def test_whole_image_fallback_of_a_reduced_odd_sized_jpeg_is_the_full_image():
    rng = np.random.default_rng(0)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed turned: 3025 wide, 4033 tall
    data = jpeg((rng.integers(0, 256, (3025, 4033, 3))).astype(np.uint8), exif.tobytes())
    assert imagelib.load_picture(data, reduce_to=960).scale == 0.25
    rep = prosopo.represent(data, enforce_detection=False)[0]
    assert rep.face.score == 0 and rep.face.box == prosopo.Box(0.0, 0.0, 3025.0, 4033.0)


def test_auto_rotate_needs_a_detector_with_landmarks():
    with pytest.raises(prosopo.ParameterError, match="auto_rotate"):
        prosopo.detect(np.zeros((64, 64, 3), np.uint8), detector="haar", auto_rotate=True)
    with pytest.raises(prosopo.ParameterError, match="auto_rotate"):
        prosopo.detect(np.zeros((64, 64, 3), np.uint8), auto_rotate="yes")
