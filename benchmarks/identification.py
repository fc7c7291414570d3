"""1:N identification on the full LFW, through prosopo.Gallery.

Protocol (issue 3): the gallery holds the first image (by file name) of
every one of LFW's 5,749 people, so the 4,069 people with a single image are
distractors; every other image (7,484) is a probe of someone enrolled.

- rank-1: the closest identity is the right one;
- open set: a non-mated search is simulated for every probe by ignoring its
  own identity (the best other identity is the impostor score; same as
  searching a gallery without that person). FPIR = non-mated searches
  matched at the threshold; FNIR = mated searches whose right identity is
  not the top one within the threshold. Reported at the threshold where
  FPIR = 1%, and at the gallery's default threshold (threshold=None).

Embeddings come from prosopo.evaluate.embed_images (the face nearest the
image centre, as in LFW's verification protocol), cached under --cache, so
a rerun takes seconds. The searches go through the real Gallery: its store,
index and thresholds.

    python benchmarks/identification.py --images ~/datasets/lfw/data/lfw-deepfunneled \\
        --model arcface-mbf --model sface [--detector scrfd] --cache ~/.cache/prosopo/lfw
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from prosopo import Gallery
from prosopo.defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from prosopo.evaluate import embed_images

RESULTS = Path(__file__).parent / "results" / "identification.json"


def split(names: list[str]) -> tuple[list[str], list[str]]:
    people: dict[str, list[str]] = defaultdict(list)
    for name in sorted(names):
        people[name.split("/")[0]].append(name)
    gallery = [files[0] for files in people.values()]
    probes = [f for files in people.values() for f in files[1:]]
    return gallery, probes


def run(images: Path, model: str, detector: str, cache: Path, index: str, flip: bool) -> dict:
    names = sorted(str(p.relative_to(images)) for p in images.rglob("*.jpg"))
    gallery_names, probe_names = split(names)
    emb = embed_images(images, names, model=model, detector=detector, cache=cache, flip=flip)
    missing = [n for n in names if n not in emb.vectors]
    gallery_names = [n for n in gallery_names if n in emb.vectors]
    probe_names = [n for n in probe_names if n in emb.vectors]
    identity = {n: n.split("/")[0] for n in names}

    with tempfile.TemporaryDirectory() as tmp:
        with Gallery.open(Path(tmp) / "g", model=model, detector=detector, index=index) as gallery:
            start = time.perf_counter()
            gallery.enroll_embeddings([identity[n] for n in gallery_names],
                                      np.stack([emb.vectors[n] for n in gallery_names]), sources=gallery_names)
            enroll_s = time.perf_counter() - start
            default_threshold = gallery.threshold()
            start = time.perf_counter()
            found = gallery.search_embeddings(np.stack([emb.vectors[n] for n in probe_names]), k=2,
                                              threshold=default_threshold)
            search_s = time.perf_counter() - start
            kind = gallery.stats().index

    truth = [identity[n] for n in probe_names]
    top = [m[0] for m in found]
    rank1 = np.mean([t.identity == want for t, want in zip(top, truth)])
    # impostor score: the best identity that is not the probe's own
    impostor = np.array([next((m.distance for m in ms if m.identity != want), 2.0) for ms, want in zip(found, truth)])
    mated_ok = np.array([t.identity == want for t, want in zip(top, truth)])
    mated_dist = np.array([t.distance for t in top])

    def rates(threshold: float) -> tuple[float, float]:
        fpir = float(np.mean(impostor <= threshold))
        fnir = float(np.mean(~(mated_ok & (mated_dist <= threshold))))
        return fpir, fnir

    at_1pct = float(np.quantile(impostor, 0.01))
    fpir1, fnir1 = rates(at_1pct)
    fpir_d, fnir_d = rates(default_threshold)
    return {
        "model": model, "detector": detector, "flip": flip, "index": kind, "gallery": len(gallery_names), "probes": len(probe_names),
        "undetected": len(missing), "rank1": float(rank1),
        "threshold_at_fpir_1pct": at_1pct, "fpir_at_that": fpir1, "fnir_at_fpir_1pct": fnir1,
        "default_threshold": default_threshold, "fpir_at_default": fpir_d, "fnir_at_default": fnir_d,
        "enroll_seconds": enroll_s, "search_ms_per_probe": 1000 * search_s / len(probe_names),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True, help="LFW images folder (<Name>/<Name>_NNNN.jpg)")
    parser.add_argument("--model", action="append", help=f"recognizer (repeat); default {DEFAULT_MODEL}")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--index", default="exact", choices=["exact", "ann", "auto"])
    parser.add_argument("--flip", action="store_true", help="embed with flip=True")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "prosopo" / "lfw")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [run(args.images.expanduser(), m, args.detector, args.cache, args.index, args.flip)
            for m in args.model or [DEFAULT_MODEL]]
    print(f"{'model':<12} {'detector':<8} {'flip':<5} {'index':<6} {'gallery':>7} {'probes':>6} {'rank-1':>7} "
          f"{'FNIR@FPIR=1%':>13} {'FPIR/FNIR at default':>21} {'ms/search':>9}")
    for r in rows:
        print(f"{r['model']:<12} {r['detector']:<8} {str(r['flip']):<5} {r['index']:<6} {r['gallery']:>7} {r['probes']:>6} "
              f"{r['rank1'] * 100:>6.2f}% {r['fnir_at_fpir_1pct'] * 100:>12.2f}% "
              f"{r['fpir_at_default'] * 100:>9.2f}% / {r['fnir_at_default'] * 100:>5.2f}% "
              f"{r['search_ms_per_probe']:>9.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.output.read_text()) if args.output.exists() else []
    def key(r: dict) -> tuple:
        return r["model"], r.get("detector", "yunet"), r["flip"], r["index"]

    keep = [p for p in previous if key(p) not in {key(r) for r in rows}]
    args.output.write_text(json.dumps(keep + rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
