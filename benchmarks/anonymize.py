"""Anonymisation: recall (share of ground-truth faces covered) and speed,
prosopo against the peer ``deface`` (MIT, CenterFace ONNX), in the same run.

    python benchmarks/anonymize.py --deface /path/to/deface-venv/bin/python

``--deface`` is the Python interpreter of a virtualenv with ``deface``
installed (``python3 -m venv V && V/bin/pip install deface==1.5.0
onnxruntime``); deface runs there, in a subprocess, through its own
``CenterFace`` detector and ``anonymize_frame`` masking with its CLI's
defaults (threshold 0.2, mask scale 1.3, ellipse masks), image by image.

Data: ``../shared/data/wider-mini`` (40 WIDER FACE images, 154 faces). A
valid ground-truth face whose shorter side is at least ``--min-size``
pixels (16) counts as covered when at least ``--cover`` (80%) of its box's
pixels are masked. Speed: per image, decode + detect + mask (no writing),
both sides on the same images at their default thread counts (ONNX Runtime's: one per core); medians and images/s.
Writes ``benchmarks/results/anonymize.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PROSOPO_TEST_DATA", ROOT / ".." / "shared" / "data"))

# Runs inside deface's interpreter: argv = image paths file, output .npz
DEFACE_DRIVER = r"""
import json, sys, time
import numpy as np
import imageio.v2 as iio
from deface.centerface import CenterFace
from deface.deface import anonymize_frame
paths = json.load(open(sys.argv[1]))
centerface = CenterFace(in_shape=None, backend="auto")
times, masks = [], {}
for rep in range(int(sys.argv[3])):
    for p in paths:
        t0 = time.perf_counter()
        frame = iio.imread(p)
        if frame.ndim == 2:
            frame = np.stack([frame] * 3, -1)
        frame = np.ascontiguousarray(frame[:, :, :3])
        dets, _ = centerface(frame, threshold=0.2)
        anonymize_frame(dets, frame, mask_scale=1.3, replacewith="blur", ellipse=True, draw_scores=False,
                        replaceimg=None, mosaicsize=20)
        times.append(time.perf_counter() - t0)
        if rep == 0:
            white = np.full_like(frame, 255)
            anonymize_frame(dets, white, mask_scale=1.3, replacewith="solid", ellipse=True, draw_scores=False,
                            replaceimg=None, mosaicsize=20)
            masks[str(len(masks))] = (white != 255).any(-1)
np.savez_compressed(sys.argv[2], times=np.array(times), **masks)
"""


def coverage(truth, mask: np.ndarray, min_size: float, cover: float) -> tuple[int, int]:
    """(covered, counted) valid ground-truth faces of at least ``min_size``."""
    covered = counted = 0
    h, w = mask.shape
    for box, valid in truth:
        if not valid or min(box.w, box.h) < min_size:
            continue
        counted += 1
        x0, y0 = max(0, int(box.x)), max(0, int(box.y))
        x1, y1 = min(w, int(box.x + box.w)), min(h, int(box.y + box.h))
        area = max(1, (x1 - x0) * (y1 - y0))
        if x1 > x0 and y1 > y0 and mask[y0:y1, x0:x1].sum() / area >= cover:
            covered += 1
    return covered, counted


def run_prosopo(paths, truth, args, *, recall: bool, expand: float, mode: str) -> dict:
    from prosopo.anonymizer import anonymize

    anonymize(paths[0], mode=mode, detector=args.detector, recall=recall, expand=expand)  # load the model
    times, covered, counted, boxes = [], 0, 0, 0
    for rep in range(args.repeat):
        for p in paths:
            t0 = time.perf_counter()
            result = anonymize(p, mode=mode, detector=args.detector, recall=recall, expand=expand)
            times.append(time.perf_counter() - t0)
            if rep == 0:
                c, n = coverage(truth[p.relative_to(args.wider / "images").as_posix()], result.mask,
                                args.min_size, args.cover)
                covered, counted, boxes = covered + c, counted + n, boxes + len(result.boxes)
    return summary(times, covered, counted, boxes=boxes)


def run_deface(paths, truth, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        listing, out = Path(tmp) / "paths.json", Path(tmp) / "out.npz"
        listing.write_text(json.dumps([str(p) for p in paths]))
        proc = subprocess.run([args.deface, "-c", DEFACE_DRIVER, str(listing), str(out), str(args.repeat)],
                              check=False, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"deface failed:\n{proc.stderr[-2000:]}")
        saved = np.load(out)
        times = saved["times"].tolist()
        covered = counted = 0
        for i, p in enumerate(paths):
            c, n = coverage(truth[p.relative_to(args.wider / "images").as_posix()], saved[str(i)],
                            args.min_size, args.cover)
            covered, counted = covered + c, counted + n
        version = subprocess.run([args.deface, "-c", "import deface; print(deface.__version__)"],
                                 check=False, capture_output=True, text=True).stdout.strip()
    return summary(times, covered, counted, version=version)


def summary(times, covered, counted, **extra) -> dict:
    med = statistics.median(times)
    return {"recall": round(covered / counted, 4), "covered": covered, "faces": counted,
            "median_ms": round(med * 1000, 1), "images_per_s": round(1 / med, 2), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wider", type=Path, default=DATA / "wider-mini")
    parser.add_argument("--deface", help="Python interpreter of a virtualenv with deface installed")
    parser.add_argument("--detector", default="scrfd")
    parser.add_argument("--min-size", type=float, default=16)
    parser.add_argument("--cover", type=float, default=0.8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "anonymize.json")
    args = parser.parse_args()

    from prosopo.evaluate import read_wider

    truth = read_wider(args.wider / "wider_face_train_bbx_gt.txt")
    paths = [args.wider / "images" / name for name in sorted(truth)]
    rows = {
        "prosopo blur (recall, expand 1)": run_prosopo(paths, truth, args, recall=True, expand=1.0, mode="blur"),
        "prosopo ellipse (recall, expand 1)": run_prosopo(paths, truth, args, recall=True, expand=1.0,
                                                          mode="ellipse"),
        "prosopo blur (default threshold)": run_prosopo(paths, truth, args, recall=False, expand=1.0, mode="blur"),
        "prosopo blur (recall, expand 0)": run_prosopo(paths, truth, args, recall=True, expand=0.0, mode="blur"),
    }
    if args.deface:
        rows["deface (defaults: 0.2, x1.3, ellipse blur)"] = run_deface(paths, truth, args)
    print(f"{len(paths)} images, faces >= {args.min_size:g} px, covered = >= {args.cover:.0%} of the box masked, "
          f"{args.detector}, default threads, {os.cpu_count()} cpus")
    print(f"{'method':<44} {'recall':>7} {'covered':>9} {'median ms':>10} {'img/s':>7}")
    for name, r in rows.items():
        print(f"{name:<44} {r['recall']:>7.3f} {r['covered']:>4}/{r['faces']:<4} {r['median_ms']:>10.1f} "
              f"{r['images_per_s']:>7.2f}")
    ratio = None
    if args.deface:
        ours, peer = rows["prosopo blur (recall, expand 1)"], rows["deface (defaults: 0.2, x1.3, ellipse blur)"]
        ratio = round(ours["images_per_s"] / peer["images_per_s"], 2)
        print(f"speed ratio prosopo/deface: {ratio}x (recall {ours['recall']:.3f} vs {peer['recall']:.3f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "python benchmarks/anonymize.py --deface DEFACE_PYTHON", "images": len(paths),
        "min_size": args.min_size, "cover": args.cover, "detector": args.detector, "repeat": args.repeat,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "rows": rows, "speed_ratio_vs_deface": ratio}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
