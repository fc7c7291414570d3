"""Gallery speed on this machine: enrollment, find() on an unchanged folder,
and 1:N search over a million faces against DeepFace-style brute force.

    python benchmarks/gallery_speed.py folder --images ~/datasets/lfw/data/lfw-deepfunneled --count 10000
    python benchmarks/gallery_speed.py search --faces 1000000

``folder``: copies (hard links) ``--count`` LFW photos (250x250) into a
folder of one sub-folder per person, then times the first ``prosopo.find``
(which enrolls every photo, on both cores: enrollment images/s) and the
median of ``--repeat`` further calls on the unchanged folder (no
re-embedding: one directory listing and one search).

``search``: a store of ``--faces`` synthetic 128-D embeddings shaped like
SFace's (identity centres on the sphere plus noise, same-person cosine
about 0.65 as measured on LFW), enrolled through ``Gallery.enroll_embeddings``;
then, in a fresh process so the memory figure is clean, ``--queries``
single-face searches through ``Gallery.search_embeddings`` (index chosen
automatically: HNSW at this size; the time includes the database lookups
and the audit entry) and the same queries by numpy brute force over every
embedding, as DeepFace's ``find`` does. Recall@1 is against exact search on
the same vectors. Prints medians; writes benchmarks/results/gallery_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "gallery_speed.json"
DIM = 128
SAME_PERSON_NOISE = 0.75  # gives same-person cosine ~0.64, impostor ~0.0 +- 0.09


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic(faces: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``faces`` gallery embeddings (one per identity) and ``queries`` probes:
    half fresh photos of enrolled identities, half of strangers."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(faces, DIM)).astype(np.float32))
    noise = SAME_PERSON_NOISE / np.sqrt(DIM)
    gallery = np.empty_like(centres)
    for start in range(0, faces, 100_000):
        block = centres[start:start + 100_000]
        gallery[start:start + 100_000] = unit(block + rng.normal(scale=noise, size=block.shape))
    mated = centres[rng.choice(faces, queries // 2, replace=False)]
    strangers = unit(rng.normal(size=(queries - queries // 2, DIM)).astype(np.float32))
    probes = unit(np.vstack([mated, strangers]) + rng.normal(scale=noise, size=(queries, DIM)))
    return gallery, probes


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


# -- folder: enrollment and unchanged find() --------------------------------------------------

def bench_folder(images: Path, count: int, repeat: int, workers: int) -> dict:
    import prosopo

    files = sorted(images.rglob("*.jpg"))[:count]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        for f in files:
            target = folder / f.parent.name / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, target)
            except OSError:
                shutil.copy(f, target)
        probe = files[0]
        start = time.perf_counter()
        first = prosopo.find(probe, folder, workers=workers)
        first_s = time.perf_counter() - start
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            again = prosopo.find(probe, folder, workers=workers)
            times.append(time.perf_counter() - start)
            assert again.sync.added == again.sync.changed == 0
        enrolled = first.sync.added + len(first.sync.skipped)
    return {
        "photos": len(files), "faces_enrolled": first.sync.faces, "skipped": len(first.sync.skipped),
        "first_find_s": first_s, "enroll_images_per_s": enrolled / first_s,
        "unchanged_find_median_s": statistics.median(times), "unchanged_find_max_s": max(times), "workers": workers,
    }


# -- search over a large gallery ----------------------------------------------------------------

def build_store(root: Path, faces: int, queries: int) -> dict:
    from prosopo import Gallery

    gallery_vectors, probes = synthetic(faces, queries)
    exact = []
    for start in range(0, queries, 100):  # ground truth: exact top-1 over the stored vectors
        exact.extend(np.argmax(probes[start:start + 100] @ gallery_vectors.T, axis=1).tolist())
    names = [f"id{i:07d}" for i in range(faces)]
    start = time.perf_counter()
    with Gallery.open(root, purpose="benchmark", legal_basis="synthetic data") as gallery:
        gallery.enroll_embeddings(names, gallery_vectors, batch=50_000)
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        gallery.stats()  # builds (and saves) the index the gallery chose
        index_s = time.perf_counter() - start
    np.savez(root / "queries.npz", probes=probes, exact=np.array(exact), gallery=gallery_vectors)
    return {"faces": faces, "insert_s": insert_s, "index_build_s": index_s}


def search_child(root: Path) -> None:
    """Runs in a fresh process: open the store, search, print JSON."""
    data = np.load(root / "queries.npz")
    probes, exact, vectors = data["probes"], data["exact"], data["gallery"]
    from prosopo import Gallery

    before = rss_bytes()
    start = time.perf_counter()
    gallery = Gallery.open(root)
    stats = gallery.stats()  # loads the saved index
    open_s = time.perf_counter() - start
    after = rss_bytes()
    ours, found = [], []
    for q in probes:
        t = time.perf_counter()
        matches = gallery.search_embeddings(q, k=5)[0]
        ours.append(1000 * (time.perf_counter() - t))
        found.append(int(matches[0].identity[2:]) if matches else -1)
    gallery.close()
    brute = []
    for q in probes[:200]:  # DeepFace-style: distance to every stored embedding, then the minimum
        t = time.perf_counter()
        distances = 1.0 - vectors @ q
        int(np.argmin(distances))
        brute.append(1000 * (time.perf_counter() - t))
    half = len(probes) // 2
    hit = np.array(found) == exact
    print(json.dumps({
        "index": stats.index, "open_s": open_s, "rss_bytes_per_face": (after - before) / stats.faces,
        "index_bytes_per_face": stats.index_bytes / stats.faces, "disk_bytes_per_face": stats.disk_bytes / stats.faces,
        "search_p50_ms": percentile(ours, 50), "search_p99_ms": percentile(ours, 99),
        "recall_at_1": float(hit.mean()), "recall_at_1_mated": float(hit[:half].mean()),
        "recall_at_1_strangers": float(hit[half:].mean()),
        "brute_force_p50_ms": percentile(brute, 50), "brute_force_p99_ms": percentile(brute, 99),
        "queries": len(probes),
    }))


def bench_search(faces: int, queries: int, keep: Path | None) -> dict:
    tmp = tempfile.mkdtemp()
    root = keep or Path(tmp) / "g"
    try:
        built = build_store(root, faces, queries) if not (root / "queries.npz").exists() else {"faces": faces}
        env = {**os.environ, "PROSOPO_THREADS": "1"}
        out = subprocess.run([sys.executable, __file__, "search-child", str(root)], capture_output=True, text=True,
                             env=env, check=True)
        result = {**built, **json.loads(out.stdout.strip().splitlines()[-1])}
        result["speedup_vs_brute_force_p50"] = result["brute_force_p50_ms"] / result["search_p50_ms"]
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("folder")
    f.add_argument("--images", type=Path, required=True)
    f.add_argument("--count", type=int, default=10_000)
    f.add_argument("--repeat", type=int, default=5)
    f.add_argument("--workers", type=int, default=2)
    s = sub.add_parser("search")
    s.add_argument("--faces", type=int, default=1_000_000)
    s.add_argument("--queries", type=int, default=2_000)
    s.add_argument("--keep", type=Path, help="build the store here and keep it (reused if present)")
    c = sub.add_parser("search-child")
    c.add_argument("root", type=Path)
    args = parser.parse_args()
    if args.what == "search-child":
        search_child(args.root)
        return
    if args.what == "folder":
        result = {"folder": bench_folder(args.images.expanduser(), args.count, args.repeat, args.workers)}
    else:
        result = {f"search_{args.faces}": bench_search(args.faces, args.queries, args.keep)}
    for key, values in result.items():
        print(key)
        for name, value in values.items():
            print(f"  {name:<28} {value:.4g}" if isinstance(value, float) else f"  {name:<28} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous.update(result)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")


if __name__ == "__main__":
    main()
