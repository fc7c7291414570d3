"""Does the library itself hold on to memory? ``prosopo.verify`` called over
and over in one process on lfw-mini photos, with the process's resident
memory and Python's own allocations (tracemalloc) printed every 1,000 calls,
and the ten source lines whose live allocations grew most.

    python benchmarks/library_memory.py [--calls 6000] [--images ../shared/data/lfw-mini/images]

(The web service's own figures come from benchmarks/server_load.py.)
"""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

import prosopo

HERE = Path(__file__).parent


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--images", type=Path, default=HERE.parent.parent / "shared" / "data" / "lfw-mini" / "images")
    args = parser.parse_args()
    photos = [p.read_bytes() for p in sorted(args.images.glob("*/*.jpg"))[:40]]
    for i in range(200):  # warm up: models loaded, caches filled
        prosopo.verify(photos[i % 40], photos[(i + 1) % 40])
    tracemalloc.start(10)
    before = tracemalloc.take_snapshot()
    print(f"after warm-up: rss {rss_mb():.1f} MB")
    for n in range(1, args.calls + 1):
        prosopo.verify(photos[n % 40], photos[(n * 7 + 1) % 40])
        if n % 1000 == 0:
            print(f"{n} calls: rss {rss_mb():.1f} MB, Python allocations {tracemalloc.get_traced_memory()[0] / 1e6:.2f} MB",
                  flush=True)
    for stat in tracemalloc.take_snapshot().compare_to(before, "lineno")[:10]:
        print(stat)


if __name__ == "__main__":
    main()
