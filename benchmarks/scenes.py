"""Photos of every kind made from LFW faces: a face of a chosen size in an
image of a chosen size, photometric degradations, in-plane tilt and turns.

Used by ``benchmarks/realworld.py`` and by the tests (which put this folder on
``sys.path``). Everything is numpy and OpenCV; nothing here is a face photo.

A scene is built from a source image and the face box in it (in that image's
pixels). :func:`frame` maps the source so the face is ``face_frac`` of the
output width, in a portrait (3:4) image whose long side is ``long_side``;
where the output reaches past the source, it is filled with a blurred,
edge-stretched copy of the source (a soft background, no mirrored faces).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ASPECT = 3 / 4  # width / height: a portrait phone photo
FACE_CENTRE_Y = 0.45  # where the face centre sits, as a fraction of the height


@dataclass(frozen=True)
class Scene:
    """A rendered image (RGB uint8) and where the face is in it: its box
    (x, y, w, h) and the 2x3 affine map from source to scene pixels."""

    rgb: np.ndarray
    box: tuple[float, float, float, float]
    matrix: np.ndarray


def _place(src: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``src`` warped by ``m`` into ``size`` (w, h); outside the source, a blurred
    stretch of its edges (made small, so 12-megapixel scenes stay cheap)."""
    w, h = size
    k = max(1.0, max(w, h) / 256)
    small = cv2.warpAffine(src, m / k, (max(1, round(w / k)), max(1, round(h / k))), flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_REPLICATE)
    out = cv2.resize(cv2.GaussianBlur(small, (0, 0), 6), size, interpolation=cv2.INTER_LINEAR)
    cv2.warpAffine(src, m, size, dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return out


def frame(src: np.ndarray, box: tuple[float, float, float, float], face_frac: float, long_side: int) -> Scene:
    """The face in ``box`` made ``face_frac`` of the width of a 3:4 portrait
    image whose long side is ``long_side`` (cropped around the face or padded)."""
    h = int(long_side)
    w = round(h * ASPECT)
    x, y, bw, bh = box
    k = face_frac * w / bw
    cx, cy = x + bw / 2, y + bh / 2
    m = np.array([[k, 0, w / 2 - k * cx], [0, k, h * FACE_CENTRE_Y - k * cy]], np.float64)
    return Scene(_place(src, m, (w, h)), _map_box(m, box), m)


def _map_box(m: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The axis-aligned hull of ``box`` after the affine map ``m``."""
    x, y, w, h = box
    corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], np.float64) @ m.T
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def tilt(scene: Scene, degrees: float) -> Scene:
    """The scene rotated in-plane about the face centre (counter-clockwise),
    same size; the corners are filled like a padded border."""
    h, w = scene.rgb.shape[:2]
    x, y, bw, bh = scene.box
    r = cv2.getRotationMatrix2D((x + bw / 2, y + bh / 2), degrees, 1.0)
    # the face box rotates too; keep its size (what a detector should report)
    return Scene(_place(scene.rgb, r, (w, h)), scene.box, _compose(r, scene.matrix))


def turn(scene: Scene, quarter_turns: int) -> Scene:
    """The scene turned by 90 degrees ``quarter_turns`` times counter-clockwise,
    as a camera that wrote no EXIF orientation would store it."""
    q = quarter_turns % 4
    h, w = scene.rgb.shape[:2]
    rgb = np.ascontiguousarray(np.rot90(scene.rgb, q))
    # point maps of np.rot90 (counter-clockwise) for q = 0..3
    maps = {0: [[1, 0, 0], [0, 1, 0]], 1: [[0, 1, 0], [-1, 0, w - 1]],
            2: [[-1, 0, w - 1], [0, -1, h - 1]], 3: [[0, -1, h - 1], [1, 0, 0]]}
    r = np.array(maps[q], np.float64)
    return Scene(rgb, _map_box(r, scene.box), _compose(r, scene.matrix))


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    a = np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]])
    return a[:2]


# --- photometric degradations (each: RGB uint8 -> RGB uint8, seeded) --------------


def grayscale(rgb: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def dark_gamma(rgb: np.ndarray) -> np.ndarray:
    """Under-exposed: gamma 2.5 (mid-grey 128 becomes 45)."""
    lut = (255 * (np.arange(256) / 255) ** 2.5 + 0.5).astype(np.uint8)
    return lut[rgb]


def dark_scale(rgb: np.ndarray) -> np.ndarray:
    """Brightness times 0.3."""
    return (rgb.astype(np.float32) * 0.3 + 0.5).astype(np.uint8)


def blur(sigma: float):
    """Gaussian blur, ``sigma`` in the image's pixels."""
    def apply(rgb: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(rgb, (0, 0), sigma)
    return apply


def motion_blur(rgb: np.ndarray) -> np.ndarray:
    """A horizontal streak 15 px long."""
    n = 15
    kernel = np.zeros((n, n), np.float32)
    kernel[n // 2] = 1.0 / n
    return cv2.filter2D(rgb, -1, kernel)


def jpeg10(rgb: np.ndarray) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 10])
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def noise(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """Gaussian sensor noise, sigma 20 grey levels."""
    rng = np.random.default_rng(seed)
    return np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)


PHOTOMETRIC = {
    "grayscale": grayscale,
    "dark_gamma2.5": dark_gamma,
    "dark_x0.3": dark_scale,
    "blur_sigma2": blur(2),
    "blur_sigma4": blur(4),
    "motion_blur": motion_blur,
    "jpeg_q10": jpeg10,
    "noise_sigma20": noise,
}


def found(boxes, truth: tuple[float, float, float, float]) -> bool:
    """Did a detector find the face at ``truth``? Some box's centre lies inside
    the true box and its size is within a factor 2.5 of the true size
    (detectors disagree on how much of the head a box covers)."""
    x, y, w, h = truth
    size = (w * h) ** 0.5
    for bx, by, bw, bh in boxes:
        cx, cy = bx + bw / 2, by + bh / 2
        s = (max(bw, 0) * max(bh, 0)) ** 0.5
        if x <= cx <= x + w and y <= cy <= y + h and size / 2.5 <= s <= size * 2.5:
            return True
    return False
