"""The 5-point similarity alignment."""

from __future__ import annotations

import numpy as np
import pytest

from prosopo.align import ARCFACE_112, DLIB_150, align_face, similarity
from prosopo.types import Box, Face


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (5, 2))
    angle, scale, shift = 0.4, 1.7, np.array([13.0, -7.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-9) and np.allclose(m[:, 2], shift, atol=1e-9)


def test_similarity_never_mirrors():
    src = np.array(ARCFACE_112.points)
    mirrored = src * [-1, 1]
    m = similarity(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


@pytest.mark.parametrize("template", [ARCFACE_112, DLIB_150])
def test_landmarks_land_on_the_template(template):
    """Paint the five landmarks of a rotated, scaled face into an image; after
    alignment each painted dot sits on its template point."""
    pts = np.array(template.points)
    angle, scale, shift = -0.3, 2.2, np.array([150.0, 120.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = (pts - pts.mean(0)) * scale @ rot.T + shift
    img = np.zeros((300, 300, 3), np.uint8)
    for k, (x, y) in enumerate(placed):
        img[round(y) - 2: round(y) + 3, round(x) - 2: round(x) + 3] = 50 * (k + 1)
    face = Face(Box(0, 0, 300, 300), 1.0, tuple(map(tuple, placed)))
    crop = align_face(img, face, template)
    assert crop.shape == (template.size[1], template.size[0], 3)
    for k, (x, y) in enumerate(template.points):
        assert crop[round(y), round(x), 0] == pytest.approx(50 * (k + 1), abs=25)


def test_box_alignment_without_landmarks():
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:150, 100:200] = 255  # the "face"
    crop = align_face(img, Face(Box(100, 50, 100, 100), 1.0), ARCFACE_112)
    assert crop.shape == (112, 112, 3) and crop[2:-2, 2:-2].min() == 255
