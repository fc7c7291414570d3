"""Which approximate-nearest-neighbour library should prosopo use for 1:N search?

    python benchmarks/ann_choice.py [--sizes 100000,1000000] [--configs all]
        [--large-configs auto] [--out benchmarks/results/ann_choice.json]

Targets, for a gallery of 1,000,000 faces (128-D, L2-normalised, cosine =
inner product):

* single-query search (k=10, one query per call, one thread) p50 <= 5 ms
  and p99 <= 20 ms;
* recall@1 >= 0.99 against exact search (numpy brute force, float32);
* resident memory <= 600 bytes per face.

Data.  Synthetic, seeded, calibrated against real SFace embeddings of LFW
(``--real-npz``): the same-person and different-person cosine mean/std of
the real file are printed, and the generator is fitted to them.  Each
identity centre is ``normalize(u + b*m)`` with ``u`` uniform on the unit
sphere and ``m`` one fixed direction (real embeddings share a mean
direction, which is why unrelated faces score about +0.09 rather than 0;
``--no-offset`` sets ``b = 0``, i.e. centres exactly uniform on the
sphere).  A face is ``normalize(centre + s_i * g)``, ``g`` Gaussian with
norm about 1 and ``s_i`` a per-face noise scale (log-normal around ``s``,
for image-quality spread).  The gallery holds one face for each of N
identities; the queries are 1,000 fresh faces of enrolled identities
(mated) and 1,000 of identities not in the gallery (non-mated).

Ground truth is exact top-10 by numpy over the same float32 vectors that
were given to the index; recall@1 = ANN top-1 equals exact top-1, reported
for mated, non-mated and all queries.  For mated queries the script also
reports how often the top-1 is the query's own identity (exact and ANN).

Configurations (``--configs``): HNSW graphs in usearch (f16/bf16/i8),
faiss ``IndexHNSWSQ`` (fp16/bf16/8-bit) and hnswlib (float32 only), named
``library-storage-M<connectivity>``, swept over search widths ``--ef``
(usearch ``expansion_search``, faiss ``efSearch``, hnswlib ``ef``); and, as
the no-graph baseline, faiss ``IndexScalarQuantizer`` exhaustive scans of
fp16 / 8-bit codes (``faiss-flat-*``, no search width).

Every measurement that matters runs in a fresh Python process:

1. ``build``: load the vectors, build with ``--build-threads`` threads, save
   to disk (build time, file size, RSS growth and peak while building);
2. ``query``: load the saved index from its file, RSS growth = steady-state
   memory per face; then single-query latency with one thread for each
   search-width value (p50/p99 over all queries, median of ``--repeats``
   passes); then, on that loaded index, later insertion one vector at a time
   and removal (or exclusion, where removal does not exist);
3. ``restore``: read the file into ``bytes`` and rebuild the index from the
   buffer (what an AES-GCM-encrypted index file needs), time and peak RSS;
4. ``brute``: numpy brute force (one mat-vec over all N float32 vectors plus
   a top-10 selection; what DeepFace-style search does) with 1 and 2 BLAS
   threads.

Another process may share the CPUs; the load average is recorded beside
every timing and ``uptime`` at start and end.  Results go to ``--out``
(JSON; entries for the same size and configuration are replaced, others
kept) and a markdown summary is printed.
"""

from __future__ import annotations

import argparse
import gc
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

HERE = Path(__file__).resolve().parent
DIM = 128
K = 10
# where benchmarks/identification.py caches the embeddings (prosopo.models.cache_dir() / "lfw")
DEFAULT_REAL = Path(os.environ.get("PROSOPO_HOME", Path.home() / ".cache" / "prosopo")) / "lfw" / "emb-yunet-sface-a.npz"

TARGET_P50_MS = 5.0
TARGET_P99_MS = 20.0
TARGET_RECALL = 0.99
TARGET_BYTES = 600
# prosopo's SFace threshold at FMR 1e-5 is cosine distance 0.5084, i.e. cosine
# 0.4916 (src/prosopo/thresholds.py).  Only queries whose exact top-1 is at or
# above it lead to an "identified" answer; a miss below it changes nothing
# (the ANN's top-1 score can only be lower than the exact one).
DEFAULT_THRESHOLD_COS = 0.4916

# name -> (library, storage type, M / connectivity).  Construction width is
# the same for all (--ef-construction) so that build times compare.
CONFIGS: dict[str, tuple[str, str, int]] = {
    "usearch-f16-M16": ("usearch", "f16", 16),
    "usearch-f16-M24": ("usearch", "f16", 24),
    "usearch-f16-M32": ("usearch", "f16", 32),
    "usearch-bf16-M16": ("usearch", "bf16", 16),
    "usearch-i8-M16": ("usearch", "i8", 16),
    "usearch-i8-M32": ("usearch", "i8", 32),
    "faiss-sqfp16-M16": ("faiss", "fp16", 16),
    "faiss-sqfp16-M24": ("faiss", "fp16", 24),
    "faiss-sqfp16-M32": ("faiss", "fp16", 32),
    "faiss-sqbf16-M16": ("faiss", "bf16", 16),
    "faiss-sq8-M16": ("faiss", "8bit", 16),
    "faiss-sq8-M32": ("faiss", "8bit", 32),
    # M = 0: no graph, an exhaustive scan of the quantised codes (exact up to
    # quantisation); the search-width sweep does not apply
    "faiss-flat-sqfp16": ("faiss", "fp16", 0),
    "faiss-flat-sq8": ("faiss", "8bit", 0),
    "hnswlib-f32-M16": ("hnswlib", "f32", 16),
}
EF_SEARCH = [32, 64, 128, 256, 512, 1024, 2048]


# ---------------------------------------------------------------- helpers


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value, _unit = line.split()
                out[key[:-1]] = int(value) * 1024
    return out


def rss() -> int:
    return proc_status()["VmRSS"]


def load1() -> float:
    return os.getloadavg()[0]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: %.2f, %.2f, %.2f" % os.getloadavg()


def normalize(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


# ------------------------------------------------------ data and calibration


def real_stats(path: Path, seed: int) -> dict:
    """Same-person and different-person cosine statistics of a real npz."""
    z = np.load(path)
    keys = sorted(z.keys())
    x = normalize(np.stack([z[k] for k in keys]).astype(np.float32))
    person = np.array([k.split("/")[0] for k in keys])
    _, pid = np.unique(person, return_inverse=True)
    same = []
    order = np.argsort(pid, kind="stable")
    bounds = np.flatnonzero(np.diff(pid[order])) + 1
    for group in np.split(order, bounds):
        if len(group) > 1:
            s = x[group] @ x[group].T
            same.append(s[np.triu_indices(len(group), 1)])
    same = np.concatenate(same)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(x), 2_000_000)
    b = rng.integers(0, len(x), 2_000_000)
    keep = pid[a] != pid[b]
    diff = np.einsum("ij,ij->i", x[a[keep]], x[b[keep]])
    return {
        "file": str(path),
        "faces": int(len(x)),
        "people": int(pid.max() + 1),
        "same_pairs": int(len(same)),
        "same_mean": float(same.mean()),
        "same_std": float(same.std()),
        "diff_pairs_sampled": int(keep.sum()),
        "diff_mean": float(diff.mean()),
        "diff_std": float(diff.std()),
        "mean_vector_norm": float(np.linalg.norm(x.mean(0))),
    }


class Generator:
    """Seeded synthetic face embeddings: see the module docstring."""

    def __init__(self, noise: float, offset: float, jitter: float, dim: int = DIM):
        self.noise, self.offset, self.jitter, self.dim = noise, offset, jitter, dim
        self.mean_dir = np.zeros(dim, np.float32)
        self.mean_dir[0] = 1.0

    def centres(self, n: int, rng: np.random.Generator) -> np.ndarray:
        c = rng.standard_normal((n, self.dim), dtype=np.float32)
        normalize(c)  # uniform on the sphere
        if self.offset:
            c += self.offset * self.mean_dir
            normalize(c)
        return c

    def faces(self, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(centres)
        scale = self.noise * np.exp(
            self.jitter * rng.standard_normal((n, 1), dtype=np.float32) - self.jitter**2 / 2
        )
        x = rng.standard_normal((n, self.dim), dtype=np.float32)
        x *= scale / np.sqrt(self.dim)
        x += centres
        return normalize(x)

    def pair_stats(self, pairs: int = 4000, seed: int = 12345) -> dict:
        rng = np.random.default_rng(seed)
        c = self.centres(pairs, rng)
        a, b = self.faces(c, rng), self.faces(c, rng)
        same = np.einsum("ij,ij->i", a, b)
        diff = np.einsum("ij,ij->i", a, np.roll(b, 1, 0))
        return {"same_mean": float(same.mean()), "same_std": float(same.std()),
                "diff_mean": float(diff.mean()), "diff_std": float(diff.std())}


def fit_generator(target: dict, use_offset: bool, dim: int = DIM) -> Generator:
    """Fit noise s, offset b and jitter to the real cosine statistics."""

    def fit_mean(jitter: float) -> Generator:
        s = np.sqrt(1 / target["same_mean"] - 1)
        b = 0.4 if use_offset else 0.0
        g = Generator(s, b, jitter, dim)
        for _ in range(6):
            st = g.pair_stats()
            g.noise = float(np.sqrt(max((1 + g.noise**2) * st["same_mean"] / target["same_mean"] - 1, 1e-4)))
            if use_offset and target["diff_mean"] > 0 and st["diff_mean"] > 0:
                c = g.offset**2 / (1 + g.offset**2) * target["diff_mean"] / st["diff_mean"]
                c = min(c, 0.9)
                g.offset = float(np.sqrt(c / (1 - c)))
        return g

    lo, hi = 0.0, 0.8
    g = fit_mean(0.0)
    if g.pair_stats()["same_std"] < target["same_std"]:
        for _ in range(10):
            mid = (lo + hi) / 2
            g = fit_mean(mid)
            if g.pair_stats()["same_std"] < target["same_std"]:
                lo = mid
            else:
                hi = mid
    return g


def realism_check(real_path: Path, gen: Generator, seed: int) -> list[dict]:
    """Is the synthetic data as hard for a graph index as the real one?

    Same gallery size as the real file: real LFW (one held-out image of each
    person with several as mated query, people with one image as non-mated)
    against synthetic data, usearch f16, recall@1 vs exact, a few widths.
    """
    from usearch.index import Index

    z = np.load(real_path)
    keys = sorted(z.keys())
    x = normalize(np.stack([z[k] for k in keys]).astype(np.float32))
    _, pid = np.unique([k.split("/")[0] for k in keys], return_inverse=True)
    cnt = np.bincount(pid)
    rng = np.random.default_rng(seed)
    mated, seen = [], set()
    for i in rng.permutation(np.flatnonzero(cnt[pid] >= 2)):
        if pid[i] not in seen:
            seen.add(pid[i])
            mated.append(i)
    nonmated = rng.choice(np.flatnonzero(cnt[pid] == 1), len(mated), replace=False)
    gallery_rows = np.setdiff1d(np.arange(len(x)), np.r_[mated, nonmated])
    is_mated = np.r_[np.ones(len(mated), bool), np.zeros(len(nonmated), bool)]
    c = gen.centres(len(gallery_rows), rng)
    syn_q = np.r_[gen.faces(c[rng.choice(len(c), len(mated), replace=False)], rng),
                  gen.faces(gen.centres(len(nonmated), rng), rng)]
    sets = {"real LFW": (x[gallery_rows], np.r_[x[mated], x[nonmated]]),
            "synthetic": (gen.faces(c, rng), syn_q)}
    out = []
    for label, (g, q) in sets.items():
        truth = np.argmax(q @ g.T, axis=1)
        for m in (16, 32):
            ix = Index(ndim=DIM, metric="ip", dtype="f16", connectivity=m, expansion_add=128)
            ix.add(np.arange(len(g), dtype=np.uint64), g, threads=2)
            for ef in (16, 64, 256):
                ix.expansion_search = ef
                got = np.array([ix.search(v, K, threads=1).keys[0] for v in q])
                hit = got == truth
                out.append({"data": label, "gallery": len(g), "M": m, "ef": ef, "recall1": float(hit.mean()),
                            "recall1_mated": float(hit[is_mated].mean()),
                            "recall1_nonmated": float(hit[~is_mated].mean())})
    return out


def make_data(n: int, queries: int, gen: Generator, seed: int, folder: Path) -> dict:
    """Gallery, mated and non-mated queries, exact ground truth -> folder."""
    rng = np.random.default_rng(seed)
    centres = gen.centres(n, rng)
    gallery = gen.faces(centres, rng)
    mate = rng.choice(n, queries, replace=False)
    mated = gen.faces(centres[mate], rng)
    del centres
    nonmated = gen.faces(gen.centres(queries, rng), rng)
    q = np.concatenate([mated, nonmated])
    is_mated = np.r_[np.ones(queries, bool), np.zeros(queries, bool)]
    mate_row = np.r_[mate, -np.ones(queries, np.int64)]

    t = time.perf_counter()
    top = np.empty((len(q), K), np.int64)
    top_score = np.empty((len(q), K), np.float32)
    for i in range(0, len(q), 100):
        s = q[i:i + 100] @ gallery.T
        part = np.argpartition(-s, K, axis=1)[:, :K]
        ps = np.take_along_axis(s, part, 1)
        o = np.argsort(-ps, axis=1)
        top[i:i + 100] = np.take_along_axis(part, o, 1)
        top_score[i:i + 100] = np.take_along_axis(ps, o, 1)
        del s
    gt_s = time.perf_counter() - t

    np.save(folder / "gallery.npy", gallery)
    np.savez(folder / "queries.npz", q=q, is_mated=is_mated, mate_row=mate_row,
             top=top, top_score=top_score)
    margin = top_score[:, 0] - top_score[:, 1]
    return {
        "ground_truth_s": gt_s,
        "exact_mated_top1_is_mate": float((top[is_mated, 0] == mate).mean()),
        "exact_top1_score_mated_median": float(np.median(top_score[is_mated, 0])),
        "exact_top1_score_nonmated_median": float(np.median(top_score[~is_mated, 0])),
        "top1_top2_margin_mated_median": float(np.median(margin[is_mated])),
        "top1_top2_margin_nonmated_median": float(np.median(margin[~is_mated])),
    }


# ------------------------------------------------------------ the libraries


class Lib:
    """Tiny uniform wrapper; each method is a direct call of the library."""

    def __init__(self, lib: str, kind: str, m: int):
        self.lib, self.kind, self.m = lib, kind, m
        if lib == "usearch":
            import usearch.index as mod
        elif lib == "faiss":
            import faiss as mod
        else:
            import hnswlib as mod
        self.mod = mod
        self.index = None

    def version(self) -> str:
        if self.lib == "usearch":
            import usearch
            return usearch.__version__
        if self.lib == "faiss":
            return self.mod.__version__
        from importlib.metadata import version
        return version("hnswlib")

    def build(self, x: np.ndarray, ef_construction: int, threads: int) -> None:
        n = len(x)
        if self.lib == "usearch":
            self.index = self.mod.Index(ndim=DIM, metric="ip", dtype=self.kind,
                                        connectivity=self.m, expansion_add=ef_construction)
            self.index.add(np.arange(n, dtype=np.uint64), x, threads=threads)
        elif self.lib == "faiss":
            faiss = self.mod
            faiss.omp_set_num_threads(threads)
            qt = {"fp16": faiss.ScalarQuantizer.QT_fp16, "bf16": faiss.ScalarQuantizer.QT_bf16,
                  "8bit": faiss.ScalarQuantizer.QT_8bit}[self.kind]
            if self.m:
                self.index = faiss.IndexHNSWSQ(DIM, qt, self.m, faiss.METRIC_INNER_PRODUCT)
                self.index.hnsw.efConstruction = ef_construction
            else:
                self.index = faiss.IndexScalarQuantizer(DIM, qt, faiss.METRIC_INNER_PRODUCT)
            self.index.train(x)  # per-dimension ranges for 8bit; no-op for fp16/bf16
            self.index.add(x)
        else:
            self.index = self.mod.Index(space="ip", dim=DIM)
            self.index.init_index(max_elements=n, M=self.m, ef_construction=ef_construction)
            self.index.add_items(x, np.arange(n), num_threads=threads)

    def save(self, path: Path) -> None:
        if self.lib == "usearch":
            self.index.save(str(path))
        elif self.lib == "faiss":
            self.mod.write_index(self.index, str(path))
        else:
            self.index.save_index(str(path))

    def load(self, path: Path) -> None:
        if self.lib == "usearch":
            self.index = self.mod.Index.restore(str(path))  # view=False: read into RAM
        elif self.lib == "faiss":
            self.index = self.mod.read_index(str(path))
            self.mod.omp_set_num_threads(1)
        else:
            self.index = self.mod.Index(space="ip", dim=DIM)
            self.index.load_index(str(path))
            self.index.set_num_threads(1)

    def load_bytes(self, data: bytes) -> None:
        if self.lib == "usearch":
            self.index = self.mod.Index.restore(data)
        elif self.lib == "faiss":
            self.index = self.mod.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        else:
            import pickle  # hnswlib has no buffer API; its pickle state is the only bytes route
            self.index = pickle.loads(data)

    def to_bytes(self) -> bytes:
        if self.lib == "usearch":
            return bytes(self.index.save())  # save() with no path returns a bytearray
        if self.lib == "faiss":
            return self.mod.serialize_index(self.index).tobytes()
        import pickle
        return pickle.dumps(self.index)

    def set_ef(self, ef: int) -> None:
        if self.lib == "usearch":
            self.index.expansion_search = ef
        elif self.lib == "faiss":
            if self.m:
                self.index.hnsw.efSearch = ef
        else:
            self.index.set_ef(ef)

    def searcher(self):
        """A one-query search function returning keys, bound to one thread."""
        ix = self.index
        if self.lib == "usearch":
            return lambda q: ix.search(q, K, threads=1).keys
        if self.lib == "faiss":
            self.mod.omp_set_num_threads(1)
            return lambda q: ix.search(q[None], K)[1][0]
        return lambda q: ix.knn_query(q, k=K, num_threads=1)[0][0]

    def count(self) -> int:
        if self.lib == "usearch":
            return len(self.index)
        if self.lib == "faiss":
            return int(self.index.ntotal)
        return int(self.index.get_current_count())


# ------------------------------------------------------------------ workers


def worker_build(spec: dict) -> dict:
    lib = Lib(*CONFIGS[spec["config"]])
    x = np.load(Path(spec["dir"]) / "gallery.npy")
    gc.collect()
    r0 = rss()
    load = load1()
    t = time.perf_counter()
    lib.build(x, spec["ef_construction"], spec["threads"])
    build_s = time.perf_counter() - t
    r1 = proc_status()
    path = Path(spec["index_path"])
    t = time.perf_counter()
    lib.save(path)
    save_s = time.perf_counter() - t
    return {
        "version": lib.version(),
        "build_s": build_s,
        "build_threads": spec["threads"],
        "build_load1": load,
        "save_s": save_s,
        "file_bytes": path.stat().st_size,
        "rss_growth_after_build": r1["VmRSS"] - r0,
        "peak_rss_total": r1["VmHWM"],
        "count": lib.count(),
    }


def worker_query(spec: dict) -> dict:
    folder = Path(spec["dir"])
    lib = Lib(*CONFIGS[spec["config"]])
    z = np.load(folder / "queries.npz")
    q, is_mated, mate_row, top = z["q"], z["is_mated"], z["mate_row"], z["top"]
    accept = z["top_score"][:, 0] >= spec["threshold_cos"]
    n = spec["n"]
    order = np.random.default_rng(7).permutation(len(q))
    gc.collect()
    r0 = rss()
    t = time.perf_counter()
    lib.load(Path(spec["index_path"]))
    load_s = time.perf_counter() - t
    gc.collect()
    r1 = rss()
    out: dict = {"load_s": load_s, "rss_growth_after_load": r1 - r0,
                 "rss_bytes_per_face": (r1 - r0) / n, "search": []}
    if lib.lib == "usearch":
        out["usearch_memory_usage"] = int(lib.index.memory_usage)
    search = lib.searcher()
    for ef in spec["ef"] if lib.m else [0]:
        lib.set_ef(ef)
        for i in order[:50]:  # warm-up
            search(q[i])
        keys = np.full((len(q), K), -1, np.int64)
        p50s, p99s, means, loads = [], [], [], []
        for rep in range(spec["repeats"]):
            lat = np.empty(len(q))
            loads.append(load1())
            gc.disable()
            for i in order:
                t0 = time.perf_counter_ns()
                res = search(q[i])
                lat[i] = time.perf_counter_ns() - t0
                if rep == 0:
                    r = np.asarray(res, dtype=np.int64)
                    keys[i, :len(r)] = r
            gc.enable()
            lat /= 1e6
            p50s.append(pct(lat, 50))
            p99s.append(pct(lat, 99))
            means.append(float(lat.mean()))
        hit1 = keys[:, 0] == top[:, 0]
        rec10 = np.array([len(set(keys[i]) & set(top[i])) / K for i in range(len(q))])
        out["search"].append({
            "ef": ef,
            "p50_ms": statistics.median(p50s), "p99_ms": statistics.median(p99s),
            "mean_ms": statistics.median(means),
            "p50_ms_runs": p50s, "p99_ms_runs": p99s, "load1": loads,
            "recall1": float(hit1.mean()),
            "recall1_mated": float(hit1[is_mated].mean()),
            "recall1_nonmated": float(hit1[~is_mated].mean()),
            "recall10": float(rec10.mean()),
            "exact_top1_in_ann_top10": float((keys == top[:, :1]).any(1).mean()),
            "mated_top1_is_mate": float((keys[is_mated, 0] == mate_row[is_mated]).mean()),
            "threshold_cos": spec["threshold_cos"],
            "queries_above_threshold": int(accept.sum()),
            "recall1_above_threshold": float(hit1[accept].mean()) if accept.any() else None,
        })
    out["quantised_exact"] = quantised_ceiling(lib, spec["n"], q, top, is_mated)
    out["mutation"] = mutate(lib, spec, q, top)
    return out


def quantised_ceiling(lib: Lib, n: int, q: np.ndarray, top: np.ndarray, is_mated: np.ndarray) -> dict:
    """Recall@1 of exact search over the vectors as the index stores them.

    Decodes every stored vector back to float32 and searches exhaustively:
    what is lost here is lost to quantisation (ties broken differently),
    whatever the search width; the rest of the gap is the graph's.
    """
    if lib.lib == "usearch":
        g = np.asarray(lib.index.get(np.arange(n, dtype=np.uint64), dtype=np.float32))
    elif lib.lib == "faiss":
        g = lib.index.reconstruct_n(0, n)
    else:
        g = np.asarray(lib.index.get_items(np.arange(n), return_type="numpy"), dtype=np.float32)
    best = np.concatenate([np.argmax(q[i:i + 100] @ g.T, axis=1) for i in range(0, len(q), 100)])
    hit = best == top[:, 0]
    return {"recall1": float(hit.mean()), "recall1_mated": float(hit[is_mated].mean()),
            "recall1_nonmated": float(hit[~is_mated].mean())}


def mutate(lib: Lib, spec: dict, q: np.ndarray, top: np.ndarray) -> dict:
    """Later insertion (one vector per call) and removal on the loaded index."""
    n = spec["n"]
    rng = np.random.default_rng(99)
    new = normalize(rng.standard_normal((spec["mutations"], DIM), dtype=np.float32))
    new_keys = np.arange(n, n + len(new))
    out: dict = {}
    ix = lib.index
    t = time.perf_counter()
    if lib.lib == "hnswlib":  # fixed capacity: grow first
        ix.resize_index(ix.get_max_elements() + len(new))
    out["grow_s"] = time.perf_counter() - t
    lat = []
    for key, v in zip(new_keys, new):
        t0 = time.perf_counter_ns()
        if lib.lib == "usearch":
            ix.add(int(key), v, threads=1)
        elif lib.lib == "faiss":
            ix.add(v[None])  # ids are implicit: ntotal before the call
        else:
            ix.add_items(v[None], [int(key)], num_threads=1)
        lat.append((time.perf_counter_ns() - t0) / 1e6)
    out["insert_one_p50_ms"] = pct(lat, 50)
    out["insert_one_p99_ms"] = pct(lat, 99)
    search = lib.searcher()
    out["inserted_found_as_top1"] = float(np.mean(
        [int(np.asarray(search(v))[0]) == int(k) for k, v in zip(new_keys, new)]))

    # the exact top-1 of the first queries: first excluded at search time
    # (where the library can), then removed; neither may come back
    victims = np.unique(top[: spec["mutations"], 0])
    checks = range(spec["mutations"])
    if lib.lib == "usearch":
        out["exclusion_filter"] = "no filter argument in the Python search(); over-fetch and drop, or remove()"
    else:
        if lib.lib == "faiss":
            f = lib.mod
            sel = f.IDSelectorNot(f.IDSelectorBatch(victims.astype(np.int64)))
            params = (f.SearchParametersHNSW(efSearch=ix.hnsw.efSearch, sel=sel) if lib.m
                      else f.SearchParameters(sel=sel))
            run = lambda v: ix.search(v[None], K, params=params)[1][0]  # noqa: E731
        else:
            bad = set(int(v) for v in victims)
            run = lambda v: ix.knn_query(v, k=K, num_threads=1, filter=lambda key: key not in bad)[0][0]  # noqa: E731
        lat, hits = [], []
        for i in checks:
            t0 = time.perf_counter_ns()
            r = run(q[i])
            lat.append((time.perf_counter_ns() - t0) / 1e6)
            hits.append(np.isin(np.asarray(r), victims).any())
        plain = []
        for i in checks:
            t0 = time.perf_counter_ns()
            search(q[i])
            plain.append((time.perf_counter_ns() - t0) / 1e6)
        out["exclusion_filter_p50_ms"] = pct(lat, 50)
        out["same_queries_unfiltered_p50_ms"] = pct(plain, 50)
        out["exclusion_filter_still_returned"] = float(np.mean(hits))
    t = time.perf_counter()
    try:
        if lib.lib == "usearch":
            ix.remove(victims.astype(np.uint64))
        elif lib.lib == "faiss":
            ix.remove_ids(victims.astype(np.int64))
        else:
            for v in victims:
                ix.mark_deleted(int(v))
        out["remove_s"] = time.perf_counter() - t
        out["remove"] = f"ok ({len(victims)} keys)"
        out["count_after_remove"] = lib.count()
        out["removed_still_returned"] = float(np.mean(
            [np.isin(np.asarray(search(q[i])), victims).any() for i in checks]))
    except Exception as e:  # faiss HNSW: not implemented
        out["remove"] = "error: " + str(e).strip().splitlines()[-1][:160]
    return out


def worker_restore(spec: dict) -> dict:
    """Read the file into bytes, rebuild from the buffer, compare answers."""
    lib = Lib(*CONFIGS[spec["config"]])
    path = Path(spec["index_path"])
    z = np.load(Path(spec["dir"]) / "queries.npz")
    q = z["q"][:50]
    gc.collect()
    r0 = rss()
    if lib.lib == "hnswlib":  # bytes route is pickle; make the pickle first
        lib.load(path)
        data = lib.to_bytes()
        lib.index = None
        gc.collect()
        r0 = rss()
    else:
        data = path.read_bytes()
    t = time.perf_counter()
    lib.load_bytes(data)
    restore_s = time.perf_counter() - t
    st = proc_status()
    lib.set_ef(64)
    s = lib.searcher()
    first = [np.asarray(s(v)).tolist() for v in q]
    t = time.perf_counter()
    back = lib.to_bytes()
    to_bytes_s = time.perf_counter() - t
    del data
    gc.collect()
    lib2 = Lib(*CONFIGS[spec["config"]])
    lib2.load_bytes(back)
    lib2.set_ef(64)
    s2 = lib2.searcher()
    same = all(np.asarray(s2(v)).tolist() == a for v, a in zip(q, first))
    return {"restore_from_bytes_s": restore_s, "to_bytes_s": to_bytes_s,
            "bytes_len": len(back), "rss_growth_with_buffer": st["VmRSS"] - r0,
            "peak_rss_total": st["VmHWM"], "round_trip_same_results": bool(same)}


def worker_brute(spec: dict) -> dict:
    x = np.load(Path(spec["dir"]) / "gallery.npy")
    z = np.load(Path(spec["dir"]) / "queries.npz")
    q, top = z["q"], z["top"]
    idx = np.random.default_rng(3).permutation(len(q))[: spec["queries"]]

    def search(v):
        s = x @ v
        part = np.argpartition(-s, K)[:K]
        return part[np.argsort(-s[part])]

    for i in idx[:5]:
        search(q[i])
    lat, ok, loads = [], [], []
    for i in idx:
        if len(lat) % 50 == 0:
            loads.append(load1())
        t0 = time.perf_counter_ns()
        r = search(q[i])
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        ok.append(r[0] == top[i, 0])
    return {"threads": spec["threads"], "queries": len(idx), "p50_ms": pct(lat, 50),
            "p99_ms": pct(lat, 99), "top1_agrees": float(np.mean(ok)), "load1": loads}


WORKERS = {"build": worker_build, "query": worker_query, "restore": worker_restore,
           "brute": worker_brute}


def run_worker(mode: str, spec: dict, threads: int = 1, timeout: float = 3600) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--spec", json.dumps(spec)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{mode} {spec.get('config')} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------- reporting


def best_point(search: list[dict]) -> dict:
    """Smallest search width meeting the recall target, else the best recall."""
    ok = [s for s in search if s["recall1"] >= TARGET_RECALL]
    return ok[0] if ok else max(search, key=lambda s: (s["recall1"], -s["p50_ms"]))


def verdict(run: dict, s: dict) -> str:
    fails = []
    if run["query"]["rss_bytes_per_face"] > TARGET_BYTES:
        fails.append("mem")
    if s["recall1"] < TARGET_RECALL:
        fails.append("recall")
    if s["p50_ms"] > TARGET_P50_MS or s["p99_ms"] > TARGET_P99_MS:
        fails.append("latency")
    return "PASS" if not fails else "fail: " + ",".join(fails)


def summary_table(runs: list[dict], brute: list[dict]) -> str:
    lines = [
        "| N | config | ef | build s | file B/face | RSS B/face | p50 ms | p99 ms | R@1 all | R@1 mated | R@1 non-mated | R@10 | R@1 ceiling | R@1 above thr (n) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda r: (r["n"], r["config"])):
        s = best_point(r["query"]["search"])
        n = r["n"]
        lines.append(
            f"| {n:,} | {r['config']} | {s['ef']} | {r['build']['build_s']:.1f} | "
            f"{r['build']['file_bytes'] / n:.0f} | {r['query']['rss_bytes_per_face']:.0f} | "
            f"{s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {s['recall1']:.4f} | {s['recall1_mated']:.4f} | "
            f"{s['recall1_nonmated']:.4f} | {s['recall10']:.4f} | {r['query']['quantised_exact']['recall1']:.4f} | "
            f"{fmt_thr(s)} | {verdict(r, s)} |")
    for b in sorted(brute, key=lambda b: (b["n"], b["threads"])):
        lines.append(f"| {b['n']:,} | numpy brute force, {b['threads']} BLAS thread(s) | - | 0 | 512 | 512 | "
                     f"{b['p50_ms']:.2f} | {b['p99_ms']:.2f} | 1 | 1 | 1 | 1 | 1 | 1 | - |")
    return "\n".join(lines)


def fmt_thr(s: dict) -> str:
    if s.get("recall1_above_threshold") is None:
        return "-"
    return f"{s['recall1_above_threshold']:.4f} ({s['queries_above_threshold']})"


def detail_table(runs: list[dict]) -> str:
    lines = ["| N | config | ef | p50 ms | p99 ms | R@1 | R@1 mated | R@1 non-mated | top-1 is mate | R@1 above thr (n) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["n"], r["config"])):
        for s in r["query"]["search"]:
            lines.append(f"| {r['n']:,} | {r['config']} | {s['ef']} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | "
                         f"{s['recall1']:.4f} | {s['recall1_mated']:.4f} | {s['recall1_nonmated']:.4f} | "
                         f"{s['mated_top1_is_mate']:.4f} | {fmt_thr(s)} |")
    return "\n".join(lines)


# -------------------------------------------------------------------- main


def run_size(n: int, configs: list[str], args, gen: Generator, folder: Path, log) -> tuple[list, list, dict]:
    d = folder / f"n{n}"
    d.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    data = make_data(n, args.queries, gen, args.seed + n, d)
    data["generate_s"] = time.perf_counter() - t
    log(f"[n={n:,}] data + exact ground truth in {data['generate_s']:.0f}s; "
        f"exact top-1 is the mate for {data['exact_mated_top1_is_mate']:.3f} of mated queries; "
        f"median top1-top2 margin mated {data['top1_top2_margin_mated_median']:.4f}, "
        f"non-mated {data['top1_top2_margin_nonmated_median']:.4f}")
    brute = []
    for th in (1, 2):
        b = run_worker("brute", {"dir": str(d), "queries": args.brute_queries, "threads": th}, threads=th)
        b["n"] = n
        brute.append(b)
        log(f"[n={n:,}] numpy brute force, {th} thread(s): p50 {b['p50_ms']:.2f} ms, p99 {b['p99_ms']:.2f} ms")
    runs = []
    for name in configs:
        ipath = d / f"{name}.index"
        spec = {"config": name, "dir": str(d), "n": n, "index_path": str(ipath),
                "ef_construction": args.ef_construction, "threads": args.build_threads,
                "ef": args.ef, "repeats": args.repeats, "mutations": args.mutations,
                "threshold_cos": args.threshold_cos}
        try:
            b = run_worker("build", spec, threads=args.build_threads)
            log(f"[n={n:,}] {name}: built in {b['build_s']:.1f}s, file {b['file_bytes'] / n:.0f} B/face")
            qr = run_worker("query", spec, threads=1)
            s = best_point(qr["search"])
            log(f"[n={n:,}] {name}: RSS {qr['rss_bytes_per_face']:.0f} B/face; ef={s['ef']} "
                f"p50 {s['p50_ms']:.3f} ms p99 {s['p99_ms']:.3f} ms R@1 {s['recall1']:.4f} "
                f"(mated {s['recall1_mated']:.4f}, non-mated {s['recall1_nonmated']:.4f}); "
                f"quantised exact {qr['quantised_exact']['recall1']:.4f}")
            rs = run_worker("restore", spec, threads=1)
        except Exception as e:  # keep going; record the failure
            log(f"[n={n:,}] {name}: FAILED {e}")
            continue
        finally:
            if not args.keep and ipath.exists():
                ipath.unlink()
        runs.append({"n": n, "config": name, "library": CONFIGS[name][0], "storage": CONFIGS[name][1],
                     "M": CONFIGS[name][2], "ef_construction": args.ef_construction,
                     "build": b, "query": qr, "restore": rs})
    return runs, brute, data


def pick_large(runs: list[dict], limit: int) -> list[str]:
    """Promising = met memory and recall (at some ef) within latency at the small size."""
    good = []
    for r in runs:
        s = best_point(r["query"]["search"])
        if (r["query"]["rss_bytes_per_face"] <= TARGET_BYTES and s["recall1"] >= TARGET_RECALL
                and s["p99_ms"] <= TARGET_P99_MS):
            good.append((s["p50_ms"], r["config"]))
    return [name for _, name in sorted(good)[:limit]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000",
                    help="gallery sizes, comma-separated; the last one gets only --large-configs")
    ap.add_argument("--configs", default="all", help=f"comma list or 'all': {', '.join(CONFIGS)}")
    ap.add_argument("--large-configs", default="auto",
                    help="configs for the largest size: comma list, or 'auto' = those that met every "
                         "target at the previous size (at most --max-large, fastest first)")
    ap.add_argument("--max-large", type=int, default=4)
    ap.add_argument("--queries", type=int, default=1000, help="mated queries; as many non-mated")
    ap.add_argument("--ef", default=",".join(map(str, EF_SEARCH)), help="search widths to sweep")
    ap.add_argument("--ef-construction", type=int, default=128,
                    help="construction width for every library (usearch expansion_add, "
                         "faiss efConstruction, hnswlib ef_construction)")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="latency passes per search width (median kept)")
    ap.add_argument("--brute-queries", type=int, default=200)
    ap.add_argument("--mutations", type=int, default=500, help="vectors inserted / removed afterwards")
    ap.add_argument("--threshold-cos", type=float, default=DEFAULT_THRESHOLD_COS,
                    help="decision threshold (cosine) for the 'R@1 above threshold' column")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--real-npz", type=Path, default=DEFAULT_REAL, help="real embeddings to calibrate against")
    ap.add_argument("--no-offset", action="store_true", help="identity centres exactly uniform on the sphere")
    ap.add_argument("--workdir", type=Path, default=None, help="where data and indexes go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep index files")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ann_choice.json")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(WORKERS[args.worker](json.loads(args.spec))))
        return

    args.ef = [int(v) for v in args.ef.split(",")]
    sizes = [int(v) for v in args.sizes.split(",")]
    configs = list(CONFIGS) if args.configs == "all" else args.configs.split(",")
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c}")
    started = time.time()

    def log(msg: str) -> None:
        print(f"{time.time() - started:7.0f}s  {msg}", flush=True)

    meta = {"uptime_start": uptime(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "machine": platform.machine(),
            "command": " ".join([Path(sys.executable).name] + sys.argv),
            "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS, "recall1": TARGET_RECALL,
                        "bytes_per_face": TARGET_BYTES},
            "ef_construction": args.ef_construction, "build_threads": args.build_threads,
            "queries_mated": args.queries, "queries_nonmated": args.queries, "k": K, "seed": args.seed}
    log(f"uptime: {meta['uptime_start']}")

    if args.real_npz.exists():
        real = real_stats(args.real_npz, args.seed)
        log(f"real ({real['faces']} faces, {real['people']} people): same-person cosine "
            f"{real['same_mean']:.3f} +- {real['same_std']:.3f} ({real['same_pairs']} pairs), different-person "
            f"{real['diff_mean']:.3f} +- {real['diff_std']:.3f}; |mean vector| {real['mean_vector_norm']:.3f}")
    else:
        real = {"file": None, "same_mean": 0.65, "same_std": 0.08, "diff_mean": 0.0 if args.no_offset else 0.09,
                "diff_std": 0.09}
        log(f"{args.real_npz} not found: calibrating to same 0.65, different {real['diff_mean']}")
    gen = fit_generator(real, use_offset=not args.no_offset)
    syn = gen.pair_stats(pairs=20000, seed=1)
    log(f"synthetic: noise {gen.noise:.3f}, offset {gen.offset:.3f}, jitter {gen.jitter:.3f} -> same "
        f"{syn['same_mean']:.3f} +- {syn['same_std']:.3f}, different {syn['diff_mean']:.3f} +- {syn['diff_std']:.3f}")
    meta["calibration"] = {"real": real, "synthetic": syn,
                           "generator": {"noise": gen.noise, "offset": gen.offset, "jitter": gen.jitter}}

    if args.real_npz.exists():
        meta["realism_check"] = realism_check(args.real_npz, gen, args.seed)
        log("realism check, usearch f16, gallery %d, recall@1 (mated/non-mated):" % meta["realism_check"][0]["gallery"])
        for r in meta["realism_check"]:
            log(f"   {r['data']:10s} M={r['M']:2d} ef={r['ef']:3d}: {r['recall1']:.3f} "
                f"({r['recall1_mated']:.3f}/{r['recall1_nonmated']:.3f})")

    folder = args.workdir or Path(tempfile.mkdtemp(prefix="ann_choice_"))
    all_runs, all_brute, data_meta = [], [], {}
    previous: list[dict] = []
    for i, n in enumerate(sizes):
        these = configs
        if i == len(sizes) - 1 and i > 0:
            these = (pick_large(previous, args.max_large) if args.large_configs == "auto"
                     else args.large_configs.split(","))
            log(f"[n={n:,}] configurations: {', '.join(these) or '(none met the targets)'}")
        runs, brute, dm = run_size(n, these, args, gen, folder, log)
        all_runs += runs
        all_brute += brute
        data_meta[str(n)] = dm
        previous = runs
        # free the big files before the next size
        for f in (folder / f"n{n}").glob("*"):
            if not args.keep:
                f.unlink()

    meta["uptime_end"] = uptime()
    meta["wall_s"] = time.time() - started
    meta["data"] = data_meta
    log(f"uptime: {meta['uptime_end']}")

    # merge with earlier results: replace same (n, config), keep the rest
    old = {}
    if args.out.exists():
        try:
            old = json.loads(args.out.read_text())
        except json.JSONDecodeError:
            old = {}
    new_keys = {(r["n"], r["config"]) for r in all_runs}
    runs = [r for r in old.get("runs", []) if (r["n"], r["config"]) not in new_keys] + all_runs
    new_b = {(b["n"], b["threads"]) for b in all_brute}
    brute = [b for b in old.get("brute", []) if (b["n"], b["threads"]) not in new_b] + all_brute
    invocations = old.get("invocations", [old["meta"]] if "meta" in old else []) + [meta]
    report = {"invocations": invocations, "runs": runs, "brute": brute}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print("Best search width per configuration (smallest ef with R@1 >= 0.99, else best R@1); "
          "latencies = median over passes of p50/p99 across all queries, 1 thread:\n")
    print(summary_table(runs, brute))
    print("\nEvery search width (this run):\n")
    print(detail_table(all_runs))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
