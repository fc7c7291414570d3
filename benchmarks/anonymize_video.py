"""Video anonymisation: prosopo against ``deface`` (MIT, CenterFace ONNX)
in the same run, on the same files.

    python benchmarks/anonymize_video.py --deface DEFACE_PYTHON [--rounds 3] [--runs 2] \
        [--out benchmarks/results/anonymize_video.json]

``--deface`` is the Python interpreter of a virtualenv with ``deface``
installed (see ``benchmarks/anonymize.py``); deface's own ``video_detect``
runs there with its defaults (threshold 0.2, ellipse masks scaled 1.3,
H.264 through imageio-ffmpeg), its model loaded once before the clock runs.

1. Coverage on the synthetic clip (:func:`prosopo.streams.synthetic.synthetic_clip`,
   the truth known), written as an MJPG .avi: both tools paint faces solid
   black (``--mode solid``; deface ``--replacewith solid``), and a true face
   counts as masked in a frame when 80% of its box is black in the output
   (the clip has no black of its own there). Reported: face-frames masked
   and the longest run of frames a face stays unmasked.
2. Speed, the whole job (decode, detect, track, mask, encode) on
   ``../shared/data/video/crowd.mp4`` (1080p) and on the same clip at
   640x360, blurring (each tool's default look): FPS, medians. The tools
   take turns, ``--rounds`` times: each round runs deface once per file and
   configuration (about 30 s for the 1080p clip), then prosopo ``--runs``
   times per file, so that a machine slower in one minute than the next
   (a shared 2-core VM varies by a third) weighs on both alike. deface
   writes H.264 (its default, slower to encode) and, in a second
   configuration, MPEG-4 part 2 as prosopo does.
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

import cv2
import numpy as np

from prosopo.evaluate import read_identification
from prosopo.streams import VideoWriter, anonymize_video
from prosopo.streams.synthetic import synthetic_clip

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
COVER = 0.8
BLACK = 16

# Runs inside deface's interpreter: argv = a JSON file of jobs; prints JSON seconds per job
DEFACE_DRIVER = r"""
import json, sys, time, contextlib, io
from deface.centerface import CenterFace
from deface.deface import video_detect
jobs = json.load(open(sys.argv[1]))
centerface = CenterFace()
out = []
for job in jobs:
    times = []
    for _ in range(job["runs"]):
        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            video_detect(ipath=job["src"], opath=job["dst"], centerface=centerface, threshold=0.2,
                         enable_preview=False, cam=False, nested=False, replacewith=job["replacewith"],
                         mask_scale=1.3, ellipse=True, draw_scores=False, ffmpeg_config=job["ffmpeg"])
        times.append(time.perf_counter() - started)
    out.append(times)
print(json.dumps(out))
"""


def deface(python: str, jobs: list[dict]) -> list[list[float]]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(jobs, f)
    try:
        proc = subprocess.run([python, "-c", DEFACE_DRIVER, f.name], capture_output=True, text=True, check=False)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise SystemExit(f"deface failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def frames_of(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


def coverage(path: Path, truth: list) -> dict:
    """Face-frames of ``truth`` at least 80% black in the video ``path``,
    and the longest run of frames each person stays unmasked."""
    frames = frames_of(path)
    masked = counted = 0
    runs: dict[str, int] = {}
    longest = 0
    for frame, faces in zip(frames, truth):
        black = frame.max(axis=2) < BLACK
        for person, box, ignore in faces:
            if ignore:
                continue
            x0, y0 = max(0, round(box.x)), max(0, round(box.y))
            x1, y1 = min(frame.shape[1], round(box.x + box.w)), min(frame.shape[0], round(box.y + box.h))
            if x1 <= x0 or y1 <= y0:
                continue
            counted += 1
            if black[y0:y1, x0:x1].mean() >= COVER:
                masked += 1
                runs[person] = 0
            else:
                runs[person] = runs.get(person, 0) + 1
                longest = max(longest, runs[person])
    return {"frames": len(frames), "face_frames": counted, "masked": masked,
            "share": round(masked / counted, 4) if counted else None, "longest_unmasked_run": longest}


def resized_copy(source: Path, out: Path, size: tuple[int, int]) -> None:
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    with VideoWriter(out, fps) as writer:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            writer.write(cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    cap.release()


def prosopo_fps(src: Path, dst: Path, runs: int, mode: str) -> list[float]:
    anonymize_video(src, dst, mode=mode)  # warm-up: the model loads
    fps = []
    for _ in range(runs):
        started = time.perf_counter()
        stats = anonymize_video(src, dst, mode=mode)
        fps.append(stats.frames / (time.perf_counter() - started))
    return fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deface", required=True, help="Python interpreter of a virtualenv with deface")
    parser.add_argument("--rounds", type=int, default=3, help="turns taken by the two tools")
    parser.add_argument("--runs", type=int, default=2, help="prosopo's runs per file and round")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "anonymize_video.json")
    args = parser.parse_args()
    crowd, lfw = DATA / "video" / "crowd.mp4", DATA / "lfw-mini"
    if not crowd.is_file() or not lfw.is_dir():
        raise SystemExit(f"needs {crowd} and {lfw} (see ../shared/data/README.md)")
    photos = read_identification(lfw)
    clip = synthetic_clip([(n, photos[n][0]) for n in sorted(photos)[:4]])
    results: dict = {"cores": os.cpu_count(), "load": os.getloadavg()[0], "rounds": args.rounds, "runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic = root / "synthetic.avi"
        with VideoWriter(synthetic, clip.fps) as writer:
            for frame in clip.frames:
                writer.write(frame)
        anonymize_video(synthetic, root / "ours-solid.avi", mode="solid")
        small = root / "crowd-640x360.mp4"
        resized_copy(crowd, small, (640, 360))
        files = (("1080p", crowd), ("640x360", small))
        deface(args.deface, [{"src": str(synthetic), "dst": str(root / "deface-solid.mp4"), "replacewith": "solid",
                              "ffmpeg": {"codec": "libx264"}, "runs": 1}])
        results["synthetic"] = {"prosopo": coverage(root / "ours-solid.avi", clip.truth),
                                "deface": coverage(root / "deface-solid.mp4", clip.truth)}
        counts = {name: len(frames_of(src)) for name, src in files}
        fps: dict[str, dict[str, list[float]]] = {name: {"prosopo": [], "h264": [], "mpeg4": []} for name, _ in files}
        for _ in range(args.rounds):
            jobs = [{"src": str(src), "dst": str(root / f"deface-{name}-{codec}.mp4"), "replacewith": "blur",
                     "ffmpeg": {"codec": codec}, "runs": 1} for name, src in files for codec in ("libx264", "mpeg4")]
            seconds = deface(args.deface, jobs)
            for k, (name, src) in enumerate(files):
                fps[name]["h264"].append(counts[name] / seconds[2 * k][0])
                fps[name]["mpeg4"].append(counts[name] / seconds[2 * k + 1][0])
                fps[name]["prosopo"] += prosopo_fps(src, root / f"ours-{name}.mp4", args.runs, "blur")
        for name, _ in files:
            ours, h264, mpeg4 = (statistics.median(fps[name][key]) for key in ("prosopo", "h264", "mpeg4"))
            results[name] = {"frames": counts[name], "prosopo_fps": round(ours, 2), "deface_h264_fps": round(h264, 2),
                             "deface_mpeg4_fps": round(mpeg4, 2), "ratio_h264": round(ours / h264, 2),
                             "ratio_mpeg4": round(ours / mpeg4, 2),
                             "runs": {key: [round(v, 2) for v in values] for key, values in fps[name].items()}}
    results["load_end"] = os.getloadavg()[0]
    print(f"video anonymisation, {results['cores']} cores (load {results['load']:.2f} at the start, "
          f"{results['load_end']:.2f} at the end), medians over {args.rounds} rounds of deface once and prosopo "
          f"{args.runs} times per file")
    for tool, c in results["synthetic"].items():
        print(f"synthetic clip, {tool}: {c['masked']}/{c['face_frames']} face-frames masked ({c['share']}), "
              f"longest unmasked run {c['longest_unmasked_run']} frame(s)")
    for name in ("1080p", "640x360"):
        r = results[name]
        print(f"crowd {name}: prosopo {r['prosopo_fps']} FPS, deface {r['deface_h264_fps']} (H.264) / "
              f"{r['deface_mpeg4_fps']} (MPEG-4) FPS; ratio {r['ratio_h264']} / {r['ratio_mpeg4']}; "
              f"runs {r['runs']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
