"""Approximate search for large galleries: an HNSW graph from ``usearch``
over half-precision vectors (256 bytes a face for 128-D embeddings, plus the
graph), chosen by measurement (``benchmarks/ann_choice.py``).

The index is derived data: the database is the truth, and the index is
saved beside it (sealed with the gallery key when the store is encrypted)
so that opening a large gallery does not rebuild the graph.
"""

from __future__ import annotations

import numpy as np

from ..errors import StoreError

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 64
PARALLEL_FROM = 50_000


def _usearch():
    try:
        from usearch.index import Index
    except ImportError:  # pragma: no cover - a declared dependency
        raise StoreError("the 'usearch' package is needed for large galleries; pip install usearch") from None
    return Index


class AnnIndex:
    kind = "ann"

    def __init__(self, dim: int, index=None):
        self.dim = dim
        Index = _usearch()
        self._index = index if index is not None else Index(
            ndim=dim, metric="ip", dtype="f16", connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, np.uint64)
        keep = np.array([int(key) not in self._index for key in ids], bool) if len(self._index) else None
        if keep is not None:
            ids, vectors = ids[keep], vectors[keep]
        if len(ids):
            # usearch's parallel insertion leaves some nodes poorly linked in
            # small graphs (0.5% of exact self-queries missed at 300 faces);
            # only large batches use every core
            threads = 0 if len(ids) >= PARALLEL_FROM else 1
            self._index.add(ids, np.ascontiguousarray(vectors, np.float32), threads=threads)

    def remove(self, ids: np.ndarray) -> None:
        for key in np.asarray(ids, np.uint64):
            if int(key) in self._index:
                self._index.remove(int(key))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._index) == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        found = self._index.search(np.asarray(query, np.float32), min(k, len(self._index)), threads=1)
        return found.keys.astype(np.int64), (1.0 - found.distances).astype(np.float32)

    def memory_bytes(self) -> int:
        return int(self._index.memory_usage)

    def to_bytes(self) -> bytes:
        return bytes(self._index.save())

    @classmethod
    def from_bytes(cls, dim: int, data: bytes) -> AnnIndex:
        try:
            index = _usearch().restore(bytearray(data))
        except Exception as exc:  # usearch raises plain RuntimeError on bad bytes
            raise StoreError(f"the saved search index is unreadable ({exc})") from None
        if index is None or index.ndim != dim:
            raise StoreError("the saved search index does not match the gallery")
        return cls(dim, index)
