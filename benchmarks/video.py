"""Video: speed of the whole pipeline and tracking on a clip whose truth is known.

    python benchmarks/video.py [--runs 3] [--gallery-size 1000] [--every 1] \
        [--out benchmarks/results/video.json]

1. FPS of ``prosopo.streams.video`` (decode -> detect -> track -> identify;
   no drawing or encoding yet) on ``../shared/data/video/crowd.mp4`` (1080p,
   105 frames) and on the same clip resized to 640x360 (written once as an
   MPEG-4 part 2 file, so decoding is counted), against a gallery of
   ``--gallery-size`` identities (the 40 people of lfw-mini's 1:N set, three
   photos each, and random unit vectors for the rest); median over ``--runs``.
2. MOTA, IDF1 and ID switches on the synthetic clip
   (:func:`prosopo.streams.synthetic.synthetic_clip`, 100 frames at 640x360),
   and how long after its track started each enrolled person was named.

Nothing else should run on the machine meanwhile; the table says how many
cores it saw.
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

from prosopo.evaluate import read_identification
from prosopo.gallery import Gallery
from prosopo.streams import video
from prosopo.streams.metrics import tracking_scores
from prosopo.streams.synthetic import synthetic_clip

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def build_gallery(location: Path, photos: dict[str, list[Path]], size: int, exclude: set[str]) -> None:
    with Gallery.open(location, purpose="benchmark", legal_basis="consent") as g:
        for name, paths in photos.items():
            if name not in exclude:
                g.enroll(name, paths[1:])
        extra = size - len(g)
        if extra > 0:
            rng = np.random.default_rng(0)
            vectors = rng.normal(size=(extra, int(g.store.dim))).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            g.enroll_embeddings([f"random_{i:05d}" for i in range(extra)], vectors)


def resized_copy(source: Path, out: Path, size: tuple[int, int]) -> None:
    import cv2

    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    cap.release()
    writer.release()


def speed(path: Path, gallery: Path, runs: int, every: int) -> dict:
    fps, tracks, embeddings = [], [], []
    with Gallery.open(gallery) as g:
        list(video(path, g, every=every))  # warm-up: models load
        for _ in range(runs):
            started = time.perf_counter()
            stream = video(path, g, every=every)
            frames = sum(1 for _ in stream)
            fps.append(frames / (time.perf_counter() - started))
            tracks.append(stream.stats.tracks)
            embeddings.append(stream.stats.embeddings)
    return {"frames": frames, "fps_median": round(statistics.median(fps), 2), "fps_runs": [round(f, 2) for f in fps],
            "tracks": tracks[-1], "embeddings": embeddings[-1], "every": every}


def synthetic(lfw: Path, gallery: Path) -> dict:
    photos = read_identification(lfw)
    names = sorted(photos)[:4]
    clip = synthetic_clip([(n, photos[n][0]) for n in names])
    with Gallery.open(gallery) as g:
        frames = list(video(clip.frames, g, fps=clip.fps))
    hyps = [[(t.track_id, t.box) for t in f.tracks if t.detected] for f in frames]
    scores = tracking_scores(clip.truth, hyps).to_dict()
    # latency: from the person's first frame in view (not from the track's
    # first reported frame, which comes min_hits detections later)
    in_view: dict[str, float] = {}
    for k, truth in enumerate(clip.truth):
        for n, _, ignore in truth:
            if not ignore:
                in_view.setdefault(n, k / clip.fps)
    named: dict[str, float] = {}
    wrong = 0
    for f, truth in zip(frames, clip.truth):
        for t in f.tracks:
            if t.identity and t.detected:
                true = [n for n, b, _ in truth if b.iou(t.box) >= 0.5]
                wrong += bool(true) and true[0] != t.identity
                named.setdefault(t.identity, f.timestamp - in_view[t.identity])
    scores["latency_s"] = {name: round(lat, 3) for name, lat in named.items()}
    scores["wrong_names"] = wrong
    scores["enrolled"] = list(names[:3])
    scores["stranger"] = names[3]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gallery-size", type=int, default=1000)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "video.json")
    args = parser.parse_args()
    crowd, lfw = DATA / "video" / "crowd.mp4", DATA / "lfw-mini"
    if not crowd.is_file() or not lfw.is_dir():
        raise SystemExit(f"needs {crowd} and {lfw} (see ../shared/data/README.md)")
    photos = read_identification(lfw)
    stranger = sorted(photos)[3]  # the synthetic clip's fourth person is not enrolled
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Path(tmp) / "gallery"
        build_gallery(gallery, photos, args.gallery_size, {stranger})
        small = Path(tmp) / "crowd-640x360.mp4"
        resized_copy(crowd, small, (640, 360))
        results: dict = {
            "cores": os.cpu_count(),
            "gallery_identities": args.gallery_size,
            "crowd_1080p": speed(crowd, gallery, args.runs, args.every),
            "crowd_640x360": speed(small, gallery, args.runs, args.every),
            "synthetic": synthetic(lfw, gallery),
        }
    print(f"video pipeline (decode -> detect -> track -> identify), {results['cores']} cores, gallery of "
          f"{args.gallery_size} identities, median of {args.runs} runs")
    print(f"{'clip':<16}{'frames':>8}{'FPS':>8}{'tracks':>8}{'embeds':>8}")
    for key in ("crowd_1080p", "crowd_640x360"):
        r = results[key]
        print(f"{key:<16}{r['frames']:>8}{r['fps_median']:>8}{r['tracks']:>8}{r['embeddings']:>8}")
    s = results["synthetic"]
    print(f"synthetic clip: MOTA {s['mota']}, IDF1 {s['idf1']}, ID switches {s['id_switches']} "
          f"({s['true_ids']} people, {s['track_ids']} track ids), wrong names {s['wrong_names']}, "
          f"naming latency {s['latency_s']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
