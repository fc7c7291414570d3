"""Video: speed of the whole pipeline and tracking on a clip whose truth is known.

    python benchmarks/video.py [--runs 3] [--gallery-size 1000] [--every 1] \
        [--peers-python ~/peers-venv/bin/python] [--out benchmarks/results/video.json]

1. FPS of the whole pipeline, ``prosopo.video`` and
   ``prosopo.streams.write_annotated`` (decode -> detect -> track -> identify
   -> draw -> encode an .mp4) on ``../shared/data/video/crowd.mp4`` (1080p,
   105 frames) and on the same clip resized to 640x360 (written once as an
   MPEG-4 part 2 file, so decoding is counted), against a gallery of
   ``--gallery-size`` identities (the people of lfw-mini's 1:N set, three
   photos each, and random unit vectors for the rest); median over ``--runs``.
   With ``--peers-python``, face_recognition in the same run on the same
   files and known people (``benchmarks/peers/video_face_recognition.py``:
   its video examples' detect + encode + compare every frame, drawing and
   writing an .mp4), detecting on the frame shrunk to a quarter as its
   faster example does (``--runs`` runs) and on the full frame as its video
   file example does (one run: HOG on a 1080p frame takes seconds).
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
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from prosopo.evaluate import read_identification
from prosopo.gallery import Gallery
from prosopo.streams import video, write_annotated
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


def speed(path: Path, gallery: Path, runs: int, every: int, out: Path) -> dict:
    fps, tracks, embeddings = [], [], []
    with Gallery.open(gallery) as g:
        list(video(path, g, every=every))  # warm-up: models load
        for _ in range(runs):
            started = time.perf_counter()
            stream = video(path, g, every=every, keep_frames=True)
            frames = write_annotated(stream, out).frames
            fps.append(frames / (time.perf_counter() - started))
            tracks.append(stream.stats.tracks)
            embeddings.append(stream.stats.embeddings)
    return {"frames": frames, "fps_median": round(statistics.median(fps), 2), "fps_runs": [round(f, 2) for f in fps],
            "tracks": tracks[-1], "embeddings": embeddings[-1], "every": every}


def peer(python: str, path: Path, known: Path, size: int, runs: int, scale: float) -> dict:
    proc = subprocess.run([python, str(HERE / "peers" / "video_face_recognition.py"), "--video", str(path),
                           "--known", str(known), "--gallery-size", str(size), "--runs", str(runs),
                           "--scale", str(scale)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--peers-python", help="python of a virtualenv with face_recognition (benchmarks/peers)")
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
        annotated = Path(tmp) / "annotated.mp4"
        results: dict = {
            "cores": os.cpu_count(),
            "load_at_start": os.getloadavg()[0],
            "gallery_identities": args.gallery_size,
            "crowd_1080p": speed(crowd, gallery, args.runs, args.every, annotated),
            "crowd_640x360": speed(small, gallery, args.runs, args.every, annotated),
            "synthetic": synthetic(lfw, gallery),
        }
        if args.peers_python:
            known = Path(tmp) / "known.json"
            known.write_text(json.dumps({n: [str(p) for p in paths[1:]] for n, paths in photos.items()
                                         if n != stranger}))
            for key, clip in (("crowd_1080p", crowd), ("crowd_640x360", small)):
                results[key]["face_recognition"] = runs = {
                    "quarter": peer(args.peers_python, clip, known, args.gallery_size, args.runs, 0.25),
                    "full": peer(args.peers_python, clip, known, args.gallery_size, 1, 1.0)}
                for scale, theirs in runs.items():
                    if "fps_median" in theirs:
                        theirs["ratio"] = round(results[key]["fps_median"] / theirs["fps_median"], 2)
    print(f"video pipeline (decode -> detect -> track -> identify -> draw -> encode), {results['cores']} cores, "
          f"gallery of "
          f"{args.gallery_size} identities, median of {args.runs} runs")
    print(f"{'clip':<16}{'frames':>8}{'FPS':>8}{'tracks':>8}{'embeds':>8}")
    for key in ("crowd_1080p", "crowd_640x360"):
        r = results[key]
        print(f"{key:<16}{r['frames']:>8}{r['fps_median']:>8}{r['tracks']:>8}{r['embeddings']:>8}")
        for scale, theirs in r.get("face_recognition", {}).items():
            print(f"  face_recognition, {scale} frame: {theirs.get('fps_median', theirs.get('error'))} FPS, "
                  f"{theirs.get('faces')} faces found in {theirs.get('frames')} frames; prosopo is "
                  f"{theirs.get('ratio')} times as fast")
    s = results["synthetic"]
    print(f"synthetic clip: MOTA {s['mota']}, IDF1 {s['idf1']}, ID switches {s['id_switches']} "
          f"({s['true_ids']} people, {s['track_ids']} track ids), wrong names {s['wrong_names']}, "
          f"naming latency {s['latency_s']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
