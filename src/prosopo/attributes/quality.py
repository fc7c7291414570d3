"""Is a face good enough for attribute estimates? Kept for imports: the
measures live in :mod:`prosopo.quality`."""

from __future__ import annotations

from ..quality import MIN_FACE_PIXELS, MIN_SHARPNESS, problems, sharpness

__all__ = ["MIN_FACE_PIXELS", "MIN_SHARPNESS", "problems", "sharpness"]
