"""Enrollment throughput on Ray against the single-process folder sync, on
the same photos, each run into a fresh gallery.

    python benchmarks/enroll_ray.py [--count 200] [--long 961] [--runs 3] [--out benchmarks/results/enroll-ray.json]

The first ``--count`` photos of ``../shared/data/lfw-mini``, and then the
first ``--long`` (all 961 by default), are linked into a folder of one
sub-folder per person. On each folder, ``--runs`` times, in turn so that a
slower spell of the machine falls on both:

- ``sync``: :meth:`prosopo.Gallery.sync_folder` (two worker threads, the
  default), in this process, its models loaded by an untimed first run;
- ``ray``: :func:`prosopo.distributed.enroll_on_ray` on a local Ray with
  this machine's cores, started once (timed apart); each run starts its
  actor pool and loads the models in every actor, as an enrollment does.

Prints the median photos/s of whole runs on each folder, and the marginal
rate, (long - count) / (median time on long - median time on count): what
each path adds per photo once its fixed start is paid, which is what a
large archive approaches. Writes the JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from gallery_speed import link_photos

from prosopo.gallery import Gallery

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def photo_folder(images: Path, count: int, folder: Path) -> int:
    """Links the first ``count`` photos of ``images`` (one sub-folder per
    person) into ``folder``; returns how many."""
    files = sorted(images.rglob("*.jpg"))[:count]
    link_photos(files, folder)
    return len(files)


def timed_sync(folder: Path, gallery: Path) -> dict:
    start = time.perf_counter()
    with Gallery.open(gallery) as g:
        report = g.sync_folder(folder)
    return {"seconds": time.perf_counter() - start, "photos": report.photos, "added": report.added}


def timed_ray(folder: Path, gallery: Path) -> dict:
    from prosopo.distributed import enroll_on_ray

    written: list[float] = []

    def progress(done: int, total: int) -> None:
        if done:
            written.append(time.perf_counter())

    start = time.perf_counter()
    with Gallery.open(gallery) as g:
        report = enroll_on_ray(g, folder, progress=progress)
    return {"seconds": time.perf_counter() - start, "photos": report.photos, "added": report.added,
            "first_batch_s": written[0] - start, "nodes": [photos for _, _, photos in report.nodes]}


def measure(folder: Path, root: Path, runs: int) -> dict:
    """Both paths on ``folder``, ``runs`` times in turn."""
    sync, on_ray = [], []
    for run in range(runs):
        sync.append(timed_sync(folder, root / f"sync-{run}"))
        on_ray.append(timed_ray(folder, root / f"ray-{run}"))
    assert all(r["added"] == sync[0]["added"] for r in sync + on_ray), "the runs enrolled different photos"
    return {"sync": {"runs": sync, "median_s": statistics.median(r["seconds"] for r in sync)},
            "ray": {"runs": on_ray, "median_s": statistics.median(r["seconds"] for r in on_ray)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--long", type=int, default=961)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "enroll-ray.json")
    args = parser.parse_args()
    import ray

    load = os.getloadavg()[0]
    images = DATA / "lfw-mini" / "images"
    with tempfile.TemporaryDirectory() as tmp:
        short, long = Path(tmp) / "short", Path(tmp) / "long"
        sizes = (photo_folder(images, args.count, short), photo_folder(images, args.long, long))
        timed_sync(short, Path(tmp) / "warm-up")  # loads this process's models
        start = time.perf_counter()
        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
        init_s = time.perf_counter() - start
        try:
            results = [measure(folder, Path(tmp) / f"galleries-{folder.name}", args.runs) for folder in (short, long)]
        finally:
            ray.shutdown()
    result: dict = {"cores": os.cpu_count(), "load_at_start": round(load, 2),
                    "load_at_end": round(os.getloadavg()[0], 2), "runs": args.runs, "ray_init_s": init_s}
    rates: dict[str, list[float]] = {}
    for path in ("sync", "ray"):
        times = [r[path]["median_s"] for r in results]
        rates[path] = [n / t for n, t in zip(sizes, times)] + [(sizes[1] - sizes[0]) / (times[1] - times[0])]
        result[path] = {f"{n}_photos": {**r[path], "photos_per_s": rate}
                        for n, r, rate in zip(sizes, results, rates[path])}
        result[path]["marginal_photos_per_s"] = rates[path][2]
    labels = [f"whole runs, {sizes[0]} photos", f"whole runs, {sizes[1]} photos", "marginal (large archive)"]
    result["ray_vs_sync"] = {label: r / s for label, r, s in zip(labels, rates["ray"], rates["sync"])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{os.cpu_count()} cores, load {load:.2f} at start, median of {args.runs} runs")
    print(f"{'photos/s':<26} {'sync_folder':>11} {'ray':>8} {'ray/sync':>9}")
    for label, r, s in zip(labels, rates["ray"], rates["sync"]):
        print(f"{label:<26} {s:>11.1f} {r:>8.1f} {r / s:>9.2f}")
    first = statistics.median(r["first_batch_s"] for r in results[0]["ray"]["runs"])
    print(f"ray: local start {init_s:.1f} s once; first batch written {first:.1f} s into each run")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
