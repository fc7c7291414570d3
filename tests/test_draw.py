"""Faces drawn on group photos: every face numbered, labels inside the
image, not on each other, off other faces where there is room
(draw.place_labels is a pure function; the photos are real)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import prosopo
from prosopo.draw import draw_faces, label_size, label_style, place_labels
from prosopo.types import Box

# long labels, as analyze draws them
ANALYSIS = "{}: 38y, female 83%, neutral 47%"


def overlap(a, b) -> float:
    """Overlap area of two (x, y, w, h) rectangles."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def as_rect(box: Box) -> tuple[float, float, float, float]:
    return (round(box.x), round(box.y), round(box.x + box.w) - round(box.x), round(box.y + box.h) - round(box.y))


def check_layout(boxes, texts, size, *, may_cover_faces: bool = False):
    """The labels of ``texts`` for ``boxes`` on an image of ``size``: one
    per face, inside the image, none on another; returns them."""
    scale, thick = label_style(size)
    sizes = [label_size(t, scale, thick) for t in texts]
    rects = place_labels(boxes, sizes, size)
    assert len(rects) == len(boxes)
    for (x, y, w, h), (tw, th) in zip(rects, sizes):
        assert 0 <= x and 0 <= y and x + w <= size[0] and y + h <= size[1]
        assert (w, h) == (min(tw, size[0]), min(th, size[1]))
    for i in range(len(rects)):
        for j in range(i):
            assert overlap(rects[i], rects[j]) == 0, (i, j, rects[i], rects[j])
    if not may_cover_faces:
        for i, r in enumerate(rects):
            for j, b in enumerate(boxes):
                if i != j:
                    assert overlap(r, as_rect(b)) == 0, (i, j)
    return rects


def gap(rect, box: Box) -> float:
    """Distance from a label to its face's box as drawn (0 when they touch)."""
    x, y, w, h = rect
    bx, by, bw, bh = as_rect(box)
    dx = max(0, bx - (x + w), x - (bx + bw))
    dy = max(0, by - (y + h), y - (by + bh))
    return float(np.hypot(dx, dy))


def test_label_above_the_box_else_below_or_inside():
    size = (400, 300)
    middle, top, corner = Box(150, 120, 60, 70), Box(20, 0, 60, 70), Box(330, 220, 70, 80)
    rects = check_layout([middle, top, corner], ["0", "1", "2"], size)
    assert rects[0][1] + rects[0][3] == 120 and rects[0][0] == 150  # above, on the box's left edge
    assert rects[1][1] >= 70  # no room above: below
    assert rects[2][1] + rects[2][3] == 220  # above, moved left to stay inside the image
    # a face filling the photo: the label goes inside it, within the image
    (inside,) = check_layout([Box(-10, -5, 420, 310)], [ANALYSIS.format(0)], size, may_cover_faces=True)
    assert inside[:2] == (0, 0)


def test_labels_wider_than_the_image_are_cut_to_it():
    (rect,) = place_labels([Box(5, 5, 20, 20)], [(500, 30)], (100, 80))
    assert rect == (0, rect[1], 100, 30) and 0 <= rect[1] <= 50


def test_labels_on_a_wider_group_photo(wider):
    photo = wider / "images" / "20--Family_Group" / "20_Family_Group_Family_Group_20_9.jpg"
    faces = prosopo.detect(photo)
    assert len(faces) >= 8
    size = Image.open(photo).size
    boxes = [f.box for f in faces]
    numbers = check_layout(boxes, [str(i) for i in range(len(faces))], size)
    # short labels fit right beside their faces
    assert all(gap(r, b) == 0 for r, b in zip(numbers, boxes))
    # analyze's long labels still never overlap nor leave the image, and stay near their faces
    long = check_layout(boxes, [ANALYSIS.format(i) for i in range(len(faces))], size, may_cover_faces=True)
    assert max(gap(r, b) for r, b in zip(long, boxes)) < size[1] / 4


def test_labels_on_a_crowd(wider):
    photo = wider / "images" / "13--Interview" / "13_Interview_Interview_On_Location_13_579.jpg"
    faces = prosopo.detect(photo)
    assert len(faces) >= 8
    check_layout([f.box for f in faces], [str(i) for i in range(len(faces))], Image.open(photo).size)


@pytest.fixture(scope="module")
def group(lfw) -> tuple[np.ndarray, list[prosopo.Face]]:
    """Eight LFW faces packed edge to edge in two rows (the top row's faces
    near the top edge, the outer ones near the sides), as in a team photo."""
    people = sorted(p for p in (lfw / "images").iterdir() if p.is_dir())[:8]
    tiles = [np.asarray(Image.open(next(p.glob("*.jpg"))))[70:200, 70:180] for p in people]
    rows = [np.hstack(tiles[:4]), np.hstack(tiles[4:])]
    rgb = np.ascontiguousarray(np.vstack(rows))
    faces = prosopo.detect(rgb)
    assert len(faces) == 8
    return rgb, faces


def test_labels_on_a_packed_group(group):
    rgb, faces = group
    h, w = rgb.shape[:2]
    boxes = [f.box for f in faces]
    check_layout(boxes, [str(i) for i in range(len(faces))], (w, h), may_cover_faces=True)
    check_layout(boxes, [ANALYSIS.format(i) for i in range(len(faces))], (w, h), may_cover_faces=True)


def test_draw_faces_numbers_each_face_in_its_label(group):
    rgb, faces = group
    drawn = draw_faces(rgb, faces, labels=[f"{i}y" for i in range(len(faces))])
    assert drawn.shape == rgb.shape and not np.array_equal(drawn, rgb)
    h, w = rgb.shape[:2]
    scale, thick = label_style((w, h))
    sizes = [label_size(f"{i}: {i}y", scale, thick) for i in range(len(faces))]
    for x, y, lw, lh in place_labels([f.box for f in faces], sizes, (w, h)):
        patch = drawn[y:y + lh, x:x + lw].reshape(-1, 3)
        green = (patch[:, 1] > 200) & (patch[:, 0] < 80) & (patch[:, 2] < 80)
        dark = patch.max(1) < 90  # the text
        assert green.mean() > 0.4 and dark.mean() > 0.05  # a label: green ground, black text
    with pytest.raises(prosopo.ParameterError, match="one text per face"):
        draw_faces(rgb, faces, labels=["only one"])


def test_type_grows_with_the_image():
    small, large = label_style((250, 250)), label_style((4000, 3000))
    assert small[0] < large[0] and small[1] <= large[1]
    assert label_size("0", *small)[1] < label_size("0", *large)[1] < 3000 / 20
