"""Approximate search for large galleries: a Hamming scan over short binary
codes, then an exact re-ranking of the best candidates.

Each face gets a 512-bit code: the signs of a fixed random projection of its
embedding (minus the gallery's mean embedding), so that the Hamming distance
between two codes tracks the angle between the faces. A query scans every
code with faiss's SIMD Hamming search (64 bytes a face: 64 MB for a million
faces; a large gallery is scanned as two halves on two threads, which faiss
runs without Python's lock), keeps the ``CANDIDATES`` nearest, and re-ranks
those with their embeddings, stored as int8 with one float32 scale per face
(``dim + 4`` bytes: 132 for a 128-D model, 516 for a 512-D one; the
similarity it gives is within about 0.001 of the float32 one). About 200
bytes a face in all at 128-D and 590 at 512-D.
(256-bit codes found the exact nearest mated face 98.4% of the time at a
million faces, 512-bit ones 99.6%.)

Why not a graph index (HNSW)? Measured here (``benchmarks/ann_choice.py``):
face embeddings are close to isotropic in 128 dimensions, where graph
search needs a very wide beam; at a million faces usearch and faiss HNSW
took over 20 ms a query for recall@1 near 0.97, while this scan finds a
mated face (the same person enrolled) with recall near 1.0 in a few
milliseconds. Its weakness is the nearest *stranger*: when nobody enrolled
is close, the exact nearest face may be missed, but it would be far beyond
any threshold, so the decision ("unknown") does not change.

The index is derived data, saved beside the database (sealed with the
gallery key when the store is encrypted) so that opening a large gallery
is quick.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import StoreError

BITS = 512
CANDIDATES = 2000
SEED = 20261123  # the random projection; fixed, so saved codes stay valid
FORMAT = 2  # of the saved index: 2 = int8 vectors (1 was float16; such a file is rebuilt)
MEAN_FROM = 1000  # faces needed before the gallery's mean is estimated
# Galleries this large are scanned in two halves at once, each giving half the
# candidates: measured on 2 cores at a million faces, 2.4 ms instead of 7 ms.
SPLIT_FROM = 100_000
CODE_BYTES = BITS // 8
_POOL = ThreadPoolExecutor(1, thread_name_prefix="prosopo-scan")  # the second half; the caller scans the first


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - a declared dependency
        raise StoreError("the 'faiss-cpu' package is needed for large galleries; pip install faiss-cpu") from None
    # One query at a time gains nothing from OpenMP, and its idle threads spin:
    # measured at a million 512-D faces, a search took 24 ms with two OpenMP
    # threads and 10 ms with one. prosopo parallelises the scan itself.
    faiss.omp_set_num_threads(1)
    return faiss


def _scan(query_code: np.ndarray, codes: np.ndarray, wanted: int) -> np.ndarray:
    """Rows of the ``wanted`` codes nearest to ``query_code`` in Hamming
    distance (counting selection, unsorted)."""
    faiss = _faiss()
    wanted = min(wanted, len(codes))
    distances = np.empty(wanted, np.int32)
    rows = np.empty(wanted, np.int64)
    faiss.hammings_knn_mc(faiss.swig_ptr(query_code), faiss.swig_ptr(codes), 1, len(codes), wanted, CODE_BYTES,
                          faiss.swig_ptr(distances), faiss.swig_ptr(rows))
    return rows[rows >= 0]


class AnnIndex:
    kind = "ann"

    def __init__(self, dim: int, mean: np.ndarray | None = None):
        self.dim = dim
        self._projection = np.random.default_rng(SEED).standard_normal((dim, BITS)).astype(np.float32)
        self._mean = mean
        self._codes = np.zeros((0, CODE_BYTES), np.uint8)
        self._ids = np.zeros(0, np.int64)  # ascending: face ids only grow
        self._vectors = np.zeros((0, dim), np.int8)
        self._scales = np.zeros(0, np.float32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _encode(self, vectors: np.ndarray) -> np.ndarray:
        """Codes of the rows of ``vectors``, or the code of one vector."""
        centred = vectors - self._mean if self._mean is not None else vectors
        if centred.ndim == 1:
            # One query's products go through einsum's own loops, not BLAS:
            # OpenBLAS's threads spin after a call and, on 2 cores, slowed the
            # scan that follows from 4 ms to 7 ms (a million 512-D faces).
            return np.packbits(np.einsum("j,jk->k", centred, self._projection) > 0)
        return np.packbits((centred @ self._projection) > 0, axis=1)

    def _reserve(self, extra: int) -> None:
        need = self._size + extra
        if need <= len(self._ids):
            return
        capacity = max(need, int(1.5 * len(self._ids)), 1024)
        ids = np.zeros(capacity, np.int64)
        codes = np.zeros((capacity, CODE_BYTES), np.uint8)
        vectors = np.zeros((capacity, self.dim), np.int8)
        scales = np.zeros(capacity, np.float32)
        ids[: self._size] = self._ids[: self._size]
        codes[: self._size] = self._codes[: self._size]
        vectors[: self._size] = self._vectors[: self._size]
        scales[: self._size] = self._scales[: self._size]
        self._ids, self._codes, self._vectors, self._scales = ids, codes, vectors, scales

    def vectors(self) -> np.ndarray:
        """The stored embeddings, decoded from int8 (float32, one row per face)."""
        return self._vectors[: self._size].astype(np.float32) * self._scales[: self._size, None]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        vectors = np.asarray(vectors, np.float32)
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors[order]
        current = self._ids[: self._size]
        fresh = ~np.isin(ids, current) if self._size else np.ones(len(ids), bool)
        ids, vectors = ids[fresh], vectors[fresh]
        if not len(ids):
            return
        if self._mean is None and self._size == 0 and len(ids) >= MEAN_FROM:
            self._mean = vectors.mean(axis=0).astype(np.float32)
        if self._size and ids[0] < current[-1]:  # out of order (not seen in practice): rebuild
            all_ids = np.concatenate([current, ids])
            all_vectors = np.concatenate([self.vectors(), vectors])
            self._size = 0
            self.add(all_ids, all_vectors)
            return
        self._reserve(len(ids))
        self._ids[self._size: self._size + len(ids)] = ids
        peak = np.maximum(np.abs(vectors).max(axis=1), 1e-12)
        self._scales[self._size: self._size + len(ids)] = peak / 127.0
        self._vectors[self._size: self._size + len(ids)] = np.rint(vectors * (127.0 / peak[:, None])).astype(np.int8)
        self._codes[self._size: self._size + len(ids)] = self._encode(vectors)
        self._size += len(ids)

    def remove(self, ids: np.ndarray) -> None:
        if not self._size:
            return
        gone = np.isin(self._ids[: self._size], np.asarray(ids, np.int64))
        if not gone.any():
            return
        keep = ~gone
        count = int(keep.sum())
        self._ids[:count] = self._ids[: self._size][keep]
        self._codes[:count] = self._codes[: self._size][keep]
        self._vectors[:count] = self._vectors[: self._size][keep]
        self._scales[:count] = self._scales[: self._size][keep]
        self._ids[count: self._size] = 0
        self._codes[count: self._size] = 0
        self._vectors[count: self._size] = 0  # no copy of a removed face left behind in memory
        self._scales[count: self._size] = 0
        self._size = count

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._size == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        query = np.asarray(query, np.float32)
        wanted = min(max(CANDIDATES, k), self._size)
        code = self._encode(query)
        if self._size < SPLIT_FROM:
            slots = _scan(code, self._codes[: self._size], wanted)
        else:  # each half gives half the candidates: ~1,000 of the global 2,000 nearest fall in each
            half = self._size // 2
            each = (wanted + 1) // 2
            other = _POOL.submit(_scan, code, self._codes[half: self._size], each)
            first = _scan(code, self._codes[:half], each)
            slots = np.concatenate([first, other.result() + half])
        slots = np.sort(slots)  # gather the candidates in memory order
        # einsum, not BLAS, as in _encode
        sims = np.einsum("ij,j->i", self._vectors[slots].astype(np.float32), query) * self._scales[slots]
        k = min(k, len(slots))
        best = np.argpartition(-sims, k - 1)[:k] if k < len(slots) else np.arange(len(slots))
        best = best[np.argsort(-sims[best], kind="stable")]
        return self._ids[slots[best]].copy(), sims[best]

    def memory_bytes(self) -> int:
        return int(self._ids.nbytes + self._codes.nbytes + self._vectors.nbytes + self._scales.nbytes
                   + self._projection.nbytes)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, ids=self._ids[: self._size], vectors=self._vectors[: self._size],
                 scales=self._scales[: self._size], codes=self._codes[: self._size],
                 mean=self._mean if self._mean is not None else np.zeros(0, np.float32),
                 bits=np.array([BITS, SEED, FORMAT]))
        return out.getvalue()

    @classmethod
    def from_bytes(cls, dim: int, data: bytes) -> AnnIndex:
        try:
            saved = np.load(io.BytesIO(data), allow_pickle=False)
            bits = saved["bits"]
            if tuple(bits) != (BITS, SEED, FORMAT):
                raise StoreError("the saved search index has an older format")
            ids, vectors, scales, codes = saved["ids"], saved["vectors"], saved["scales"], saved["codes"]
            mean = saved["mean"]
        except (ValueError, KeyError, OSError) as exc:
            raise StoreError(f"the saved search index is unreadable ({exc})") from None
        if (vectors.shape[1:] != (dim,) or codes.shape[1:] != (CODE_BYTES,)
                or not len(ids) == len(vectors) == len(scales) == len(codes)):
            raise StoreError("the saved search index does not match the gallery")
        index = cls(dim, mean if len(mean) else None)
        index._reserve(len(ids))
        index._ids[: len(ids)] = ids
        index._vectors[: len(ids)] = vectors
        index._scales[: len(ids)] = scales
        index._codes[: len(ids)] = codes
        index._size = len(ids)
        return index
