"""The public functions of prosopo. Each takes images in any form
:func:`prosopo.image.load` accepts and returns typed results.

>>> import prosopo
>>> result = prosopo.verify("alice_1.jpg", "alice_2.jpg")
>>> result.verified, round(result.distance, 3)
(True, 0.231)
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, overload

import numpy as np

from .align import align_face
from .attributes import analysis
from .defaults import DEFAULT_ACTIONS, DEFAULT_DETECTOR, DEFAULT_MODEL
from .embed import RECOGNIZERS
from .errors import ParameterError
from .metrics import DEFAULT_METRIC, check_metric, distances
from .pipeline import embed_faces, locate
from .thresholds import resolve
from .types import AlignedFace, Analysis, Face, Representation, Search, SearchResults, Verification


def detect(
    img: Any,
    *,
    detector: str = DEFAULT_DETECTOR,
    min_face_size: float = 0,
    max_faces: int | None = None,
    auto_rotate: bool = False,
    bgr: bool = False,
) -> list[Face]:
    """Find the faces in an image: boxes, scores and five landmarks, largest
    first, in the image's pixels. An image without faces gives an empty
    list. ``auto_rotate=True`` also finds the faces of a photo turned by 90,
    180 or 270 degrees with no EXIF orientation (about 4 small extra passes)."""
    return locate(img, detector, bgr=bgr, align=False, min_face_size=min_face_size, max_faces=max_faces,
                  auto_rotate=auto_rotate, empty_ok=True).faces


def extract_faces(
    img: Any,
    *,
    detector: str = DEFAULT_DETECTOR,
    model: str = DEFAULT_MODEL,
    align: bool = True,
    enforce_detection: bool = True,
    min_face_size: float = 0,
    max_faces: int | None = None,
    auto_rotate: bool = False,
    bgr: bool = False,
    anti_spoofing: bool | str = False,
) -> list[AlignedFace]:
    """Detect the faces and crop each one aligned as ``model`` expects it
    (112x112 for SFace, 150x150 for dlib), largest first. ``anti_spoofing``
    (True or ``"report"``) fills each face's ``is_real`` and ``spoof_score``;
    ``"reject"`` raises :class:`~prosopo.SpoofDetected` on a spoof."""
    template = RECOGNIZERS.get(model).template
    found = locate(img, detector, template=template, bgr=bgr, enforce_detection=enforce_detection, align=align,
                   min_face_size=min_face_size, max_faces=max_faces, auto_rotate=auto_rotate,
                   anti_spoofing=anti_spoofing)
    return [AlignedFace(f, align_face(found.rgb, g, template, use_landmarks=align))
            for f, g in zip(found.faces, found.local)]


def check_liveness(
    img: Any,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    enforce_detection: bool = True,
    min_face_size: float = 0,
    max_faces: int | None = None,
    auto_rotate: bool = False,
    bgr: bool = False,
) -> list[Face]:
    """Is each face live, or a photo or screen of one? The faces, largest
    first, each with ``is_real`` and ``spoof_score`` (the probability that
    it is live; ``is_real`` when it is at least ``threshold``, by default
    :data:`prosopo.liveness.DEFAULT_THRESHOLD`).

    Needs the MiniFASNet files (``prosopo models add minifasnet DIR``):
    without them :class:`~prosopo.ModelError`, whatever the image holds. An
    image without a face raises :class:`~prosopo.NoFaceError`; with
    ``enforce_detection=False`` the whole image is checked as the face
    (score 0), as the other functions use it.
    """
    return locate(img, detector, bgr=bgr, align=False, enforce_detection=enforce_detection,
                  min_face_size=min_face_size, max_faces=max_faces, auto_rotate=auto_rotate, anti_spoofing=True,
                  spoof_threshold=threshold).faces


def represent(
    img: Any,
    *,
    model: str = DEFAULT_MODEL,
    detector: str = DEFAULT_DETECTOR,
    align: bool = True,
    enforce_detection: bool = True,
    min_face_size: float = 0,
    max_faces: int | None = None,
    flip: bool = False,
    auto_rotate: bool = False,
    bgr: bool = False,
    anti_spoofing: bool | str = False,
) -> list[Representation]:
    """One embedding (unit-length float32) per face, largest face first.

    With ``enforce_detection=False`` an image without a detected face is
    embedded whole instead of raising :class:`~prosopo.NoFaceError`.
    ``flip=True`` averages in the mirrored face: slower, slightly more accurate.
    ``auto_rotate`` as in :func:`detect`; ``anti_spoofing`` as in :func:`extract_faces`.
    """
    found = locate(img, detector, template=RECOGNIZERS.get(model).template, bgr=bgr,
                   enforce_detection=enforce_detection, align=align, min_face_size=min_face_size,
                   max_faces=max_faces, auto_rotate=auto_rotate, anti_spoofing=anti_spoofing)
    vectors = embed_faces(found.rgb, found.local, model, align=align, flip=flip)
    return [Representation(f, v, RECOGNIZERS.entry(model).name) for f, v in zip(found.faces, vectors)]


def represent_many(images: Iterable[Any], *, workers: int = 2, **options: Any) -> list[list[Representation]]:
    """:func:`represent` over many images, ``workers`` at a time (threads:
    the models release the GIL). Results keep the input order."""
    if not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers must be a positive integer, got {workers!r}")
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda img: represent(img, **options), images))


def verify(
    img1: Any,
    img2: Any,
    *,
    model: str = DEFAULT_MODEL,
    detector: str = DEFAULT_DETECTOR,
    metric: str = DEFAULT_METRIC,
    threshold: float | str | None = None,
    align: bool = True,
    enforce_detection: bool = True,
    min_face_size: float = 0,
    flip: bool = False,
    auto_rotate: bool = False,
    bgr: bool = False,
    anti_spoofing: bool | str = False,
) -> Verification:
    """Do two photos show the same person?

    Every face in each photo is compared and the closest pair decides; the
    result says which faces they were. ``threshold`` is None (the model's
    LFW-calibrated default), a number in the metric's units, or a named
    operating point such as ``"fmr=1e-3"`` (false-match rate 0.1%).
    ``anti_spoofing`` as in :func:`extract_faces` (the faces compared carry
    ``is_real`` and ``spoof_score``); ``auto_rotate`` as in :func:`detect`.
    """
    start = time.perf_counter()
    check_metric(metric)
    limit, point = resolve(RECOGNIZERS.entry(model).name, metric, threshold)
    sides = []
    template = RECOGNIZERS.get(model).template
    for img in (img1, img2):
        found = locate(img, detector, template=template, bgr=bgr, enforce_detection=enforce_detection,
                       align=align, min_face_size=min_face_size, auto_rotate=auto_rotate,
                       anti_spoofing=anti_spoofing)
        sides.append((found.faces, embed_faces(found.rgb, found.local, model, align=align, flip=flip)))
    (faces1, emb1), (faces2, emb2) = sides
    dist = distances(emb1, emb2, metric)
    i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
    value = float(dist[i, j])
    return Verification(
        verified=value <= limit,
        distance=value,
        threshold=limit,
        model=RECOGNIZERS.entry(model).name,
        detector=detector,
        metric=metric,
        face1=faces1[i],
        face2=faces2[j],
        pair=(int(i), int(j)),
        faces_found=(len(faces1), len(faces2)),
        seconds=time.perf_counter() - start,
        operating_point=point,
    )


@overload
def analyze(img: list[Any] | tuple[Any, ...], *, actions: Iterable[str] | str = ..., detector: str = ...,
            align: bool = ..., enforce_detection: bool = ..., min_face_size: float = ..., max_faces: int | None = ...,
            auto_rotate: bool = ..., bgr: bool = ..., anti_spoofing: bool | str = ...) -> list[list[Analysis]]: ...


@overload
def analyze(img: Any, *, actions: Iterable[str] | str = ..., detector: str = ..., align: bool = ...,
            enforce_detection: bool = ..., min_face_size: float = ..., max_faces: int | None = ...,
            auto_rotate: bool = ..., bgr: bool = ..., anti_spoofing: bool | str = ...) -> list[Analysis]: ...


def analyze(
    img: Any,
    *,
    actions: Iterable[str] | str = DEFAULT_ACTIONS,
    detector: str = DEFAULT_DETECTOR,
    align: bool = True,
    enforce_detection: bool = True,
    min_face_size: float = 0,
    max_faces: int | None = None,
    auto_rotate: bool = False,
    bgr: bool = False,
    anti_spoofing: bool | str = False,
) -> list[Analysis] | list[list[Analysis]]:
    """Age, gender and emotion of each face, largest face first.

    ``actions`` picks among ``"age"``, ``"gender"``, ``"emotion"``,
    ``"race"``, ``"pose"`` and ``"quality"``. Race is never estimated unless
    asked for, and asking warns (:data:`prosopo.attributes.RACE_WARNING`):
    inferring race from faces is restricted or prohibited in some uses.
    ``"pose"`` (yaw, pitch and roll in degrees, from the landmarks) and
    ``"quality"`` (a :class:`~prosopo.types.Quality`) need no attribute
    model (see :mod:`prosopo.quality`). A list (or tuple) of images gives
    one list of results per image, with all their faces run as one batch.
    A face too small or blurred for a trustworthy estimate is still
    estimated but marked ``reliable=False`` with the reason in ``warnings``.
    ``anti_spoofing`` as in :func:`extract_faces`.

    >>> a = prosopo.analyze("photo.jpg", actions=("pose", "quality"))[0]
    >>> a.pose["yaw"], a.quality.score   # doctest: +SKIP
    """
    from .attributes import RACE_WARNING, check_actions

    wanted = check_actions(actions)
    if "race" in wanted:
        warnings.warn(RACE_WARNING, UserWarning, stacklevel=2)
    many = isinstance(img, (list, tuple))
    per_image: list[list[tuple[Face, Face, np.ndarray]]] = []
    template = analysis.template(wanted)
    for item in img if many else [img]:
        found = locate(item, detector, template=template, bgr=bgr, enforce_detection=enforce_detection,
                       align=align, min_face_size=min_face_size, max_faces=max_faces, auto_rotate=auto_rotate,
                       anti_spoofing=anti_spoofing)
        per_image.append([(f, g, found.rgb) for f, g in zip(found.faces, found.local)])
    analyses = iter(analysis.analyses([row for rows in per_image for row in rows], wanted, align))
    results = [[next(analyses) for _ in rows] for rows in per_image]
    return results if many else results[0]


def find(
    img: Any,
    db: str | os.PathLike,
    *,
    model: str = DEFAULT_MODEL,
    detector: str = DEFAULT_DETECTOR,
    k: int = 5,
    threshold: float | str | None = None,
    store: str | os.PathLike | None = None,
    sync: bool = True,
    workers: int = 2,
    bgr: bool = False,
    progress: Callable[[int, int], None] | None = None,
    anti_spoofing: bool | str = False,
    **gallery_options: Any,
) -> SearchResults:
    """Who in the photo folder ``db`` looks like the faces in ``img``?

    ``db`` holds one sub-folder per person (``db/alice/*.jpg``) or loose
    photos named after the person. Their embeddings are kept in a gallery
    store, by default ``db/.prosopo/<model>-<detector>`` (or ``store=``),
    and brought up to date on each call: only new or changed photos are
    embedded, deleted ones are dropped. For each face of ``img`` (largest
    first) the result gives up to ``k`` identities within ``threshold``,
    best first (None: a stranger matches someone 1% of the time; see
    :meth:`prosopo.Gallery.search`); ``.to_pandas()`` gives DeepFace's table, and ``.sync`` says
    what the folder sync did; ``progress(done, total)`` is called as
    photos are embedded; ``anti_spoofing`` checks the probe faces (as in
    :func:`extract_faces`). ``gallery_options`` go to
    :meth:`prosopo.Gallery.open` (for example ``key=`` to encrypt the store).
    """
    from .gallery import Gallery

    folder = Path(db).expanduser()
    if not folder.is_dir():
        raise ParameterError(f"db must be a folder of photos; {str(db)!r} is not a folder")
    location = Path(store) if store is not None else folder / ".prosopo" / f"{RECOGNIZERS.entry(model).name}-{detector}"
    with Gallery.open(location, model=model, detector=detector, **gallery_options) as gallery:
        report = gallery.sync_folder(folder, workers=workers, progress=progress) if sync else None
        found = gallery.search(img, k=k, threshold=threshold, bgr=bgr, anti_spoofing=anti_spoofing)
    results = matches_only(found)
    results.sync = report
    return results


def matches_only(found: SearchResults) -> SearchResults:
    """Keep only the matches within the threshold (what :func:`find` returns)."""
    return SearchResults(Search(s.face, tuple(m for m in s.matches if m.is_match), s.threshold, s.model)
                         for s in found)
