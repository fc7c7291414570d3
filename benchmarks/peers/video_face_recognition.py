#!/usr/bin/env python3
"""face_recognition on a video, the way its video examples do it: every frame
is detected (HOG) and every face found is encoded and compared with the known
encodings; boxes and names are drawn and the frame is written to an output
video. Run in the peers' virtualenv (benchmarks/peers/setup.sh):

    ~/peers-venv/bin/python benchmarks/peers/video_face_recognition.py \
        --video clip.mp4 --known known.json --gallery-size 1000 [--scale 0.25] [--runs 3]

``--known``: a JSON object {name: [photo paths]}: each photo's first face is
encoded (not timed); random unit vectors fill the gallery up to
``--gallery-size`` encodings. ``--scale``: the frame is shrunk by this factor
before detection, as ``facerec_from_webcam_faster.py`` does with 0.25 (1.0
is ``facerec_from_video_file.py``'s full frame); boxes are scaled back up for
drawing. Prints one JSON object: FPS per run, faces found and named.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import face_recognition
import numpy as np

TOLERANCE = 0.6  # face_recognition's default


def known_encodings(known: dict[str, list[str]], size: int) -> tuple[np.ndarray, list[str]]:
    vectors, names = [], []
    for name, paths in known.items():
        for path in paths:
            found = face_recognition.face_encodings(face_recognition.load_image_file(path))
            if found:
                vectors.append(found[0])
                names.append(name)
    rng = np.random.default_rng(0)
    extra = max(0, size - len(vectors))
    # unit vectors: far from every real encoding, they only add comparisons
    random = rng.normal(size=(extra, 128))
    random /= np.linalg.norm(random, axis=1, keepdims=True)
    return np.vstack([np.array(vectors), random]), names + [f"random_{i:05d}" for i in range(extra)]


def run(video: Path, encodings: np.ndarray, names: list[str], scale: float, out: Path) -> dict:
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    frames = faces = named = 0
    started = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        small = frame if scale == 1.0 else cv2.resize(frame, (0, 0), fx=scale, fy=scale)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        locations = face_recognition.face_locations(rgb)
        for (top, right, bottom, left), encoding in zip(locations, face_recognition.face_encodings(rgb, locations)):
            distances = face_recognition.face_distance(encodings, encoding)
            best = int(np.argmin(distances))
            name = names[best] if distances[best] <= TOLERANCE else "Unknown"
            named += name != "Unknown"
            top, right, bottom, left = (round(v / scale) for v in (top, right, bottom, left))
            cv2.rectangle(frame, (left, top), (right, bottom), (0, 0, 255), 2)
            cv2.putText(frame, name, (left + 6, bottom - 6), cv2.FONT_HERSHEY_DUPLEX, 1.0, (255, 255, 255), 1)
        faces += len(locations)
        writer.write(frame)
        frames += 1
    seconds = time.perf_counter() - started
    cap.release()
    if writer is not None:
        writer.release()
    return {"frames": frames, "fps": frames / seconds, "faces": faces, "named": named}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, required=True)
    ap.add_argument("--known", type=Path, required=True)
    ap.add_argument("--gallery-size", type=int, default=1000)
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    encodings, names = known_encodings(json.loads(args.known.read_text()), args.gallery_size)
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(args.video, encodings, names, args.scale, Path(tmp) / "out.mp4") for _ in range(args.runs)]
    fps = [r["fps"] for r in results]
    print(json.dumps({"peer": f"face_recognition {face_recognition.__version__}", "scale": args.scale,
                      "frames": results[-1]["frames"], "fps_median": round(statistics.median(fps), 2),
                      "fps_runs": [round(f, 2) for f in fps], "faces": results[-1]["faces"],
                      "named": results[-1]["named"], "gallery": len(names)}))


if __name__ == "__main__":
    main()
