"""Approximate search for large galleries: a scan over short product-
quantization codes, then a re-ranking of the best candidates.

Each face gets a product-quantization code (faiss's 4-bit "fast scan"): its
embedding is cut into short pieces, each replaced by the nearest of 16
centroids learnt from the gallery, and a query's inner product with every
face is estimated from small lookup tables held in SIMD registers. Pieces
are two dimensions long where that keeps a face within 600 bytes (32-byte
codes at 128-D) and four otherwise (64 bytes at 512-D: two-dimension pieces
would be 128). The codebook is trained with a fixed seed on up to 32,768
of the gallery's faces the first time the gallery outgrows the candidate
count, and again while it grows fourfold past its training set. (Trained on
200,000 faces instead, a million 512-D faces gave 0.983 recall on strangers
at 4,000 candidates against 0.977, in 37 s of training instead of 7.)

A query scans every code (a large gallery as two halves on two threads,
which faiss and numpy run without Python's lock), keeps the ``candidates``
best (2,000 at 128-D, 4,000 at 512-D) and re-ranks them with their
embeddings, stored as int8 with one float16 scale per face (``dim + 2``
bytes; the similarity is within about 0.001 of the float32 one), and the
face ids as 32-bit numbers while they fit: 166 bytes a face in all at
128-D, 582 at 512-D (a million 512-D faces: 598 bytes a face resident,
with the faiss library and the heap; 604 with float32 scales and 64-bit
ids). The gallery then re-scores the best few with the float32 embeddings
in its database, because the nearest strangers are often closer together
than int8 can tell apart.

Measured at a million faces (``benchmarks/gallery_speed.py``), the exact
nearest face was found for every mated query (the same person enrolled,
real LFW and synthetic) and for every synthetic stranger at 128-D, but
for 97.5% of strangers at 512-D. At 512-D the scan reads 64 MB a query and
is bound by memory bandwidth; more candidates find more strangers and cost
time (in one process on the same data: 0.983 at 4,000, 0.989 at 6,000,
0.993 at 8,000, for 1.1, 1.3 and 1.45 times the time of the binary codes
used before, which found 0.375; noisy on 2 busy cores). A stranger's nearest face is far beyond
any threshold, so a miss changes the runner-up list, not the decision.

A gallery whose halves grow uneven (one 1.5 times the other) is encoded
again, inside the search that finds it so: about 6 s at a million 512-D
faces on 2 busy cores (and 7 s more when the codebook is trained again).

Why not a graph index (HNSW)? Measured here (``benchmarks/ann_choice.py``):
face embeddings are close to isotropic, where graph search needs a very
wide beam; at a million 128-D faces usearch and faiss HNSW took over 20 ms
a query for recall@1 near 0.97.

The index is derived data, saved beside the database (sealed with the
gallery key when the store is encrypted) so that opening a large gallery
is quick.
"""

from __future__ import annotations

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import StoreError
from .exact import best_first

FORMAT = 3  # of the saved index: 3 = product-quantization codes (2 had binary codes; such a file is rebuilt)
SEED = 20261123  # chooses the training faces and seeds faiss's k-means
TRAIN = 32_768  # faces the codebook is trained on, at most
RETRAIN_GROWTH = 4  # train again when the gallery is this many times the training set (until TRAIN)
# Galleries this large are scanned in two halves at once, each giving half the candidates.
SPLIT_FROM = 100_000
UNEVEN = 1.5  # re-encode when one half has grown to this many times the other
CHUNK = 20_000  # faces decoded and encoded at a time
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


def layout(dim: int) -> tuple[int, int]:
    """Sub-quantizers and candidates for ``dim``-D embeddings: pieces of two
    dimensions while the codes (``dim / 4`` bytes) keep a face within 600
    bytes, else of four. Candidates chosen at a million faces: at 128-D 2,000
    found every stranger's nearest face; at 512-D 4,000 found 97.5% in a p50
    of 6.1 to 6.5 ms, more would find more but take longer (module docstring)."""
    return (dim // 2, 2000) if dim <= 256 else (dim // 4, 4000)


class AnnIndex:
    kind = "ann"

    def __init__(self, dim: int):
        self.dim = dim
        self._subquantizers, self.candidates = layout(dim)
        self._ids = np.zeros(0, np.uint32)  # ascending: face ids only grow; int64 once one passes 2**32 - 1
        self._vectors = np.zeros((0, dim), np.int8)
        self._scales = np.zeros(0, np.float16)  # unit vectors: a scale is 1/127 to about 1/(127 sqrt(dim))
        self._size = 0
        self._codebook = None  # an empty trained faiss IndexPQFastScan; None while every face is a candidate
        self._trained_on = 0
        # fast-scan indexes over consecutive rows (the first ntotal, then the
        # next): with a codebook, every row is in one after _refresh
        self._parts: list = []

    def __len__(self) -> int:
        return self._size

    def _reserve(self, extra: int, ids: np.ndarray | None = None) -> None:
        """Room for ``extra`` more faces, and for the ``ids`` coming."""
        need = self._size + extra
        wide = (ids is not None and len(ids) > 0 and self._ids.dtype != np.int64
                and (int(ids.min()) < 0 or int(ids.max()) > np.iinfo(np.uint32).max))
        if need <= len(self._ids) and not wide:
            return
        capacity = max(need, int(1.5 * len(self._ids)), 1024)
        ids = np.zeros(capacity, np.int64 if wide else self._ids.dtype)
        vectors = np.zeros((capacity, self.dim), np.int8)
        scales = np.zeros(capacity, np.float16)
        ids[: self._size] = self._ids[: self._size]
        vectors[: self._size] = self._vectors[: self._size]
        scales[: self._size] = self._scales[: self._size]
        self._ids, self._vectors, self._scales = ids, vectors, scales

    def _decoded(self, rows: slice | np.ndarray) -> np.ndarray:
        return self._vectors[rows].astype(np.float32) * self._scales[rows, None]

    def vectors(self) -> np.ndarray:
        """The stored embeddings, decoded from int8 (float32, one row per face)."""
        return self._decoded(slice(0, self._size))

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
        if self._size and ids[0] < current[-1]:  # out of order (not seen in practice): rebuild
            all_ids = np.concatenate([current, ids])
            all_vectors = np.concatenate([self.vectors(), vectors])
            self._size, self._parts = 0, []
            self.add(all_ids, all_vectors)
            return
        self._reserve(len(ids), ids)
        self._ids[self._size: self._size + len(ids)] = ids
        peak = np.maximum(np.abs(vectors).max(axis=1), 1e-12)
        self._scales[self._size: self._size + len(ids)] = peak / 127.0
        self._vectors[self._size: self._size + len(ids)] = np.rint(vectors * (127.0 / peak[:, None])).astype(np.int8)
        self._size += len(ids)

    def remove(self, ids: np.ndarray) -> None:
        if not self._size:
            return
        gone = np.isin(self._ids[: self._size], np.asarray(ids, np.int64))
        if not gone.any():
            return
        self._remove_codes(np.flatnonzero(gone))
        keep = ~gone
        count = int(keep.sum())
        self._ids[:count] = self._ids[: self._size][keep]
        self._vectors[:count] = self._vectors[: self._size][keep]
        self._scales[:count] = self._scales[: self._size][keep]
        self._ids[count: self._size] = 0
        self._vectors[count: self._size] = 0  # no copy of a removed face left behind in memory
        self._scales[count: self._size] = 0
        self._size = count

    def _remove_codes(self, rows: np.ndarray) -> None:
        faiss = _faiss()
        start = 0
        for part in self._parts:
            local = rows[(rows >= start) & (rows < start + part.ntotal)] - start
            start += part.ntotal
            if not len(local):
                continue
            # faiss's remove_ids moves the later codes down but leaves the old
            # bytes past the new end: blank the removed codes first
            packer = part.get_CodePacker()
            blank = np.zeros(packer.code_size, np.uint8)
            for row in local.tolist():
                packer.pack_1_c(faiss.swig_ptr(blank), row, part.codes.get())
            part.remove_ids(faiss.IDSelectorBatch(local.astype(np.int64)))

    # -- the codes --------------------------------------------------------

    def _refresh(self) -> None:
        """Bring the codes up to date: train the codebook if there is none
        (or the gallery has outgrown it) and encode every face; lay the
        codes out again if the halves no longer suit the gallery; else
        encode the faces added since."""
        if self._codebook is None and self._size <= self.candidates:
            return  # every face is a candidate
        if self._codebook is None or self._trained_on * RETRAIN_GROWTH <= min(self._size, TRAIN):
            self._train()
            self._encode_all()
            return
        sizes = [part.ntotal for part in self._parts]
        coded = sum(sizes)
        if sizes:
            sizes[-1] += self._size - coded
        if len(sizes) != (2 if self._size >= SPLIT_FROM else 1) or max(sizes) > UNEVEN * min(sizes):
            self._encode_all()
        elif coded < self._size:
            self._parts[-1].add(self._decoded(slice(coded, self._size)))

    def _train(self) -> None:
        faiss = _faiss()
        rows = np.random.default_rng(SEED).choice(self._size, min(self._size, TRAIN), replace=False)
        codebook = faiss.IndexPQFastScan(self.dim, self._subquantizers, 4, faiss.METRIC_INNER_PRODUCT)
        codebook.pq.cp.seed = SEED
        codebook.pq.cp.max_points_per_centroid = TRAIN // 16  # every face given (faiss's default keeps 256)
        codebook.train(self._decoded(np.sort(rows)))
        self._codebook, self._trained_on = codebook, len(rows)

    def _encode(self, start: int, end: int):
        part = _faiss().clone_index(self._codebook)
        for first in range(start, end, CHUNK):
            part.add(self._decoded(slice(first, min(first + CHUNK, end))))
        return part

    def _encode_all(self) -> None:
        """Encode every face, into one part or (large galleries) two halves at once."""
        if self._size < SPLIT_FROM:
            self._parts = [self._encode(0, self._size)]
            return
        half = self._size // 2
        other = _POOL.submit(self._encode, half, self._size)
        self._parts = [self._encode(0, half), other.result()]

    def _restore(self, size: int, saved: np.lib.npyio.NpzFile, name: str):
        """A part holding ``size`` faces whose packed codes are ``saved[name]``."""
        faiss = _faiss()
        part = faiss.clone_index(self._codebook)
        part.ntotal, part.ntotal2 = size, -(-size // part.bbs) * part.bbs
        part.codes.resize(part.ntotal2 * part.M2 // 2)  # before the copy is read, which then leaves no hole in the heap
        codes = saved[name]
        if codes.shape != (part.codes.size(),) or codes.dtype != np.uint8:
            raise StoreError("the saved search index does not match the gallery")
        faiss.rev_swig_ptr(part.codes.get(), len(codes))[:] = codes
        return part

    # -- searching --------------------------------------------------------

    def _rerank(self, rows: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of ``rows`` (ascending) by their int8 embeddings."""
        # einsum, not BLAS: OpenBLAS's threads spin after a call and, on 2
        # cores, slowed the scan that follows (a million 512-D faces)
        sims = np.einsum("ij,j->i", self._vectors[rows].astype(np.float32), query) * self._scales[rows]
        best = best_first(sims, k)
        return rows[best], sims[best]

    def _scan(self, part: int, query: np.ndarray, wanted: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scan one part for its ``wanted`` best codes and re-rank them."""
        index = self._parts[part]
        _, labels = index.search(query[None], min(wanted, index.ntotal))
        rows = np.sort(labels[0][labels[0] >= 0]) + (self._parts[0].ntotal if part else 0)
        return self._rerank(rows, query, k)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._size == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        query = np.asarray(query, np.float32)
        self._refresh()
        wanted = max(self.candidates, k)
        if self._size <= wanted:
            rows, sims = self._rerank(np.arange(self._size), query, k)
        elif len(self._parts) == 1:
            rows, sims = self._scan(0, query, wanted, k)
        else:  # each half gives half the candidates and its own best k
            other = _POOL.submit(self._scan, 1, query, (wanted + 1) // 2, k)
            first = self._scan(0, query, (wanted + 1) // 2, k)
            second = other.result()
            rows, sims = np.concatenate([first[0], second[0]]), np.concatenate([first[1], second[1]])
            best = best_first(sims, k)
            rows, sims = rows[best], sims[best]
        return self._ids[rows].astype(np.int64), sims

    # -- size and persistence ---------------------------------------------

    def memory_bytes(self) -> int:
        codes = sum(part.codes.size() for part in self._parts)
        codebook = self._codebook.pq.centroids.size() * 4 if self._codebook is not None else 0
        return int(self._ids.nbytes + self._vectors.nbytes + self._scales.nbytes + codes + codebook)

    def to_bytes(self) -> bytes:
        faiss = _faiss()
        self._refresh()
        codebook = faiss.serialize_index(self._codebook) if self._codebook is not None else np.zeros(0, np.uint8)
        # the packed codes as they lie in memory, read back into place by _restore
        # (faiss.deserialize_index left a copy's worth of heap behind: 30 MB at a million 512-D faces)
        # (a part emptied by removals has no buffer, which faiss gives back as float32: saved as uint8)
        arrays: dict[str, np.ndarray] = {
            "ids": self._ids[: self._size], "vectors": self._vectors[: self._size],
            "scales": self._scales[: self._size], "codebook": codebook,
            "format": np.array([FORMAT, self._trained_on]),
            "parts": np.array([part.ntotal for part in self._parts], np.int64)}
        for i, part in enumerate(self._parts):
            size = part.codes.size()
            arrays[f"codes{i}"] = faiss.rev_swig_ptr(part.codes.get(), size) if size else np.zeros(0, np.uint8)
        out = io.BytesIO()
        savez: Any = np.savez  # numpy types its allow_pickle keyword, not the arrays
        savez(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, dim: int, data: bytes) -> AnnIndex:
        faiss = _faiss()
        index = cls(dim)
        try:
            saved = np.load(io.BytesIO(data), allow_pickle=False)
            if "format" not in saved.files or saved["format"][0] != FORMAT:
                raise StoreError("the saved search index has an older format")
            ids, vectors, scales, codebook = saved["ids"], saved["vectors"], saved["scales"], saved["codebook"]
            sizes = saved["parts"].tolist()
            if len(codebook):
                index._codebook = faiss.deserialize_index(codebook)
                index._trained_on = int(saved["format"][1])
            for i, size in enumerate(sizes):
                index._parts.append(index._restore(size, saved, f"codes{i}"))
        except (ValueError, KeyError, OSError, RuntimeError, AttributeError, zipfile.BadZipFile) as exc:
            raise StoreError(f"the saved search index is unreadable ({exc})") from None
        if (vectors.shape[1:] != (dim,) or not len(ids) == len(vectors) == len(scales)
                or sum(sizes) != (len(ids) if index._codebook is not None else 0)
                or (index._codebook is not None
                    and (index._codebook.d, index._codebook.M) != (dim, index._subquantizers))):
            raise StoreError("the saved search index does not match the gallery")
        index._reserve(len(ids), ids)
        index._ids[: len(ids)] = ids
        index._vectors[: len(ids)] = vectors
        index._scales[: len(ids)] = scales
        index._size = len(ids)
        return index
