"""Calibrate each recognizer's thresholds on the full LFW and print the
table that goes into ``src/prosopo/thresholds.py`` and the README.

- ``default``: the mean of the ten fold thresholds of the LFW protocol;
- ``fmr=X``: the cosine distance below which a fraction X of impostor pairs
  fall, over every pair of images of different people among all 13,233 LFW
  images (about 87 million pairs), with the TAR on LFW's 3,000 genuine
  pairs at that threshold.

    python benchmarks/calibrate.py --lfw ~/datasets/lfw/data/lfw-deepfunneled \
        --pairs ~/datasets/lfw/pairs.txt --model arcface-mbf --model sface [--detector yunet]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from prosopo import evaluate
from prosopo.defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from prosopo.models import cache_dir

FMRS = (1e-2, 1e-3, 1e-4, 1e-5)


def impostor_quantiles(names: list[str], vectors: np.ndarray, fmrs=FMRS) -> dict[str, float]:
    """Cosine-distance quantiles of all different-person pairs."""
    people = np.array([n.split("/")[0] for n in names])
    _, person = np.unique(people, return_inverse=True)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    # histogram of similarities, fine enough for 1e-5 quantiles
    edges = np.linspace(-1.0, 1.0, 200_001)
    counts = np.zeros(len(edges) - 1, np.int64)
    for start in range(0, len(unit), 1024):
        sims = unit[start:start + 1024] @ unit.T
        mask = person[start:start + 1024, None] != person[None, :]
        # each unordered pair once: j > i
        idx = np.arange(start, start + len(sims))
        mask &= idx[:, None] < np.arange(len(unit))[None, :]
        counts += np.histogram(sims[mask], bins=edges)[0]
    total = counts.sum()
    tail = np.cumsum(counts[::-1])[::-1]  # pairs with similarity >= edge
    out = {"impostor_pairs": int(total)}
    for f in fmrs:
        k = np.nonzero(tail >= f * total)[0].max()  # highest similarity edge still holding f of the pairs
        out[f"fmr={f:g}"] = float(1.0 - edges[k + 1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", required=True, type=Path)
    ap.add_argument("--pairs", required=True, type=Path)
    ap.add_argument("--model", action="append")
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    ap.add_argument("--cache", type=Path, default=cache_dir() / "lfw", help="detections and embeddings cache")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/calibration.json"))
    args = ap.parse_args()
    pairs = evaluate.read_pairs(args.pairs)
    names = sorted(str(p.relative_to(args.lfw)) for p in args.lfw.glob("*/*.jpg"))
    report = {}
    for model in args.model or [DEFAULT_MODEL]:
        t = time.time()
        emb = evaluate.embed_images(args.lfw, names, model=model, detector=args.detector, flip=args.flip,
                                    cache=args.cache)
        dist = evaluate.pair_distances(pairs, emb)
        res = evaluate.kfold(dist, pairs, model=model, detector=args.detector, metric="cosine",
                             undetected=len(emb.undetected))
        q = impostor_quantiles(names, np.stack([emb.vectors[n] for n in names]))
        same = np.array([p.same for p in pairs])
        row = {"detector": args.detector, "lfw_accuracy": res.accuracy, "lfw_std": res.std, "default": float(np.mean(res.thresholds)),
               **q, "undetected_of_all": len(emb.undetected), "seconds": round(time.time() - t, 1)}
        for f in FMRS:
            row[f"tar@fmr={f:g}"] = float((dist[same] <= q[f"fmr={f:g}"]).mean())
        report[f"{model}/{args.detector}" + ("+flip" if args.flip else "")] = row
        print(model, json.dumps(row, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    args.out.write_text(json.dumps({**old, **report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
