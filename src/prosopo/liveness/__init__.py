"""Presentation-attack detection (is this a live face, or a photo of one?).

The models are MiniFASNet from Minivision's Silent-Face-Anti-Spoofing
(Apache-2.0). Minivision publishes PyTorch ``.pth`` files only; the two ONNX
files prosopo runs, and whose SHA-256 it pins, are the exports in the fork
``marcos4758/Silent-Face-Anti-Spoofing-Tests`` (folder
``resources/anti_spoof_models``, made by its ``model_to_onnx.py``; the
hashes match the files at its commits 87a0f10 and 1557f99, not the earlier
export of 719aa0a). No PyPI package ships them, so the user places them
once: ``prosopo models add minifasnet DIR`` copies the two files into
prosopo's model folder after checking their SHA-256. Nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import ModelError, ParameterError, SpoofDetected
from ..models import Lazy, file_digest, user_dir

FILES = {  # the files and their SHA-256, as published with the ONNX exports
    "2.7_80x80_MiniFASNetV2.onnx": "4433e871ef03f6c4c13de1757e63dcd69db14b6d7d9cff2319cb274c0f6dbecb",
    "4_0_0_80x80_MiniFASNetV1SE.onnx": "a8e67ffbaf39fa74c3b2ed673b530fcfb2f47379d0f26a52b71c2fc6473ec20f",
}
# where files with exactly these hashes are published
SOURCE = ("https://github.com/marcos4758/Silent-Face-Anti-Spoofing-Tests/tree/"
          "1557f99a6ca5d485763cc42d42b614a72a3ede7c/resources/anti_spoof_models")
ORIGIN = "ONNX exports of Minivision's models, whose own repository has only PyTorch .pth files"
LICENCE = "Apache-2.0 (Minivision's Silent-Face-Anti-Spoofing)"
COMMERCIAL_USE = True


def model_dir() -> Path:
    """Where user-supplied model files live: ``$PROSOPO_MODELS``, else
    ``$XDG_DATA_HOME/prosopo/models`` (default ``~/.local/share``); see
    :func:`prosopo.models.user_dir`."""
    return user_dir("models")


def folder() -> Path:
    """Where the MiniFASNet files go."""
    return model_dir() / "minifasnet"


def installed() -> dict[str, Path]:
    """The MiniFASNet files, checked; ModelError says what is missing or wrong
    and how to fix it."""
    where = folder()
    paths = {}
    for name, digest in FILES.items():
        path = where / name
        if not path.is_file():
            raise ModelError(f"anti-spoofing needs the two MiniFASNet ONNX files, which no PyPI package ships; "
                             f"{name} is not in {where}. Download {' and '.join(FILES)} from {SOURCE} "
                             f"({ORIGIN}) into a folder DIR, then run: prosopo models add minifasnet DIR")
        if file_digest(path) != digest:
            raise ModelError(f"{path} does not have the expected SHA-256 ({digest[:12]}...); "
                             "replace it with the published file: prosopo models add minifasnet DIR")
        paths[name] = path
    return paths


def add(source: str | os.PathLike) -> list[Path]:
    """Copy the MiniFASNet files from ``source`` into the model folder after
    checking their SHA-256; returns where they went."""
    src = Path(source).expanduser()
    problems = []
    for name, digest in FILES.items():
        path = src / name
        if not path.is_file():
            problems.append(f"{name} is missing from {src}")
        elif file_digest(path) != digest:
            problems.append(f"{name} has SHA-256 {file_digest(path)[:12]}..., expected {digest[:12]}...")
    if problems:
        raise ModelError("not added: " + "; ".join(problems) + f". The files with these hashes are at {SOURCE} "
                         f"({ORIGIN}); an ONNX export of your own has other bytes and is refused")
    target = folder()
    target.mkdir(parents=True, exist_ok=True)
    done = []
    for name in FILES:
        tmp = target / f".{name}.tmp"
        shutil.copyfile(src / name, tmp)
        os.replace(tmp, target / name)
        done.append(target / name)
    return done


# Chosen on NUAA subjects 0001-0004 of ../shared/data/nuaa-mini with the
# boxes of both landmark detectors (live faces scored 0.089 and up on YuNet's
# boxes and 0.118 and up on SCRFD's; printed photos 0.009 and below on
# YuNet's, 0.041 and below on SCRFD's, which are taller), then tested on
# subjects 0005-0008; the models' probabilities are low on NUAA's webcam
# frames, so 0.5 would reject 18% of live faces. See benchmarks/antispoof.py.
DEFAULT_THRESHOLD = 0.06
MODES = (False, True, "report", "reject")


def _model():
    from .minifasnet import MiniFASNet

    return MiniFASNet()


_MODEL = Lazy(_model)


def model():
    """The MiniFASNet pair, loaded once per process; a ModelError when its
    files are missing or not the pinned ones."""
    return _MODEL.get()


def check(rgb, faces, anti_spoofing, threshold: float | None = None, source: str = "image", shown=None):
    """``faces`` with ``is_real`` and ``spoof_score`` filled in when
    ``anti_spoofing`` is True or ``"report"``; ``"reject"`` also raises
    :class:`~prosopo.SpoofDetected` for the first face that fails, naming
    its box as in ``shown`` (the same faces in the user's pixels, when
    ``rgb`` is the image decoded reduced)."""
    import dataclasses

    if anti_spoofing not in MODES or isinstance(anti_spoofing, int) and not isinstance(anti_spoofing, bool):
        raise ParameterError(f"anti_spoofing must be False, True, 'report' or 'reject', got {anti_spoofing!r}")
    if anti_spoofing is False or not faces:
        return faces
    limit = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    scores = model().live_probability(rgb, faces)
    checked = [dataclasses.replace(f, is_real=bool(s >= limit), spoof_score=float(s)) for f, s in zip(faces, scores)]
    if anti_spoofing == "reject":
        for i, f in enumerate(checked):
            if not f.is_real:
                b = (shown or checked)[i].box
                raise SpoofDetected(f"face {i} of {source} (box {b.text()}) "
                                    f"looks like a photo or screen, not a live face (live probability "
                                    f"{f.spoof_score:.3f} < {limit})")
    return checked
