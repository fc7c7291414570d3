"""Face quality and head pose from a detected face: no network model, a few
arithmetic operations on the five landmarks and one Laplacian of the
aligned crop.

:func:`assess` gives a :class:`~prosopo.types.Quality`:

- ``size``: the shorter side of the detected box, in pixels;
- ``sharpness``: the variance of the Laplacian of the face aligned to the
  112x112 ArcFace template (scale-free: every crop has the same size; a
  small face enlarged to the template is blurred by the enlargement, so it
  scores low here too);
- ``yaw``, ``pitch``, ``roll`` in degrees, estimated from the five
  landmarks (:func:`pose`); None when the detector gave no landmarks;
- ``score`` in [0, 1], the product of four factors (:func:`score`).

Speed (one LFW face, 2000 calls, a shared 2-core CPU): 0.16 ms per face
with the aligned crop given, 0.43 ms when :func:`assess` makes the crop
(0.2 ms of that is the warp); the pose alone 0.025 ms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .align import ARCFACE_112, align_face
from .types import Face, Point, Quality

__all__ = ["MIN_FACE_PIXELS", "MIN_SHARPNESS", "assess", "pose", "problems", "score", "sharpness", "weaknesses"]

# Below these the attribute heads' held-out errors grow fast (see training/README.md).
MIN_FACE_PIXELS = 32  # shorter side of the detected box
MIN_SHARPNESS = 20.0  # variance of the Laplacian of the aligned 112x112 crop

# -- pose constants --------------------------------------------------------
# A rigid face turned by yaw t moves its nose tip sideways by D sin t relative
# to the eyes and mouth (which lie near one plane), while the eyes' distance
# shrinks to IOD cos t: offset / eye distance = (D / IOD) tan t. D / IOD is
# the nose tip's depth in front of the eye-and-mouth plane over the distance
# between the eye centres; anthropometric head models put it near 0.43
# (nose tip ~27 mm in front of the pupils and mouth corners, pupils ~63 mm
# apart). The same reasoning for pitch uses the vertical eye-to-mouth
# distance: (nose height - frontal height) / eye-mouth = (D / EM) tan p.
NOSE_DEPTH_IOD = 0.43
NOSE_DEPTH_EM = 0.40
# Where the nose tip sits between the eye line (0) and the mouth line (1)
# in a frontal face: the median over lfw-mini's faces (mostly frontal),
# detected by SCRFD (see tests/test_quality.py::test_frontal_reference).
NOSE_HEIGHT_FRONTAL = 0.54

# -- score constants -------------------------------------------------------
SIZE_LOW, SIZE_HIGH = 16.0, 112.0  # px: the size factor rises from 0 to 1 (log scale) between them
SHARP_LOW, SHARP_HIGH = 10.0, 150.0  # Laplacian variance: the same for sharpness
POSE_LIMIT = 75.0  # degrees of yaw or pitch at which the pose factor reaches 0


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned crop's grey levels (higher is
    sharper); scale-free because every crop has the template's size."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def pose(landmarks: Sequence[Point]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from five landmarks (the subject's right
    eye, left eye, nose tip, right and left mouth corners, as
    :class:`~prosopo.types.Face` gives them).

    Conventions, as the picture shows the face: ``roll`` > 0 when the face
    is turned counter-clockwise in the picture (the eye line rises to the
    right; the angle of ``cv2.getRotationMatrix2D``); ``yaw`` > 0 when the
    nose points to the picture's right (the subject turns to their left);
    ``pitch`` > 0 when the face looks up.

    Method: ``roll`` is the angle of the line through the eyes. The points
    are then rotated by -roll, and ``yaw`` comes from the nose tip's
    horizontal offset from the midpoint of the eyes' and mouth's centres,
    divided by the distance between the eyes; ``pitch`` from the nose tip's
    height between the eye line and the mouth line against its frontal
    height. Both offsets go to angles through a rigid generic head (see
    ``NOSE_DEPTH_IOD``, ``NOSE_DEPTH_EM``).

    Accuracy: ``roll`` follows an in-plane rotation within about 2 degrees
    (tested). ``yaw`` and ``pitch`` have no ground truth here: their sign is
    right and they grow with the turn (a mirrored face gets the opposite yaw,
    tested), but their magnitude relies on a generic head, on the detector's
    landmark placement and, for pitch, on the person's face proportions:
    read them as rough (of the order of +-10 degrees for a frontal face,
    worse beyond 45 degrees, where the far eye is hidden and landmarks are
    guessed). They are good to rank faces and to refuse clearly turned ones,
    not to measure a head's angle.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    right_eye, left_eye = pts[0], pts[1]
    eye_vec = left_eye - right_eye
    iod = float(np.hypot(*eye_vec))
    if iod < 1e-6:
        return 0.0, 0.0, 0.0
    angle = math.atan2(eye_vec[1], eye_vec[0])  # image y points down
    roll = -math.degrees(angle)
    c, s = math.cos(-angle), math.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    eyes = (right_eye + left_eye) / 2
    q = (pts - eyes) @ rot.T  # eye line horizontal, eyes' centre at the origin
    nose_q = q[2]
    mouth_q = (q[3] + q[4]) / 2
    # horizontal: the nose against the face's midline (eyes' and mouth's centres)
    offset = (nose_q[0] - mouth_q[0] / 2) / iod
    yaw = math.degrees(math.atan(offset / NOSE_DEPTH_IOD))
    # vertical: the nose's place between eye line (0) and mouth line (1)
    em = mouth_q[1]
    if em <= 1e-6:  # mouth not below the eyes: landmarks are unusable for pitch
        pitch = 0.0
    else:
        height = nose_q[1] / em
        pitch = math.degrees(math.atan((NOSE_HEIGHT_FRONTAL - height) / NOSE_DEPTH_EM))
    return yaw, pitch, roll


def _ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, log-linear between (clipped)."""
    if value <= low:
        return 0.0
    return min(1.0, math.log(value / low) / math.log(high / low))


def factors(size: float, sharp: float, yaw: float | None, pitch: float | None, roll: float | None,
            detector_score: float) -> dict[str, float]:
    """The four factors of :func:`score`, each in [0, 1]."""
    if yaw is None or pitch is None or roll is None:
        turn = 0.5  # unknown pose: neither good nor bad
    else:
        turned = max(0.0, 1.0 - (abs(yaw) / POSE_LIMIT) ** 2) * max(0.0, 1.0 - (abs(pitch) / POSE_LIMIT) ** 2)
        tilted = 1.0 - 0.5 * min(abs(roll), 90.0) / 90.0
        turn = turned * tilted
    det = float(detector_score) if math.isfinite(detector_score) else 0.0
    return {"size": _ramp(size, SIZE_LOW, SIZE_HIGH), "sharpness": _ramp(sharp, SHARP_LOW, SHARP_HIGH),
            "pose": turn, "detector": min(1.0, max(0.0, det))}


def score(size: float, sharp: float, yaw: float | None, pitch: float | None, roll: float | None,
          detector_score: float) -> float:
    """One quality score in [0, 1]: the product of four factors in [0, 1].

    - size: 0 at 16 px, 1 at 112 px (the template's size) and above,
      log-linear between;
    - sharpness: 0 at a Laplacian variance of 10, 1 at 150 and above,
      log-linear between;
    - pose: ``(1 - (yaw/75)^2) * (1 - (pitch/75)^2) * (1 - 0.5 |roll| / 90)``
      (0 at 75 degrees of yaw or pitch; roll costs at most half, since
      alignment undoes it but detectors and landmarks do worse on tilted
      faces); 0.5 when the pose is unknown (no landmarks);
    - detector: the detector's confidence, clipped to [0, 1].

    A product, so a face is only as good as its weakest side: a tiny,
    blurred or strongly turned face scores low whatever the rest.
    """
    return float(np.prod(list(factors(size, sharp, yaw, pitch, roll, detector_score).values())))


def upper_bound(face: Face) -> float:
    """The highest score :func:`assess` can give ``face``: every factor
    but sharpness, which needs the pixels, taken as sharp. From the box and
    landmarks alone (no crop), so a view that cannot beat another is
    skipped without assessing it."""
    yaw = pitch = roll = None
    if face.landmarks and len(face.landmarks) == 5:
        yaw, pitch, roll = pose(face.landmarks)
    return score(float(min(face.box.w, face.box.h)), SHARP_HIGH, yaw, pitch, roll, float(face.score))


def assess(rgb: np.ndarray, face: Face, *, crop: np.ndarray | None = None, size: float | None = None) -> Quality:
    """The quality of ``face`` (its box and landmarks in pixels of ``rgb``,
    an RGB uint8 image).

    ``crop`` is the face already aligned to the 112x112 ArcFace template
    (made here if not given); ``size`` overrides the box's shorter side, for
    a face measured on a reduced copy of a larger image. Pure and cheap
    (no model): about 0.16 ms per face once the crop is made, 0.43 ms with it.
    """
    if crop is None:
        crop = align_face(rgb, face, ARCFACE_112, use_landmarks=bool(face.landmarks))
    side = float(min(face.box.w, face.box.h)) if size is None else float(size)
    sharp = sharpness(crop)
    if face.landmarks and len(face.landmarks) == 5:
        yaw, pitch, roll = pose(face.landmarks)
        angles: tuple[float | None, float | None, float | None] = (yaw, pitch, roll)
    else:
        angles = (None, None, None)
    return Quality(size=side, sharpness=sharp, yaw=angles[0], pitch=angles[1], roll=angles[2],
                   score=score(side, sharp, *angles, float(face.score)),
                   detector_score=float(face.score))


def weaknesses(q: Quality) -> list[str]:
    """What lowers ``q.score`` the most, in words (the factors below 0.7,
    weakest first), for messages."""
    parts = factors(q.size, q.sharpness, q.yaw, q.pitch, q.roll, q.detector_score)
    words = {
        "size": f"small face ({q.size:.0f} px; {SIZE_HIGH:.0f} px or more scores fully)",
        "sharpness": f"blurred (sharpness {q.sharpness:.1f}; {SHARP_HIGH:.0f} or more scores fully)",
        "pose": ("pose unknown (no landmarks)" if q.yaw is None else
                 f"turned (yaw {q.yaw:.0f}, pitch {q.pitch:.0f}, roll {q.roll:.0f} degrees)"),
        "detector": f"low detector confidence ({q.detector_score:.2f})",
    }
    weak = sorted((v, k) for k, v in parts.items() if v < 0.7)
    return [f"{words[k]} -> {v:.2f}" for v, k in weak]


def problems(face: Face, crop: np.ndarray) -> tuple[float, list[str]]:
    """The crop's sharpness and what makes attribute estimates unreliable
    (too small or blurred), as :func:`prosopo.analyze` reports them."""
    found = []
    size = min(face.box.w, face.box.h)
    if size < MIN_FACE_PIXELS:
        found.append(f"face is {size:.0f} px, below {MIN_FACE_PIXELS} px: estimates are unreliable")
    sharp = sharpness(crop)
    if sharp < MIN_SHARPNESS:
        found.append(f"face is blurred (sharpness {sharp:.1f} < {MIN_SHARPNESS}): estimates are unreliable")
    return sharp, found
