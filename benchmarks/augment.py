"""LFW accuracy with test-time augmentation: the mean embedding of several
slightly moved copies of each aligned face (mirror, scale, rotation, shift),
the way dlib's published 99.38% averages 100 jittered copies.

    prosopo evaluate lfw --images DIR --pairs pairs.txt --detector scrfd --model dlib   # fills the cache
    python benchmarks/augment.py --images DIR --pairs pairs.txt [--model dlib] [--detector scrfd] \
        [--cache ~/.cache/prosopo/lfw] [--out benchmarks/results/augment.json]

Faces come from the detections ``prosopo evaluate lfw`` cached (the face
nearest each image's centre), so both see the same faces. Prints the
10-fold accuracy of one copy, of the mirror pair, and of each family of
copies (with their mirrors), then of all 18 together. With ``--jitter N``
it also averages N random copies the way dlib's ``num_jitters`` makes them
(rotation up to 3 degrees, scale 97-100%, shift up to 2%, mirrored half the
time; seeded). prosopo ships only the mirror (``flip=True``); this measures
what more copies would buy.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from prosopo import image as imagelib
from prosopo.align import Template, align_face
from prosopo.embed import RECOGNIZERS
from prosopo.evaluate import Embeddings, _face_from_json, kfold, pair_distances, read_pairs, tar_at
from prosopo.models import cache_dir
from prosopo.types import Face

# (scale, rotation in degrees, shift x, shift y in pixels of the crop), each also mirrored
MOVES = [(1, 0, 0, 0), (0.95, 0, 0, 0), (1.05, 0, 0, 0), (1, -4, 0, 0), (1, 4, 0, 0),
         (1, 0, -3, 0), (1, 0, 3, 0), (1, 0, 0, -3), (1, 0, 0, 3)]
FAMILIES = {"scale": [1, 2], "rotation": [3, 4], "shift": [5, 6, 7, 8]}


def crops(rgb: np.ndarray, face: Face, template: Template, move, mirror: bool) -> np.ndarray:
    """The face aligned as prosopo aligns it, then moved: fitting the landmarks
    to the moved template points gives exactly the moved crop, since a
    least-squares similarity fit commutes with similarity transforms."""
    scale, angle, dx, dy = move
    a = cv2.getRotationMatrix2D((template.size[0] / 2, template.size[1] / 2), angle, scale)
    a[:, 2] += (dx, dy)
    points = np.array(template.points) @ a[:, :2].T + a[:, 2]
    crop = align_face(rgb, face, Template(template.size, tuple(map(tuple, points))))
    return np.ascontiguousarray(crop[:, ::-1]) if mirror else crop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--model", default="dlib")
    ap.add_argument("--detector", default="scrfd")
    ap.add_argument("--cache", type=Path, default=cache_dir() / "lfw", help="where prosopo evaluate cached detections")
    ap.add_argument("--jitter", type=int, default=0, help="also average this many random dlib-style copies")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    pairs = read_pairs(args.pairs)
    names = sorted({p.left for p in pairs} | {p.right for p in pairs})
    faces_file = args.cache / f"faces-{args.detector}.json"
    if not faces_file.is_file():
        raise SystemExit(f"{faces_file} not found: run prosopo evaluate lfw --detector {args.detector} first")
    faces = {n: _face_from_json(f) for n, f in json.loads(faces_file.read_text()).items()}
    missing = [n for n in names if faces.get(n) is None or not faces[n].landmarks]
    if missing:
        raise SystemExit(f"{len(missing)} images have no detected face with landmarks, e.g. {missing[0]}")
    rec = RECOGNIZERS.get(args.model)
    images = {n: imagelib.load(args.images / n) for n in names}
    same = np.array([p.same for p in pairs])

    def embed(move, mirror: bool) -> np.ndarray:
        print(f"  copy {len(copies) + 1}: scale {move[0]:.3f}, rotation {move[1]:+.1f}, shift {move[2]:+.1f} "
              f"{move[3]:+.1f}{', mirrored' if mirror else ''}", file=sys.stderr, flush=True)

        def chunk(part):
            return rec.embed([crops(images[n], faces[n], rec.template, move, mirror) for n in part])
        with ThreadPoolExecutor(2) as pool:
            return np.concatenate(list(pool.map(chunk, [names[i:i + 32] for i in range(0, len(names), 32)])))

    copies: dict = {}
    for k, move in enumerate(MOVES):
        for mirror in (False, True):
            copies[(k, mirror)] = embed(move, mirror)

    results = {}

    def score(label: str, keys) -> None:
        dist = pair_distances(pairs, Embeddings(dict(zip(names, sum(copies[k] for k in keys)))))
        r = kfold(dist, pairs, model=args.model, detector=args.detector, metric="cosine")
        results[label] = {"copies": len(keys), "accuracy": r.accuracy, "std": r.std,
                          "tar_at_far_1e-3": tar_at(dist, same, 1e-3)}
        print(f"{label:32s} {len(keys):2d} copies  {100 * r.accuracy:.2f} ± {100 * r.std:.2f}%  "
              f"TAR@FAR0.1% {100 * results[label]['tar_at_far_1e-3']:.2f}%", flush=True)

    print(f"{args.model} + {args.detector}, {len(pairs)} pairs, {len({p.fold for p in pairs})} folds")
    score("one copy", [(0, False)])
    score("mirror (flip=True)", [(0, False), (0, True)])
    for family, moves in FAMILIES.items():
        score(f"mirror + {family}", [(k, m) for k in [0, *moves] for m in (False, True)])
    score("all", list(copies))
    if args.jitter:
        rng = np.random.default_rng(0)
        size = rec.template.size[0]
        for k in range(args.jitter):
            move = (rng.uniform(0.97, 1.0), rng.uniform(-3, 3), *rng.uniform(-0.02, 0.02, 2) * size)
            copies[("jitter", k)] = embed(move, bool(rng.random() < 0.5))
        score(f"{args.jitter} random copies", [("jitter", k) for k in range(args.jitter)])
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "detector": args.detector, "images": str(args.images),
                                        "moves": MOVES, "jitter": args.jitter, "results": results}, indent=2))


if __name__ == "__main__":
    main()
