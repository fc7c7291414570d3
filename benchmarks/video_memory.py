"""Memory of a long video stream: ``crowd.mp4`` looped for ``--minutes`` of
wall-clock time through one ``prosopo.video`` stream, naming faces against a
gallery of ``--gallery-size`` identities; the process's resident memory is
sampled every ``--every`` seconds.

    python benchmarks/video_memory.py [--minutes 10] [--gallery-size 1000] \
        [--out benchmarks/results/video_memory.json]

The frames reach ``video()`` as an iterable of BGR arrays read from the file
again and again, so the stream never ends: the tracker, the per-track records
and the lost tracks kept for re-identification must stay bounded while track
ids keep growing. Reported: RSS after 1 minute and at the end, its largest
value, and the frames, tracks and embeddings done.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from prosopo.evaluate import read_identification
from prosopo.gallery import Gallery
from prosopo.streams import video

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def looped(path: Path, until: float) -> Iterator[np.ndarray]:
    import cv2

    while time.monotonic() < until:
        cap = cv2.VideoCapture(str(path))
        while time.monotonic() < until:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame
        cap.release()


def main() -> None:
    from video import build_gallery  # benchmarks/video.py, beside this file

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--gallery-size", type=int, default=1000)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "video_memory.json")
    args = parser.parse_args()
    crowd, lfw = DATA / "video" / "crowd.mp4", DATA / "lfw-mini"
    if not crowd.is_file() or not lfw.is_dir():
        raise SystemExit(f"needs {crowd} and {lfw} (see ../shared/data/README.md)")
    with tempfile.TemporaryDirectory() as tmp:
        location = Path(tmp) / "gallery"
        build_gallery(location, read_identification(lfw), args.gallery_size, set())
        with Gallery.open(location) as gallery:
            start = time.monotonic()
            end = start + args.minutes * 60
            samples: list[tuple[float, float]] = [(0.0, rss_mib())]
            stream = video(looped(crowd, end), gallery, bgr=True, fps=25)
            frames = 0
            for _ in stream:
                frames += 1
                now = time.monotonic()
                if now - start - samples[-1][0] >= args.every:
                    samples.append((now - start, rss_mib()))
                    print(f"{samples[-1][0]:7.0f} s  {frames:7d} frames  RSS {samples[-1][1]:7.1f} MiB", flush=True)
            samples.append((time.monotonic() - start, rss_mib()))
            stats = stream.stats

    def at(seconds: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - seconds))[1]

    result = {
        "minutes": args.minutes, "gallery_identities": args.gallery_size, "frames": frames,
        "tracks": stats.tracks, "embeddings": stats.embeddings, "fps": round(frames / samples[-1][0], 2),
        "rss_mib_start": round(samples[0][1], 1), "rss_mib_1min": round(at(60), 1),
        "rss_mib_end": round(samples[-1][1], 1), "rss_mib_max": round(max(s[1] for s in samples), 1),
        "samples": [[round(t, 1), round(r, 1)] for t, r in samples],
    }
    print(f"{frames} frames, {stats.tracks} tracks, {stats.embeddings} embeddings in {args.minutes:g} min; "
          f"RSS {result['rss_mib_1min']} MiB after 1 min, {result['rss_mib_end']} MiB at the end, "
          f"max {result['rss_mib_max']} MiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
