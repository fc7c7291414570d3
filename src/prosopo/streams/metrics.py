"""Tracking metrics, written here: CLEAR MOT (MOTA, ID switches) and the
identity measures (IDF1) over ground truth with regions to ignore.

Ground truth per frame: ``(true id, box, ignore)``; an *ignored* object (a
face mostly hidden) is neither missed when no track covers it nor a false
positive when one does. Hypotheses per frame: ``(track id, box)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..types import Box, box_rows, iou_matrix
from .assign import assign

Truth = Sequence[Sequence[tuple[Hashable, Box, bool]]]
Hypotheses = Sequence[Sequence[tuple[Hashable, Box]]]


@dataclass(frozen=True)
class TrackingScores:
    mota: float
    idf1: float
    id_switches: int
    false_positives: int
    misses: int
    objects: int  # ground-truth objects over all frames (not ignored)
    true_ids: int
    track_ids: int
    idtp: int

    def to_dict(self) -> dict[str, Any]:
        return {"mota": round(self.mota, 4), "idf1": round(self.idf1, 4), "id_switches": self.id_switches,
                "false_positives": self.false_positives, "misses": self.misses, "objects": self.objects,
                "true_ids": self.true_ids, "track_ids": self.track_ids, "idtp": self.idtp}


def _pairs(gts: list[Box], hyps: list[Box], min_iou: float) -> list[tuple[int, int]]:
    if not gts or not hyps:
        return []
    iou = iou_matrix(box_rows(gts), box_rows(hyps))
    cost = np.where(iou >= min_iou, 1.0 - iou, 10.0)
    return [(i, j) for i, j in assign(cost) if iou[i, j] >= min_iou]


def tracking_scores(truth: Truth, hypotheses: Hypotheses, *, min_iou: float = 0.5) -> TrackingScores:
    """MOTA, IDF1 and ID switches of ``hypotheses`` against ``truth`` (both
    one list per frame, the same number of frames)."""
    if len(truth) != len(hypotheses):
        raise ValueError(f"truth has {len(truth)} frames, hypotheses {len(hypotheses)}")
    last: dict[Hashable, Hashable] = {}  # true id -> the track it was last matched to
    switches = fps = misses = objects = 0
    together: dict[tuple[Hashable, Hashable], int] = defaultdict(int)  # frames (true, track) overlap
    true_frames: dict[Hashable, int] = defaultdict(int)
    track_frames: dict[Hashable, int] = defaultdict(int)
    for gt_frame, hyp_frame in zip(truth, hypotheses):
        counted = [(g, b) for g, b, ignore in gt_frame if not ignore]
        ignored = [b for _, b, ignore in gt_frame if ignore]
        hyps = list(hyp_frame)
        # identity measures: every frame where a true object and a track overlap
        for g, gb in counted:
            true_frames[g] += 1
        hyp_on_ignored = set()
        for k, (_, hb) in enumerate(hyps):
            if not any(gb.iou(hb) >= min_iou for _, gb in counted) and any(ib.iou(hb) >= min_iou for ib in ignored):
                hyp_on_ignored.add(k)
        for k, (h, _) in enumerate(hyps):
            if k not in hyp_on_ignored:
                track_frames[h] += 1
        for g, gb in counted:
            for k, (h, hb) in enumerate(hyps):
                if k not in hyp_on_ignored and gb.iou(hb) >= min_iou:
                    together[(g, h)] += 1
        # CLEAR MOT: keep last frame's correspondences that still hold, then match the rest
        matched: dict[int, int] = {}
        hyp_index = {h: k for k, (h, _) in enumerate(hyps)}
        for i, (g, gb) in enumerate(counted):
            previous = last.get(g)
            kept = hyp_index.get(previous) if previous is not None else None
            if kept is not None and kept not in matched.values() and gb.iou(hyps[kept][1]) >= min_iou:
                matched[i] = kept
        rest_g = [i for i in range(len(counted)) if i not in matched]
        rest_h = [k for k in range(len(hyps)) if k not in matched.values()]
        for a, b in _pairs([counted[i][1] for i in rest_g], [hyps[k][1] for k in rest_h], min_iou):
            matched[rest_g[a]] = rest_h[b]
        for i, k in matched.items():
            g, h = counted[i][0], hyps[k][0]
            if g in last and last[g] != h:
                switches += 1
            last[g] = h
        objects += len(counted)
        misses += len(counted) - len(matched)
        fps += sum(1 for k in range(len(hyps)) if k not in matched.values() and k not in hyp_on_ignored)
    true_ids, track_ids = sorted(true_frames, key=str), sorted(track_frames, key=str)
    idtp = 0
    if true_ids and track_ids:
        gain = np.array([[together.get((g, h), 0) for h in track_ids] for g in true_ids], dtype=np.float64)
        idtp = int(sum(gain[i, j] for i, j in assign(-gain)))
    total = sum(true_frames.values()) + sum(track_frames.values())
    return TrackingScores(
        mota=1.0 - (misses + fps + switches) / objects if objects else 0.0,
        idf1=2 * idtp / total if total else 0.0,
        id_switches=switches, false_positives=fps, misses=misses, objects=objects,
        true_ids=len(true_ids), track_ids=len(track_ids), idtp=idtp)
