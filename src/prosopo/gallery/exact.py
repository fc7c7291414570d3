"""Exact search: one matrix product over every stored embedding (numpy).
Best for small and medium galleries; nothing is written to disk, the matrix
is rebuilt from the database when a gallery is opened."""

from __future__ import annotations

import numpy as np


def best_first(sims: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest of ``sims`` (all, if fewer), largest first."""
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    return top[np.argsort(-sims[top], kind="stable")]


class ExactIndex:
    kind = "exact"

    def __init__(self, dim: int):
        self.dim = dim
        self._vectors = np.zeros((0, dim), np.float32)
        self._ids = np.zeros(0, np.int64)
        self._size = 0
        self._where: dict[int, int] = {}

    def __len__(self) -> int:
        return self._size

    def _reserve(self, extra: int) -> None:
        need = self._size + extra
        if need <= len(self._ids):
            return
        capacity = max(need, 2 * len(self._ids), 1024)
        vectors = np.zeros((capacity, self.dim), np.float32)
        ids = np.zeros(capacity, np.int64)
        vectors[: self._size] = self._vectors[: self._size]
        ids[: self._size] = self._ids[: self._size]
        self._vectors, self._ids = vectors, ids

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        fresh = [i for i, key in enumerate(ids) if int(key) not in self._where]
        self._reserve(len(fresh))
        for i in fresh:
            self._vectors[self._size] = vectors[i]
            self._ids[self._size] = ids[i]
            self._where[int(ids[i])] = self._size
            self._size += 1

    def remove(self, ids: np.ndarray) -> None:
        for key in np.asarray(ids, np.int64).tolist():
            slot = self._where.pop(key, None)
            if slot is None:
                continue
            last = self._size - 1
            if slot != last:  # move the last row into the hole
                self._vectors[slot] = self._vectors[last]
                self._ids[slot] = self._ids[last]
                self._where[int(self._ids[slot])] = slot
            self._vectors[last] = 0
            self._size -= 1

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` stored ids most similar to ``query`` (cosine similarity
        of unit vectors), best first, with their similarities."""
        if self._size == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sims = self._vectors[: self._size] @ np.asarray(query, np.float32)
        top = best_first(sims, k)
        return self._ids[top].copy(), sims[top]

    def memory_bytes(self) -> int:
        return int(self._vectors.nbytes + self._ids.nbytes + 100 * len(self._where))
