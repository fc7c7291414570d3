"""A multi-face tracker in numpy, written for prosopo.

Each track holds its box as centre, width and height, with a velocity per
frame (an alpha-beta filter: constant-velocity prediction, corrected by each
matched detection). On every detection frame the predicted boxes are paired
with the detections, among the pairs that pass the gates, at the least cost
(:func:`~prosopo.streams.assign.assign_allowed`); the cost is their overlap
(IoU), with the cosine similarity of their embeddings added when both have
one. A track is born *tentative* and is *confirmed* after ``min_hits``
matched detection frames; a confirmed track survives
``max_missed`` detection frames without a match (an occlusion, a missed
detection), coasting on its prediction, then is *lost*. A lost track keeps
its embedding for ``reid_frames`` frames: a new track whose first embedding
is close to it (``reid_similarity``) takes its id back, so a face that leaves
and comes back, or reappears away from where it was predicted, keeps its id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from ..types import Box, Face, box_rows, iou_matrix
from .assign import assign_allowed


@dataclass(eq=False)
class Track:
    """One tracked face (mutable: the tracker updates it each frame)."""

    id: int
    state: np.ndarray  # centre x, centre y, width, height
    velocity: np.ndarray  # the same, per frame
    face: Face  # the last matched detection
    first_frame: int
    last_frame: int  # the last frame with a matched detection
    hits: int = 1
    missed: int = 0  # detection frames without a match since the last one
    since_update: int = 0  # frames since the last matched detection
    confirmed: bool = False
    embedding: np.ndarray | None = None
    lost_at: int = -1
    revived_from: int | None = field(default=None)

    @property
    def box(self) -> Box:
        cx, cy, w, h = self.state.tolist()
        return Box(cx - w / 2, cy - h / 2, w, h)

    @property
    def detected(self) -> bool:
        """Whether the box is this frame's detection, not a prediction."""
        return self.since_update == 0


def _states(boxes: list[Box]) -> np.ndarray:
    """Rows centre x, centre y, width, height."""
    rows = box_rows(boxes)
    rows[:, :2] += rows[:, 2:] / 2
    return rows


def _corners(states: np.ndarray) -> np.ndarray:
    """Rows cx, cy, w, h as rows x, y, w, h."""
    return np.hstack([states[:, :2] - states[:, 2:] / 2, states[:, 2:]])


class Tracker:
    """Tracks faces from frame to frame; see the module docstring.

    Call :meth:`step` once per frame, with that frame's detections or None
    on a frame that was not detected (the tracks are only predicted). Track
    ids start at 1 and are never reused.
    """

    def __init__(self, *, min_hits: int = 2, max_missed: int = 15, min_iou: float = 0.2,
                 appearance_weight: float = 0.5, alpha: float = 0.6, beta: float = 0.2,
                 reid_frames: int = 250, reid_similarity: float = 0.4):
        for name, value in (("min_hits", min_hits), ("max_missed", max_missed), ("reid_frames", reid_frames)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "min_hits" else 0):
                raise ParameterError(f"{name} must be a {'positive' if name == 'min_hits' else 'non-negative'} "
                                     f"integer, got {value!r}")
        ratios: tuple[tuple[str, float], ...] = (("min_iou", min_iou), ("alpha", alpha), ("beta", beta),
                                                 ("reid_similarity", reid_similarity))
        for name, ratio in ratios:
            if not 0.0 <= ratio <= 1.0:
                raise ParameterError(f"{name} must lie in [0, 1], got {ratio!r}")
        self.min_hits = min_hits
        self.max_missed = max_missed
        self.min_iou = min_iou
        self.appearance_weight = appearance_weight
        self.alpha = alpha
        self.beta = beta
        self.reid_frames = reid_frames
        self.reid_similarity = reid_similarity
        self.tracks: list[Track] = []  # alive: tentative and confirmed
        self.lost: list[Track] = []  # confirmed tracks lost with an embedding, kept for re-identification
        self.frame = -1
        self._next_id = 1

    # -- per frame ----------------------------------------------------------

    def expected(self) -> list[Box]:
        """Where the next :meth:`step` will predict the alive tracks' boxes
        (tentative and confirmed), to look for their faces there."""
        out = []
        for t in self.tracks:
            cx, cy, w, h = (float(v) for v in t.state + t.velocity)
            w, h = max(w, 1.0), max(h, 1.0)
            out.append(Box(cx - w / 2, cy - h / 2, w, h))
        return out

    def step(self, faces: list[Face] | None, embeddings: list[np.ndarray | None] | None = None
             ) -> tuple[list[Track], list[Track]]:
        """Advance one frame. ``faces``: this frame's detections (None: not
        detected this frame); ``embeddings``: optional unit vectors, one per
        face or None. Returns the tracks that are alive and confirmed, and the
        confirmed tracks lost at this frame."""
        self.frame += 1
        # every prediction at once: 70 tracks cost 0.3 ms one by one
        preds = np.array([t.state for t in self.tracks]).reshape(-1, 4)
        preds += np.array([t.velocity for t in self.tracks]).reshape(-1, 4)
        np.maximum(preds[:, 2:], 1.0, out=preds[:, 2:])
        for t, state in zip(self.tracks, preds):
            t.state = state
            t.since_update += 1
        ended: list[Track] = []
        if faces is not None:
            ended = self._associate(faces, embeddings or [None] * len(faces), preds)
        self.lost = [t for t in self.lost if self.frame - t.lost_at <= self.reid_frames]
        return [t for t in self.tracks if t.confirmed], ended

    def _associate(self, faces: list[Face], embeddings: list[np.ndarray | None], preds: np.ndarray) -> list[Track]:
        """Pair this frame's ``faces`` with the tracks, whose predicted states
        are the rows of ``preds``."""
        dets = _states([f.box for f in faces])
        unmatched = set(range(len(faces)))
        if self.tracks and faces:
            score = iou_matrix(_corners(preds), _corners(dets))
            gate = score >= self.min_iou
            # a track that coasted a while may have drifted: accept a detection
            # of about its size near its prediction too
            dist = np.hypot(preds[:, None, 0] - dets[None, :, 0], preds[:, None, 1] - dets[None, :, 1])
            size = np.maximum(preds[:, None, 2], dets[None, :, 2])
            ratio = preds[:, None, 2] / np.maximum(dets[None, :, 2], 1e-9)
            missed = np.array([t.missed for t in self.tracks], np.float64)
            reach = np.minimum(0.6 + 0.1 * missed, 1.2)[:, None]
            near = (dist < reach * size) & (ratio > 0.67) & (ratio < 1.5)
            gate |= near
            score = np.maximum(score, np.where(near, 0.3 * (1 - dist / size), 0.0))
            looked = [(j, e) for j, e in enumerate(embeddings) if e is not None]
            for i, t in enumerate(self.tracks if looked else ()):
                if t.embedding is None:
                    continue
                for j, e in looked:
                    sim = float(t.embedding @ e)
                    score[i, j] += self.appearance_weight * sim
                    if sim < 0.1:  # clearly another person
                        gate[i, j] = False
            # recently seen tracks first: a small penalty per missed frame
            score -= 0.01 * missed[:, None]
            for i, j in assign_allowed(-score, gate):
                self._update(self.tracks[i], faces[j], dets[j], embeddings[j])
                unmatched.discard(j)
        ended: list[Track] = []
        alive: list[Track] = []
        for t in self.tracks:
            if t.last_frame != self.frame:
                t.missed += 1
                if not t.confirmed or t.missed > self.max_missed:
                    if t.confirmed:
                        t.lost_at = self.frame
                        if t.embedding is not None:  # without one, it cannot be recognised again
                            self.lost.append(t)
                        ended.append(t)
                    continue
            alive.append(t)
        for j in sorted(unmatched):
            alive.append(self._birth(faces[j], dets[j], embeddings[j]))
        self.tracks = alive
        return ended

    def _update(self, t: Track, face: Face, det: np.ndarray, embedding: np.ndarray | None) -> None:
        residual = det - t.state
        if t.hits == 1:  # the second detection gives the first velocity
            t.velocity = residual / max(t.since_update, 1)
            t.state = det.copy()
        else:
            t.state = t.state + self.alpha * residual
            t.velocity = t.velocity + self.beta * residual / max(t.since_update, 1)
        t.face = face
        t.hits += 1
        t.missed = 0
        t.since_update = 0
        t.last_frame = self.frame
        if not t.confirmed and t.hits >= self.min_hits:
            t.confirmed = True
        if embedding is not None:
            self._blend(t, embedding)

    def _birth(self, face: Face, det: np.ndarray, embedding: np.ndarray | None) -> Track:
        t = Track(self._next_id, det.copy(), np.zeros(4), face, self.frame, self.frame,
                  confirmed=self.min_hits <= 1)
        self._next_id += 1
        if embedding is not None:
            self._blend(t, embedding)
        return t

    # -- appearance -----------------------------------------------------------

    def add_embedding(self, track: Track, embedding: np.ndarray, weight: float = 0.5) -> Track | None:
        """Blend a new unit ``embedding`` of ``track``'s face into its
        appearance. On its first embedding, a lost track (or a confirmed one
        that is not matched at this frame) that looks like the same person
        gives ``track`` its id; that earlier track is returned (else None)."""
        first = track.embedding is None
        self._blend(track, embedding, weight)
        if not first or track.revived_from is not None:
            return None
        return self._reidentify(track)

    @staticmethod
    def _blend(track: Track, embedding: np.ndarray, weight: float = 0.5) -> None:
        vector = np.asarray(embedding, dtype=np.float64).ravel()
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        if track.embedding is None:
            track.embedding = vector
        else:
            mixed = (1 - weight) * track.embedding + weight * vector
            track.embedding = mixed / max(float(np.linalg.norm(mixed)), 1e-12)

    def _reidentify(self, track: Track) -> Track | None:
        assert track.embedding is not None
        candidates = list(self.lost)  # each has an embedding
        candidates += [t for t in self.tracks if t is not track and t.confirmed and t.embedding is not None
                       and t.since_update > 0 and t.first_frame < track.first_frame]
        best, best_sim = None, self.reid_similarity
        for t in candidates:
            assert t.embedding is not None
            sim = float(t.embedding @ track.embedding)
            if sim > best_sim:
                best, best_sim = t, sim
        if best is None:
            return None
        if best in self.lost:
            self.lost.remove(best)
        else:
            self.tracks.remove(best)
        track.revived_from = track.id
        track.id = best.id
        track.first_frame = best.first_frame
        track.confirmed = track.confirmed or best.confirmed
        mixed = track.embedding + (best.embedding if best.embedding is not None else 0)
        track.embedding = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
        return best
