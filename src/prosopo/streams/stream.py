"""``video()``: faces followed through a stream of frames, each track named
by votes over its best views.

Per frame: detection on the whole frame every ``every`` frames and, between,
only near where the tracker expects its faces (:mod:`.follow`); tracking;
and recognition only when it can change something: a track is embedded when it is confirmed and again when a clearly better view of it
arrives (larger, sharper, a higher detector score), at most ``max_views``
times. Each view votes for the gallery identity it matches (or for
"unknown"), weighted by its quality; the track's identity is the heaviest
vote, re-decided after each new view. Attributes (``actions``) are
estimated on a track's view whenever it becomes the track's best.

With ``anonymize``, every face the tracker follows is masked in the frame
(:func:`prosopo.anonymizer.mask_boxes`): this frame's detections, at the
high-recall operating point, and the predicted boxes of tracks that coast
through a missed detection, so one miss does not unmask a face.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from .. import anonymizer
from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..detectors import DETECTORS
from ..errors import ParameterError
from ..pipeline import embed_faces, find_faces
from ..quality import assess, upper_bound
from ..runtime.onnx_session import side_by_side
from ..types import Analysis, Box, Face, Point
from .follow import MAX_TILES, detect_near
from .sheet import BestShot, thumbnail
from .sources import CaptureSource, FrameSource, RawFrame, ReadAhead, open_source
from .tracker import Track, Tracker

if TYPE_CHECKING:
    from ..gallery import Gallery

Event = dict[str, Any]
# a new view is embedded when its quality beats the track's best by this factor
BETTER_VIEW = 1.25
# faces smaller than this (pixels, shorter side) are tracked but not recognised
MIN_RECOGNITION_SIZE = 24.0
# the detector's score threshold near a track (streams.follow): the face is
# expected there. On crowd.mp4 (1080p), of the faces a whole-frame detection
# finds and found in the frame before, 94.2% are found near their track at
# the detector's own 0.5, 96.7% at 0.35, 97.3% at 0.3
FOLLOW_SCORE = 0.35
# best shots of ended tracks kept with best_shots=True (about 37 KB each)
MAX_BEST_SHOTS = 1000
# a file's frames detected this many at a time, ahead of the tracking. On 2
# cores, SCRFD's high-recall passes over 640x360 frames took 7.3 ms a frame
# one at a time and 5.3 two at a time (ONNX Runtime spreads one small
# image poorly over two threads, and the Python around it waits)
DETECT_WORKERS = 2


@dataclass(frozen=True)
class TrackedFace:
    """One track in one frame. ``detected`` is False when the box is the
    tracker's prediction (no detection matched this frame, or the frame was
    not detected); ``identity`` is None until decided, and for a face the
    gallery does not know; ``confidence`` goes with it. ``attributes``: with
    ``actions``, those estimated on the track's best view (the keys of
    :meth:`prosopo.Analysis.to_dict` without the face's), else None."""

    track_id: int
    box: Box
    score: float
    landmarks: tuple[Point, ...] | None
    detected: bool
    quality: float
    identity: str | None = None
    confidence: float | None = None
    attributes: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "box": self.box.to_dict(), "score": round(float(self.score), 4),
                "landmarks": [[round(x, 2), round(y, 2)] for x, y in self.landmarks] if self.landmarks else None,
                "detected": self.detected, "quality": round(self.quality, 4), "identity": self.identity,
                "confidence": None if self.confidence is None else round(self.confidence, 6),
                "attributes": self.attributes}


@dataclass(frozen=True)
class FrameResult:
    """The tracks of one frame (confirmed tracks, alive), with the events it
    raised. ``detected``: whether the detector ran on the whole frame (not
    only near the tracks, or not at all).
    ``frame``: the frame's RGB pixels, masked with ``anonymize``; kept only
    with ``keep_frames=True`` or ``anonymize`` (else None, so that memory
    stays flat). ``masked``: the rectangles masked with ``anonymize`` (None
    without)."""

    index: int
    timestamp: float
    tracks: tuple[TrackedFace, ...]
    detected: bool
    events: tuple[Event, ...] = ()
    frame: np.ndarray | None = field(default=None, compare=False, repr=False)
    masked: tuple[Box, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"frame": self.index, "timestamp": round(self.timestamp, 4), "detected": self.detected,
               "tracks": [t.to_dict() for t in self.tracks]}
        if self.masked is not None:
            out["masked"] = [b.to_dict() for b in self.masked]
        return out


@dataclass
class VideoStats:
    """What a stream did so far: frames read and skipped (``skipped``:
    ``(frame index, reason)``), detector runs on whole frames
    (``detections``) and near the tracks only (``followed``), embeddings
    computed, tracks started, seconds spent."""

    frames: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    detections: int = 0
    followed: int = 0
    embeddings: int = 0
    tracks: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "skipped": [{"frame": i, "reason": r} for i, r in self.skipped],
                "detections": self.detections, "followed": self.followed, "embeddings": self.embeddings,
                "tracks": self.tracks, "seconds": round(self.seconds, 4), "fps": round(self.fps, 2)}


@dataclass
class _Record:
    """Per-track decisions: views embedded, votes, the identity."""

    first_timestamp: float
    last_timestamp: float
    best_quality: float = 0.0
    best_box: Box | None = None
    best_frame: int = -1
    views: int = 0
    last_view_frame: int = -10**9
    votes: dict[str | None, float] = field(default_factory=dict)
    confidences: dict[str, float] = field(default_factory=dict)
    identity: str | None = None
    started: bool = False
    attributes: dict[str, Any] | None = None
    thumbnail: np.ndarray | None = None  # of the best view, with best_shots


def detect_whole(rgb: np.ndarray, detector: str, recall: bool | str | anonymizer.OperatingPoint,
                 min_face_size: float, max_faces: int | None) -> tuple[list[Face], list[Face]]:
    """A whole frame's faces to track (the largest ``max_faces``), and every
    face found (at the high-recall operating point with ``recall``)."""
    if recall is False:
        faces = find_faces(rgb, detector, min_face_size=min_face_size, max_faces=max_faces)
        return faces, faces
    found = [f for f in anonymizer.find_faces(rgb, detector, recall=recall)
             if min(f.box.w, f.box.h) >= min_face_size]
    found.sort(key=lambda f: f.box.area, reverse=True)
    return found[:max_faces] if max_faces else found, found


def detect_ahead(rgb: np.ndarray, **settings: Any) -> tuple[list[Face], list[Face]]:
    """:func:`detect_whole` in one of the reader's threads, which detect
    :data:`DETECT_WORKERS` frames side by side, each with its share of the
    cores."""
    with side_by_side(DETECT_WORKERS):
        return detect_whole(rgb, **settings)


class VideoStream(Iterator[FrameResult]):
    """The iterator :func:`video` returns: :class:`FrameResult` per usable
    frame; :attr:`stats` as it goes; the ``track_ended`` events of the tracks
    still alive at the end are passed to ``on_event`` and kept in
    :attr:`final_events`; :attr:`best_shots` with ``best_shots=True``.
    Close it (or use ``with``) to release a camera before the end. An error
    of the detector ends the stream (a file's frames may be detected ahead,
    by its reader's threads)."""

    def __init__(self, source: FrameSource, gallery: Gallery | None, *, detector: str, model: str, every: int,
                 max_faces: int | None, min_face_size: float, threshold: float | str | None,
                 tracker: Tracker, reid: bool, max_views: int,
                 on_event: Callable[[Event], None] | None, actions: tuple[str, ...] = (),
                 anonymize: str | None = None, expand: float = 1.0,
                 recall: bool | str | anonymizer.OperatingPoint = False,
                 keep_mode: str | None = None, keep_frames: bool = False, best_shots: bool = False,
                 follow: bool = False):
        self.source = source
        self.gallery = gallery
        self.detector = detector
        self.model = model
        self.every = every
        self.follow = follow
        self.max_faces = max_faces
        self.min_face_size = min_face_size
        self.threshold = threshold
        self.tracker = tracker
        self.reid = reid
        self.max_views = max_views
        self.on_event = on_event
        self.actions = actions
        self.anonymize = anonymize
        self.expand = expand
        self.recall = recall
        self.keep_mode = keep_mode
        self.keep_frames = keep_frames or anonymize is not None
        self.best_shots_kept = best_shots
        self.stats = VideoStats()
        self.final_events: list[Event] = []
        self._records: dict[int, _Record] = {}
        self._lost_records: dict[int, _Record] = {}
        self._shots: dict[int, BestShot] = {}  # of the tracks ended, with best_shots
        # a file is decoded a few frames ahead, in a thread, while this one
        # works; when every frame is detected, the reader's pool detects them
        # too, DETECT_WORKERS at a time (detection depends on the frame alone,
        # and the tracking and masking here then overlap it). The threads get
        # a function of the settings, not of this stream, so that an
        # abandoned stream is collected and its threads stop.
        self._reader = None
        if isinstance(source, CaptureSource) and not source.live:
            work = partial(detect_ahead, detector=detector, recall=recall, min_face_size=min_face_size,
                           max_faces=max_faces) if every == 1 else None
            self._reader = ReadAhead(source, work=work, workers=DETECT_WORKERS)
        self._frames: Iterator[RawFrame] = self._reader or iter(source)
        self._done = False
        self._processed = 0
        self._last_timestamp = 0.0

    def __iter__(self) -> VideoStream:
        return self

    @property
    def fps(self) -> float:
        """The source's frame rate (the one timestamps use)."""
        return self.source.fps

    @property
    def best_shots(self) -> list[BestShot]:
        """With ``best_shots=True``: each track's best view so far (a
        thumbnail, masked with ``anonymize``), by track id, the last
        :data:`MAX_BEST_SHOTS` tracks ended and those alive; else empty."""
        shots = dict(self._shots)
        for track_id, record in self._records.items():
            if record.started and record.thumbnail is not None:
                shots[track_id] = _shot(track_id, record)
        return [shots[k] for k in sorted(shots)]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stop()
        self.source.close()
        self._done = True

    def __next__(self) -> FrameResult:
        if self._done:
            raise StopIteration
        started = time.perf_counter()
        try:
            while True:
                try:
                    raw = next(self._frames)
                except StopIteration:
                    self._finish()
                    raise
                # counted as used: a file's reader may be a few frames ahead
                self.stats.frames = raw.index + 1
                if raw.rgb is None:
                    self.stats.skipped.append((raw.index, raw.problem or "unusable frame"))
                else:
                    return self._process(raw.index, raw.timestamp, raw.rgb, raw.ahead)
        finally:
            self.stats.seconds += time.perf_counter() - started

    # -- one frame ------------------------------------------------------------

    def _process(self, index: int, timestamp: float, rgb: np.ndarray,
                 detected: tuple[list[Face], list[Face]] | None = None) -> FrameResult:
        """One frame; ``detected``: :meth:`_detect`'s result, if the
        reader's threads ran it already."""
        detect = self._processed % self.every == 0
        self._processed += 1
        self._last_timestamp = timestamp
        faces: list[Face] | None = None
        found: list[Face] = []  # every face detected, also those past max_faces
        if not detect and self.follow and self.tracker.tracks:
            if len(self.tracker.tracks) <= MAX_TILES:
                faces = found = self._near(rgb)
                self.stats.followed += 1
            else:  # so many tiles would cost more than the whole frame
                detect = True
        if detect:
            faces, found = detected if detected is not None else self._detect(rgb)
            self.stats.detections += 1
        alive, ended = self.tracker.step(faces)
        events: list[Event] = [self._ended(t, index, timestamp) for t in ended]
        improved = self._recognise(rgb, alive, index, timestamp, events)
        frame, masked = rgb, None
        if self.anonymize is not None:
            frame, masked = self._mask(rgb, found)
        if self.best_shots_kept:
            for t in improved:
                self._records[t.id].thumbnail = thumbnail(frame, t.face.box)
        alive = [t for t in self.tracker.tracks if t.confirmed]
        out = []
        for t in alive:
            record = self._records.get(t.id)
            if record is None:
                record = self._records[t.id] = _Record(timestamp, timestamp)
            if not record.started:
                record.started = True
                self.stats.tracks += 1
                events.append({"event": "track_started", "frame": index, "timestamp": round(timestamp, 4),
                               "track": t.id, "box": t.face.box.to_dict(), "score": round(float(t.face.score), 4)})
            if t.detected:
                record.last_timestamp = timestamp
            out.append(self._tracked(t, record))
        # an identity decided in this frame is announced after the track's start
        events.sort(key=lambda e: {"track_ended": 0, "track_started": 1}.get(e["event"], 2))
        for event in events:
            if self.on_event is not None:
                self.on_event(event)
        return FrameResult(index, timestamp, tuple(out), detect, tuple(events),
                           frame if self.keep_frames else None, masked)

    def _detect(self, rgb: np.ndarray) -> tuple[list[Face], list[Face]]:
        return detect_whole(rgb, self.detector, self.recall, self.min_face_size, self.max_faces)

    def _near(self, rgb: np.ndarray) -> list[Face]:
        """The faces found near where the tracker expects its tracks."""
        near = detect_near(DETECTORS.get(self.detector), rgb, self.tracker.expected(), FOLLOW_SCORE)
        faces = [f for f in near if min(f.box.w, f.box.h) >= self.min_face_size]
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces[:self.max_faces] if self.max_faces else faces

    def _mask(self, rgb: np.ndarray, found: list[Face]) -> tuple[np.ndarray, tuple[Box, ...]]:
        """``rgb`` with the faces masked: every track alive (tentative ones
        too) at its detection or, coasting, its prediction, and the faces
        detected that no track follows; with ``keep_mode``, by identity."""
        boxes, followed = [], set()
        for t in self.tracker.tracks:
            if t.detected:
                followed.add(id(t.face))
            record = self._records.get(t.id)
            known = record is not None and record.identity is not None
            if self.keep_mode is None or known == (self.keep_mode == "only"):
                boxes.append(t.face.box if t.detected else t.box)
        if self.keep_mode != "only":
            boxes += [f.box for f in found if id(f) not in followed]
        out, _, rects = anonymizer.mask_boxes(rgb, boxes, mode=self.anonymize or "blur", expand=self.expand)
        return out, tuple(r for r in rects if r.w > 0 and r.h > 0)  # a prediction may have left the frame

    def _tracked(self, t: Track, record: _Record) -> TrackedFace:
        face = t.face
        box = face.box if t.detected else t.box
        confidence = record.confidences.get(record.identity) if record.identity else None
        return TrackedFace(t.id, box, float(face.score), face.landmarks if t.detected else None, t.detected,
                           record.best_quality, record.identity, confidence, record.attributes)

    def _recognise(self, rgb: np.ndarray, alive: list[Track], index: int, timestamp: float,
                   events: list[Event]) -> list[Track]:
        """Take the tracks' new or clearly better views: embed them (with a
        gallery, or for re-identification) and vote; estimate attributes on
        the views that become a track's best. Returns the tracks whose best
        view changed."""
        if self.gallery is None and not self.reid and not self.actions and not self.best_shots_kept:
            return []
        chosen: list[tuple[Track, float]] = []
        for t in alive:
            if not t.detected or min(t.face.box.w, t.face.box.h) < MIN_RECOGNITION_SIZE:
                continue
            record = self._records.get(t.id)
            if record is None or record.views == 0:  # its first view
                chosen.append((t, assess(rgb, t.face).score))
                continue
            if record.views >= self.max_views or index - record.last_view_frame < 2:
                continue
            if upper_bound(t.face) <= record.best_quality * BETTER_VIEW:
                continue  # cannot be clearly better: not worth assessing
            quality = assess(rgb, t.face).score
            if quality > record.best_quality * BETTER_VIEW:
                chosen.append((t, quality))
        if not chosen:
            return []
        matches: list[Any] = [()] * len(chosen)
        if self.gallery is not None or self.reid:
            vectors = embed_faces(rgb, [t.face for t, _ in chosen], self.model, align=True)
            self.stats.embeddings += len(chosen)
            for (t, _), vector in zip(chosen, vectors):
                before = t.id
                revived = self.tracker.add_embedding(t, vector) if self.reid else None
                if revived is not None:
                    self._merge(before, t.id, timestamp, index, events)
            if self.gallery is not None:
                matches = self.gallery.search_embeddings(vectors, k=1, threshold=self.threshold)
        improved = []
        for (t, quality), found in zip(chosen, matches):
            record = self._records.get(t.id)
            if record is None:
                record = self._records[t.id] = _Record(timestamp, timestamp)
            record.views += 1
            record.last_view_frame = index
            if quality > record.best_quality:
                record.best_quality, record.best_box, record.best_frame = quality, t.face.box, index
                improved.append(t)
            if self.gallery is None:
                continue
            best = found[0] if found and found[0].is_match else None
            name = best.identity if best else None
            record.votes[name] = record.votes.get(name, 0.0) + max(quality, 1e-6)
            if best is not None:
                record.confidences[best.identity] = max(record.confidences.get(best.identity, 0.0), best.confidence)
            decided = max(record.votes.items(), key=lambda kv: kv[1])[0]
            if decided != record.identity or (decided is not None and record.views == 1):
                record.identity = decided
                if decided is not None or record.views > 1:
                    events.append({"event": "identified", "frame": index, "timestamp": round(timestamp, 4),
                                   "track": t.id, "identity": decided,
                                   "confidence": round(record.confidences[decided], 6) if decided else None,
                                   "votes": _votes(record)})
        if self.actions and improved:
            from ..attributes.analysis import analyze_faces

            for t, analysis in zip(improved, analyze_faces(rgb, [t.face for t in improved], actions=self.actions)):
                record = self._records[t.id]
                record.attributes = _attributes(analysis)
                events.append({"event": "attributes", "frame": index, "timestamp": round(timestamp, 4),
                               "track": t.id, "attributes": record.attributes})
        return improved

    def _merge(self, temporary: int, kept: int, timestamp: float, index: int, events: list[Event]) -> None:
        """A new track turned out to be an earlier one (re-identified)."""
        fresh = self._records.pop(temporary, None)
        old = self._lost_records.pop(kept, None)
        if old is not None:  # it had ended: it resumes
            old.started = True
            self._records[kept] = old
            events.append({"event": "track_started", "frame": index, "timestamp": round(timestamp, 4),
                           "track": kept, "resumed": True})
        elif kept not in self._records and fresh is not None:
            self._records[kept] = fresh

    def _ended(self, t: Track, index: int, timestamp: float) -> Event:
        record = self._records.pop(t.id, None) or _Record(timestamp, timestamp)
        self._lost_records[t.id] = record
        if record.thumbnail is not None:
            self._shots[t.id] = _shot(t.id, record)
            if len(self._shots) > MAX_BEST_SHOTS:  # a camera that runs for days: the oldest go
                del self._shots[min(self._shots)]
        # forget records of tracks the tracker can no longer bring back
        kept = {lost.id for lost in self.tracker.lost}
        for old in [k for k in self._lost_records if k not in kept]:
            del self._lost_records[old]
        return {"event": "track_ended", "frame": index, "timestamp": round(timestamp, 4), "track": t.id,
                "first_timestamp": round(record.first_timestamp, 4),
                "last_timestamp": round(record.last_timestamp, 4),
                "identity": record.identity,
                "best_shot": {"frame": record.best_frame,
                              "box": record.best_box.to_dict() if record.best_box else None,
                              "quality": round(record.best_quality, 4)},
                "views": record.views, "votes": _votes(record), "attributes": record.attributes}

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        for t in self.tracker.tracks:
            if t.confirmed:
                event = self._ended(t, self.source.frames - 1, self._last_timestamp)
                self.final_events.append(event)
                if self.on_event is not None:
                    self.on_event(event)
        self.stats.frames = self.source.frames
        self.stats.skipped = list(self.source.skipped)


def _shot(track_id: int, record: _Record) -> BestShot:
    assert record.thumbnail is not None and record.best_box is not None
    return BestShot(track_id, record.best_frame, record.best_box, record.best_quality, record.thumbnail,
                    record.identity, record.attributes)


# keys of Analysis.to_dict() that describe the face, not its attributes
_FACE_KEYS = ("box", "score", "landmarks", "is_real", "spoof_score")


def _attributes(analysis: Analysis) -> dict[str, Any]:
    return {k: v for k, v in analysis.to_dict().items() if k not in _FACE_KEYS}


def _votes(record: _Record) -> dict[str, float]:
    return {(name if name is not None else "unknown"): round(weight, 4) for name, weight in record.votes.items()}


def video(
    source: Any,
    gallery: Gallery | None = None,
    *,
    detector: str | None = None,
    model: str | None = None,
    every: int = 1,
    follow: bool = True,
    max_faces: int | None = None,
    min_face_size: float = 0,
    threshold: float | str | None = None,
    bgr: bool = False,
    allow_urls: bool = False,
    read_timeout: float = 10.0,
    fps: float | None = None,
    min_hits: int = 2,
    max_missed: int | None = None,
    reid: bool = True,
    max_views: int = 6,
    on_event: Callable[[Event], None] | None = None,
    actions: Iterable[str] | str | None = None,
    anonymize: str | None = None,
    expand: float = 1.0,
    recall: bool | str | anonymizer.OperatingPoint | None = None,
    keep_mode: str | None = None,
    keep_frames: bool = False,
    best_shots: bool = False,
) -> VideoStream:
    """Follow the faces of a video: an iterator of :class:`FrameResult`.

    ``source``: a video file path, a camera index, an ``rtsp://`` or
    ``http(s)://`` URL (only with ``allow_urls=True``), or any iterable of
    numpy frames (RGB; BGR with ``bgr=True``), timestamped at ``fps`` (the
    file's own rate for a file). With a ``gallery``, each track is named by
    votes of its best views (``threshold`` as in
    :meth:`~prosopo.gallery.Gallery.search`); unknown faces stay ``None``.
    ``every``: run the detector on the whole of every n-th frame; between,
    with ``follow`` (the default, for the detectors with landmarks), it looks
    only near where the tracker expects each face (:mod:`prosopo.streams.follow`:
    a new face waits for the next whole-frame detection), else the tracker
    only predicts. ``min_hits``: detections before a track is reported;
    ``max_missed``: detection frames a track survives without a detection
    (default: 0.6 s worth). ``reid``: embed each new track once to give back
    the id of a face that left and came back. ``on_event`` receives each
    event dict as it happens (see :class:`~prosopo.streams.JsonLinesWriter`).

    ``actions`` (as in :func:`prosopo.analyze`: ``"age"``, ``"gender"``,
    ``"emotion"``, ...) are estimated on each track's view whenever it
    becomes the track's best (not every frame): ``TrackedFace.attributes``,
    an ``attributes`` event, and ``track_ended`` carries them.

    ``anonymize`` (``"blur"``, ``"pixelate"``, ``"solid"`` or ``"ellipse"``)
    masks every tracked face in ``FrameResult.frame``, at its detection or,
    for a track coasting through a missed detection, its predicted box, with
    the margins of :func:`prosopo.anonymize` (scaled by ``expand``).
    With ``anonymize`` the detector runs on every frame (``every`` must be
    1): a face that appears between two detections would go unmasked.
    ``recall``: the detection's operating point as in
    :func:`prosopo.anonymize` (default: ``True`` with ``anonymize``, else
    ``False``, the detector's usual point). ``keep_mode`` (with a
    ``gallery``): ``"except"`` leaves the tracks named as enrolled people
    visible, ``"only"`` masks only them (a face is then visible until its
    track is named, about ``min_hits`` frames).

    ``keep_frames=True`` keeps each frame's pixels in ``FrameResult.frame``
    (always with ``anonymize``). ``best_shots=True`` keeps a thumbnail of
    each track's best view (:attr:`VideoStream.best_shots`, for
    :func:`~prosopo.streams.contact_sheet`).

    Example::

        for frame in prosopo.video("clip.mp4", gallery):
            for t in frame.tracks:
                print(frame.timestamp, t.track_id, t.identity)
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ParameterError(f"every must be a positive integer, got {every!r}")
    if max_faces is not None and (isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1):
        raise ParameterError(f"max_faces must be a positive integer or None, got {max_faces!r}")
    if not isinstance(follow, bool):
        raise ParameterError(f"follow must be True or False, got {follow!r}")
    if isinstance(max_views, bool) or not isinstance(max_views, int) or max_views < 1:
        raise ParameterError(f"max_views must be a positive integer, got {max_views!r}")
    if on_event is not None and not callable(on_event):
        raise ParameterError(f"on_event must be a callable or None, got {type(on_event).__name__}")
    if isinstance(min_face_size, bool) or not isinstance(min_face_size, (int, float)) or min_face_size < 0:
        raise ParameterError(f"min_face_size must be a number >= 0, got {min_face_size!r}")
    wanted: tuple[str, ...] = ()
    if actions is not None:
        from ..attributes import check_actions

        wanted = check_actions(actions)
    if anonymize is not None and anonymize not in anonymizer.MODES:
        raise ParameterError(f"unknown anonymisation mode {anonymize!r}; use one of {', '.join(anonymizer.MODES)}")
    if anonymize is not None and every != 1:
        raise ParameterError(f"anonymize needs the detector on every frame (every=1, not {every}): a face that "
                             "appears between two detections would go unmasked")
    chosen_recall = anonymize is not None if recall is None else recall
    anonymizer.check_recall(chosen_recall)
    if isinstance(expand, bool) or not isinstance(expand, (int, float)) or not 0 <= expand <= 10:
        raise ParameterError(f"expand must be a number from 0 (the detector's box) to 10, got {expand!r}")
    if keep_mode is not None:
        if keep_mode not in anonymizer.KEEP_MODES:
            raise ParameterError(f"keep_mode must be one of {', '.join(anonymizer.KEEP_MODES)} or None, "
                                 f"got {keep_mode!r}")
        if anonymize is None or gallery is None:
            raise ParameterError("keep_mode needs anonymize and a gallery (whose people it keeps or masks)")
    if gallery is not None:
        if not hasattr(gallery, "search_embeddings"):
            raise ParameterError(f"gallery must be a prosopo Gallery or None, got {type(gallery).__name__}")
        if model is not None and model != gallery.model:
            raise ParameterError(f"the gallery was built with model {gallery.model!r}, not {model!r}")
        gallery.threshold(threshold)  # a bad threshold fails before the video is opened
    chosen_detector = detector or (gallery.detector if gallery is not None else DEFAULT_DETECTOR)
    chosen_model = gallery.model if gallery is not None else (model or DEFAULT_MODEL)
    follows = follow and every > 1 and hasattr(DETECTORS.backend_class(chosen_detector), "fine_side")
    frames = open_source(source, bgr=bgr, allow_urls=allow_urls, read_timeout=read_timeout, fps=fps)
    if max_missed is None:  # counted in frames the detector looked at
        max_missed = max(5, round(0.6 * frames.fps / (1 if follows else every)))
    tracker = Tracker(min_hits=min_hits, max_missed=max_missed, reid_frames=max(1, round(10 * frames.fps)))
    return VideoStream(frames, gallery, detector=chosen_detector, model=chosen_model, every=every,
                       max_faces=max_faces, min_face_size=min_face_size, threshold=threshold, tracker=tracker,
                       reid=reid, max_views=max_views, on_event=on_event, actions=wanted, anonymize=anonymize,
                       expand=float(expand), recall=chosen_recall,
                       keep_mode=keep_mode, keep_frames=bool(keep_frames), best_shots=bool(best_shots),
                       follow=follows)
