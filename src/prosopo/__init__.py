"""prosopo: offline, privacy-first face recognition and facial analysis.

>>> import prosopo
>>> prosopo.verify("a.jpg", "b.jpg").verified
True

Importing prosopo loads no model and no heavy library; each is loaded on
first use, once per process.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .errors import (
    DataError,
    ImageError,
    ModelError,
    NoFaceError,
    NotFoundError,
    ParameterError,
    ProsopoError,
    SpoofDetected,
    StoreError,
)

__version__ = "0.10.0"

_LAZY = {
    "verify": "api", "find": "api", "analyze": "api", "represent": "api", "represent_many": "api", "extract_faces": "api", "detect": "api",
    "check_liveness": "api",
    "distance": "metrics", "distances": "metrics",
    "Box": "types", "Face": "types", "AlignedFace": "types", "Representation": "types", "Verification": "types",
    "Match": "types", "Search": "types", "Analysis": "types", "Identification": "types", "SearchResults": "types",
    "Quality": "types",
    "anonymize": "anonymizer", "Anonymized": "anonymizer",
    "video": "streams", "VideoStream": "streams", "FrameResult": "streams", "TrackedFace": "streams",
    "Gallery": "gallery",
    "set_limits": "image", "get_limits": "image", "Limits": "image",
    "set_licence_policy": "privacy.licence", "licence_policy": "privacy.licence",
}

__all__ = [
    "AlignedFace", "Analysis", "Anonymized", "Box", "DataError", "Face", "FrameResult", "Gallery", "Identification",
    "ImageError", "Limits", "Match", "ModelError", "NoFaceError", "NotFoundError", "ParameterError", "ProsopoError",
    "Quality", "Representation", "Search", "SearchResults", "SpoofDetected", "StoreError", "TrackedFace",
    "Verification", "VideoStream", "__version__", "analyze", "anonymize", "check_liveness", "detect", "distance",
    "distances", "extract_faces", "find", "get_limits", "licence_policy", "represent", "represent_many",
    "set_licence_policy", "set_limits", "verify", "video",
]

if TYPE_CHECKING:
    from .anonymizer import Anonymized, anonymize
    from .api import analyze, check_liveness, detect, extract_faces, find, represent, represent_many, verify
    from .gallery import Gallery
    from .image import Limits, get_limits, set_limits
    from .metrics import distance, distances
    from .privacy.licence import licence_policy, set_licence_policy
    from .streams import FrameResult, TrackedFace, VideoStream, video
    from .types import (
        AlignedFace,
        Analysis,
        Box,
        Face,
        Identification,
        Match,
        Quality,
        Representation,
        Search,
        SearchResults,
        Verification,
    )


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prosopo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
