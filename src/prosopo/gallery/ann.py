"""Approximate search for large galleries: a Hamming scan over short binary
codes, then an exact re-ranking of the best candidates.

Each face gets a 512-bit code: the signs of a fixed random projection of its
embedding (minus the gallery's mean embedding), so that the Hamming distance
between two codes tracks the angle between the faces. A query scans every
code with faiss's SIMD Hamming search (64 bytes a face: 64 MB for a million
faces), keeps the ``CANDIDATES`` nearest, and re-ranks those with their
embeddings stored as int8 with one float32 scale per face (``dim + 4``
bytes: 132 for a 128-D model, 516 for a 512-D one; the similarity it gives
is within about 0.001 of the float32 one). About 200 bytes a face in all at
128-D and 590 at 512-D.
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

import numpy as np

from ..errors import StoreError

BITS = 512
CANDIDATES = 2000
SEED = 20261123  # the random projection; fixed, so saved codes stay valid
FORMAT = 2  # of the saved index: 2 = int8 vectors (1 was float16; such a file is rebuilt)
MEAN_FROM = 1000  # faces needed before the gallery's mean is estimated


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - a declared dependency
        raise StoreError("the 'faiss-cpu' package is needed for large galleries; pip install faiss-cpu") from None
    return faiss


class AnnIndex:
    kind = "ann"

    def __init__(self, dim: int, mean: np.ndarray | None = None):
        self.dim = dim
        self._projection = np.random.default_rng(SEED).standard_normal((dim, BITS)).astype(np.float32)
        self._mean = mean
        self._codes = self._new_codes()
        self._ids = np.zeros(0, np.int64)  # ascending: face ids only grow
        self._vectors = np.zeros((0, dim), np.int8)
        self._scales = np.zeros(0, np.float32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @staticmethod
    def _new_codes():
        codes = _faiss().IndexBinaryFlat(BITS)
        codes.use_heap = False  # counting selection: 2,000 candidates at the cost of 500 with a heap
        return codes

    def _encode(self, vectors: np.ndarray) -> np.ndarray:
        centred = vectors - self._mean if self._mean is not None else vectors
        return np.packbits((centred @ self._projection) > 0, axis=1)

    def _reserve(self, extra: int) -> None:
        need = self._size + extra
        if need <= len(self._ids):
            return
        capacity = max(need, int(1.5 * len(self._ids)), 1024)
        ids = np.zeros(capacity, np.int64)
        vectors = np.zeros((capacity, self.dim), np.int8)
        scales = np.zeros(capacity, np.float32)
        ids[: self._size] = self._ids[: self._size]
        vectors[: self._size] = self._vectors[: self._size]
        scales[: self._size] = self._scales[: self._size]
        self._ids, self._vectors, self._scales = ids, vectors, scales

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
            self._codes.reset()
            self.add(all_ids, all_vectors)
            return
        self._reserve(len(ids))
        self._ids[self._size: self._size + len(ids)] = ids
        peak = np.maximum(np.abs(vectors).max(axis=1), 1e-12)
        self._scales[self._size: self._size + len(ids)] = peak / 127.0
        self._vectors[self._size: self._size + len(ids)] = np.rint(vectors * (127.0 / peak[:, None])).astype(np.int8)
        self._codes.add(self._encode(vectors))
        self._size += len(ids)

    def remove(self, ids: np.ndarray) -> None:
        if not self._size:
            return
        gone = np.isin(self._ids[: self._size], np.asarray(ids, np.int64))
        if not gone.any():
            return
        faiss = _faiss()
        self._codes.remove_ids(faiss.IDSelectorBatch(np.flatnonzero(gone).astype(np.int64)))
        keep = ~gone
        count = int(keep.sum())
        self._ids[:count] = self._ids[: self._size][keep]
        self._vectors[:count] = self._vectors[: self._size][keep]
        self._scales[:count] = self._scales[: self._size][keep]
        self._ids[count: self._size] = 0
        self._vectors[count: self._size] = 0  # no copy of a removed face left behind in memory
        self._scales[count: self._size] = 0
        self._size = count

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._size == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        query = np.asarray(query, np.float32)
        wanted = min(max(CANDIDATES, k), self._size)
        _, slots = self._codes.search(self._encode(query[None]), wanted)
        slots = slots[0][slots[0] >= 0]
        sims = (self._vectors[slots].astype(np.float32) @ query) * self._scales[slots]
        k = min(k, len(slots))
        best = np.argpartition(-sims, k - 1)[:k] if k < len(slots) else np.arange(len(slots))
        best = best[np.argsort(-sims[best], kind="stable")]
        return self._ids[slots[best]].copy(), sims[best]

    def memory_bytes(self) -> int:
        return int(self._size * (BITS // 8) + self._ids.nbytes + self._vectors.nbytes + self._scales.nbytes
                   + self._projection.nbytes)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        codes = _faiss().vector_to_array(self._codes.xb).reshape(-1, BITS // 8)
        np.savez(out, ids=self._ids[: self._size], vectors=self._vectors[: self._size],
                 scales=self._scales[: self._size], codes=codes,
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
        if vectors.shape[1:] != (dim,) or not len(ids) == len(vectors) == len(scales) == len(codes):
            raise StoreError("the saved search index does not match the gallery")
        index = cls(dim, mean if len(mean) else None)
        index._reserve(len(ids))
        index._ids[: len(ids)] = ids
        index._vectors[: len(ids)] = vectors
        index._scales[: len(ids)] = scales
        index._codes.add(np.ascontiguousarray(codes, np.uint8))
        index._size = len(ids)
        return index
