"""Speed of prosopo on this machine, beside its peers, in one run.

    python benchmarks/speed.py [--images DIR] [--n 200] [--model M] [--detector D] \
        [--peers-python ~/peers-venv/bin/python] [--out benchmarks/results/speed.json]

Measures, on the same 250x250 LFW images (one face each):

1. per image, median after warm-up: decode, detect, align, embed, and the
   whole ``prosopo.represent`` call (default model and detector unless
   ``--model``/``--detector`` say otherwise), on one process using
   both cores as it likes;
2. throughput of ``represent_many`` with one core (one worker, one thread)
   and with both cores (two workers, one thread each), each in a fresh
   process;
3. ``python -c "import prosopo"`` and one ``prosopo verify A B`` in a fresh
   process, end to end, median of repeated runs;
4. peers (face_recognition, DeepFace) on the same images, one after the
   other, through ``benchmarks/peers/worker.py`` in their own virtualenv.

Nothing else should run on the machine meanwhile; the table says how many
cores it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prosopo.defaults import DEFAULT_DETECTOR, DEFAULT_MODEL

HERE = Path(__file__).resolve().parent
DEFAULT_IMAGES = HERE.parent.parent / "shared" / "data" / "lfw-mini" / "images"


def pick_images(folder: Path, n: int) -> list[Path]:
    files = sorted(folder.glob("*/*.jpg"))
    if not files:
        sys.exit(f"no images under {folder}")
    step = max(1, len(files) // n)
    return files[::step][:n]


def stage_times(paths: list[Path], model: str, detector: str, warmup: int = 5) -> dict[str, float]:
    """Median milliseconds of each stage and of the whole represent() call."""
    import prosopo
    from prosopo import image as imagelib
    from prosopo.align import align_face
    from prosopo.embed import RECOGNIZERS
    from prosopo.pipeline import find_faces

    recognizer = RECOGNIZERS.get(model)
    times: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "align", "embed", "represent")}
    for k, path in enumerate(paths[:warmup] + paths):
        t0 = time.perf_counter()
        rgb = imagelib.load(path)
        t1 = time.perf_counter()
        faces = find_faces(rgb, detector)
        t2 = time.perf_counter()
        if hasattr(recognizer, "embed"):
            crops = [align_face(rgb, f, recognizer.template) for f in faces[:1]]
            t3 = time.perf_counter()
            recognizer.embed(crops)
        else:  # a fused model aligns for each of its parts: "embed" includes that
            t3 = time.perf_counter()
            recognizer.represent(rgb, faces[:1])
        t4 = time.perf_counter()
        prosopo.represent(path, model=model, detector=detector, max_faces=1)
        t5 = time.perf_counter()
        if k >= warmup:
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[key].append(dt * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


THROUGHPUT = """
import sys, time, prosopo
workers, model, detector, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
prosopo.represent_many(paths[:8], workers=workers, model=model, detector=detector)
t = time.perf_counter()
prosopo.represent_many(paths, workers=workers, model=model, detector=detector)
print(len(paths) / (time.perf_counter() - t))
"""


def throughput(paths: list[Path], workers: int, threads: int, model: str, detector: str) -> float:
    """Images per second in a fresh process (``threads`` per model call)."""
    env = {**os.environ, "PROSOPO_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", THROUGHPUT, str(workers), model, detector, *map(str, paths)], env=env,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def fresh_process(args: list[str], runs: int) -> float:
    """Median wall seconds of a command, after one untimed run (warm file cache)."""
    subprocess.run(args, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peers(python: str, paths: list[Path]) -> dict[str, dict]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "images.txt"
        listing.write_text("\n".join(map(str, paths)) + "\n")
        for peer in ("face_recognition", "deepface-sface", "deepface-dlib"):
            result = Path(tmp) / f"{peer}.json"
            proc = subprocess.run([python, str(HERE / "peers" / "worker.py"), "--peer", peer, "--images",
                                   str(listing), "--out", str(result), "--warmup", "5"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                out[peer] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
                continue
            data = json.loads(result.read_text())
            out[peer] = {"version": data.get("version"), "median_ms": data["median_ms"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--peers-python", help="python of a virtualenv with the peers (benchmarks/peers/setup.sh)")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    ap.add_argument("--runs", type=int, default=7, help="fresh-process runs for import and CLI timings")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "speed.json")
    args = ap.parse_args()
    paths = pick_images(args.images, args.n)
    report: dict = {"images": len(paths), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "model": args.model, "detector": args.detector}

    report["stages_ms"] = stage_times(paths, args.model, args.detector)
    one = throughput(paths, 1, 1, args.model, args.detector)
    two = throughput(paths, 2, 1, args.model, args.detector)
    report["throughput"] = {"one_core_per_s": one, "two_cores_per_s": two, "scaling": two / one}
    report["import_s"] = fresh_process([sys.executable, "-c", "import prosopo"], args.runs)
    report["cli_verify_s"] = fresh_process([sys.executable, "-m", "prosopo.cli", "verify", str(paths[0]),
                                            str(paths[1]), "--model", args.model, "--detector", args.detector],
                                           args.runs)
    if args.peers_python:
        report["peers"] = peers(args.peers_python, paths)

    s = report["stages_ms"]
    print(f"{len(paths)} images from {args.images}, {report['cpus']} CPUs, medians")
    print(f"  decode {s['decode']:.1f} ms | detect {s['detect']:.1f} ms | align {s['align']:.2f} ms | "
          f"embed {s['embed']:.1f} ms")
    print(f"  prosopo.represent ({args.detector} + {args.model}), whole call: {s['represent']:.1f} ms")
    t = report["throughput"]
    print(f"  throughput: {t['one_core_per_s']:.1f} img/s on one core, {t['two_cores_per_s']:.1f} img/s on two "
          f"({t['scaling']:.2f}x)")
    print(f"  import prosopo: {report['import_s']:.3f} s; prosopo verify A B (fresh process): "
          f"{report['cli_verify_s']:.3f} s")
    for peer, row in report.get("peers", {}).items():
        if "median_ms" in row:
            print(f"  {peer} {row['version']}: {row['median_ms']:.1f} ms/image "
                  f"({row['median_ms'] / s['represent']:.1f}x prosopo)")
        else:
            print(f"  {peer}: failed: {row['error']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
