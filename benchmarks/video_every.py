"""Video: what detecting the whole frame only every n-th frame costs and buys,
with and without looking near the tracks between (``video(every=, follow=)``).

    python benchmarks/video_every.py [--runs 3] [--out benchmarks/results/video-every.json]

For each setting, on ``../shared/data/video/crowd.mp4`` (1080p) and its
640x360 copy (as in ``benchmarks/video.py``):

- FPS of the whole pipeline (decode, detect, track, identify against a
  1,000-identity gallery, draw, encode an .mp4), median of ``--runs``, the
  settings run in turn within each round so a slower spell of the machine
  falls on all of them;
- agreement with detection on every frame (no ground truth on this clip): of
  the faces the every-frame run's tracks detected in a frame, the share a
  track of this setting covers there (box IoU >= 0.5, its box detected or
  predicted), and the mean IoU of those covered;
- on the synthetic clip (truth known): MOTA, IDF1, ID switches and misses,
  every track box counted, predicted ones too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from video import DATA, build_gallery, resized_copy

from prosopo.evaluate import read_identification
from prosopo.gallery import Gallery
from prosopo.streams import video, write_annotated
from prosopo.streams.metrics import tracking_scores
from prosopo.streams.synthetic import synthetic_clip

SETTINGS = [(1, True), (2, False), (2, True), (3, False), (3, True), (4, False), (4, True)]


def name(every: int, follow: bool) -> str:
    return f"every={every}" + ("" if every == 1 else (" follow" if follow else " coast"))


def speeds(clip: Path, gallery: Path, runs: int, out: Path) -> dict[str, float]:
    fps: dict[str, list[float]] = {name(*s): [] for s in SETTINGS}
    with Gallery.open(gallery) as g:
        write_annotated(video(clip, g, keep_frames=True), out)  # warm: models loaded, file cached
        for _ in range(runs):
            for every, follow in SETTINGS:
                start = time.perf_counter()
                stream = video(clip, g, every=every, follow=follow, keep_frames=True)
                write_annotated(stream, out)
                fps[name(every, follow)].append(stream.stats.frames / (time.perf_counter() - start))
    return {k: round(statistics.median(v), 2) for k, v in fps.items()}


def agreement(clip: Path) -> dict[str, dict]:
    reference = [[t.box for t in r.tracks if t.detected] for r in video(clip, reid=False)]
    out = {}
    for every, follow in SETTINGS[1:]:
        tracked = [[t.box for t in r.tracks] for r in video(clip, every=every, follow=follow, reid=False)]
        ious = []
        for wanted, got in zip(reference, tracked):
            for box in wanted:
                best = max((box.iou(b) for b in got), default=0.0)
                if best >= 0.5:
                    ious.append(best)
        total = sum(len(r) for r in reference)
        out[name(every, follow)] = {"covered": round(len(ious) / total, 4), "of": total,
                                    "mean_iou": round(float(np.mean(ious)), 4)}
    return out


def synthetic(lfw: Path, gallery: Path) -> dict[str, dict]:
    photos = read_identification(lfw)
    clip = synthetic_clip([(n, photos[n][0]) for n in sorted(photos)[:4]])
    out = {}
    with Gallery.open(gallery) as g:
        for every, follow in SETTINGS:
            frames = list(video(clip.frames, g, fps=clip.fps, every=every, follow=follow))
            scores = tracking_scores(clip.truth, [[(t.track_id, t.box) for t in f.tracks] for f in frames]).to_dict()
            out[name(every, follow)] = {k: scores[k] for k in ("mota", "idf1", "id_switches", "misses",
                                                               "false_positives")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "video-every.json")
    args = parser.parse_args()
    crowd, lfw = DATA / "video" / "crowd.mp4", DATA / "lfw-mini"
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        photos = read_identification(lfw)
        gallery = Path(tmp) / "gallery"
        build_gallery(gallery, photos, 1000, {sorted(photos)[3]})
        small = Path(tmp) / "crowd-640x360.mp4"
        resized_copy(crowd, small, (640, 360))
        annotated = Path(tmp) / "annotated.mp4"
        result = {
            "cores": os.cpu_count(), "load_at_start": round(load, 2), "runs": args.runs,
            "fps_1080p": speeds(crowd, gallery, args.runs, annotated),
            "fps_640x360": speeds(small, gallery, args.runs, annotated),
            "agreement_1080p": agreement(crowd),
            "agreement_640x360": agreement(small),
            "synthetic": synthetic(lfw, gallery),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{os.cpu_count()} cores, load {load:.2f} at start, median of {args.runs} runs")
    print(f"{'setting':<16} {'1080p FPS':>9} {'covered':>8} {'IoU':>6} {'360p FPS':>9} {'covered':>8} "
          f"{'MOTA':>6} {'IDF1':>6} {'misses':>6}")
    for every, follow in SETTINGS:
        k = name(every, follow)
        a1, a3 = result["agreement_1080p"].get(k), result["agreement_640x360"].get(k)
        s = result["synthetic"][k]
        print(f"{k:<16} {result['fps_1080p'][k]:>9.1f} {a1['covered'] if a1 else 1:>8.3f} "
              f"{a1['mean_iou'] if a1 else 1:>6.3f} {result['fps_640x360'][k]:>9.1f} "
              f"{a3['covered'] if a3 else 1:>8.3f} {s['mota']:>6.3f} {s['idf1']:>6.3f} {s['misses']:>6}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
