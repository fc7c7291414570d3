"""Attributes of faces already found: one :class:`~prosopo.types.Analysis`
per face, every crop through the heads as one batch. :func:`prosopo.analyze`
finds the faces and calls :func:`analyses`; :func:`prosopo.video` calls
:func:`analyze_faces` on each track's best view."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import quality as qualitylib
from ..align import ARCFACE_112, Template, align_face
from ..defaults import DEFAULT_ACTIONS
from ..models import Lazy
from ..types import Analysis, Face
from . import GEOMETRY, RACE_WARNING, check_actions


def _heads():
    from .heads import Heads

    return Heads()


HEADS = Lazy(_heads)


def analyze_faces(rgb: np.ndarray, faces: list[Face], *, actions: Iterable[str] | str = DEFAULT_ACTIONS,
                  align: bool = True) -> list[Analysis]:
    """:func:`prosopo.analyze` for faces already found in ``rgb`` (an RGB uint8
    array, the faces' boxes and landmarks in its pixels): no detection, one
    result per face in order. Used by :func:`prosopo.video` on each track's
    best view."""
    wanted = check_actions(actions)
    if "race" in wanted:
        warnings.warn(RACE_WARNING, UserWarning, stacklevel=2)
    return analyses([(f, f, rgb) for f in faces], wanted, align)


def template(wanted: tuple[str, ...]) -> Template:
    """The crop the actions need: the heads' when any head runs."""
    return HEADS.get().template if any(a not in GEOMETRY for a in wanted) else ARCFACE_112


def analyses(rows: list[tuple[Face, Face, np.ndarray]], wanted: tuple[str, ...], align: bool) -> list[Analysis]:
    """One :class:`Analysis` per ``(face as reported, the same face in the
    pixels of rgb, rgb)``, every crop through the heads as one batch."""
    heads = tuple(a for a in wanted if a not in GEOMETRY)
    crop_template = template(wanted)
    crops = [align_face(rgb, local, crop_template, use_landmarks=align) for _, local, rgb in rows]
    values = iter(HEADS.get().predict(crops, heads) if heads else [{} for _ in crops])
    out: list[Analysis] = []
    for (face, local, rgb), crop in zip(rows, crops):
        sharp, issues = qualitylib.problems(face, crop)
        extra: dict[str, Any] = {}
        if "pose" in wanted or "quality" in wanted:
            q = qualitylib.assess(rgb, local, crop=crop, size=min(face.box.w, face.box.h))
            if "pose" in wanted and q.yaw is not None:
                extra["pose"] = {"yaw": q.yaw, "pitch": q.pitch, "roll": q.roll}
            if "quality" in wanted:
                extra["quality"] = q
        out.append(Analysis(face=face, sharpness=sharp, reliable=not issues, warnings=tuple(issues),
                            **next(values), **extra))
    return out
