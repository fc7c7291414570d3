"""Property tests (Hypothesis) of both gallery indexes against brute-force
search, over random sequences of additions and removals (issue 17)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from prosopo.gallery import ann as ann_module
from prosopo.gallery.ann import AnnIndex
from prosopo.gallery.exact import ExactIndex

# ("add", n): n new faces (ids above or, to exercise re-ordering, below the
# largest one, and some already present); ("remove", n): n present ids and
# one never stored
STEPS = st.lists(st.tuples(st.sampled_from(["add", "add", "remove"]), st.integers(1, 60)), min_size=1, max_size=8)


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32) + 0.1  # a shared offset, like real embeddings
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _apply(index, reference: dict[int, np.ndarray], op: str, n: int, rng: np.random.Generator, dim: int) -> None:
    if op == "add":
        top = max(reference, default=0)
        low = [i for i in rng.choice(max(top, 1), size=min(n // 4, top), replace=False).tolist()
               if i not in reference] if top > 1 else []
        ids = np.array(low + list(range(top + 1, top + 1 + n - len(low))) + list(reference)[:2], np.int64)
        vectors = _unit(rng, len(ids), dim)
        index.add(ids, vectors)
        for face_id, vector in zip(ids.tolist(), vectors):
            reference.setdefault(face_id, vector)  # an id already present keeps its first vector
    else:
        present = list(reference)
        gone = rng.choice(present, size=min(n, len(present)), replace=False).tolist() if present else []
        index.remove(np.array(gone + [10**9], np.int64))
        for face_id in gone:
            del reference[face_id]


def _brute(reference: dict[int, np.ndarray], query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(list(reference), np.int64)
    sims = np.stack(list(reference.values())) @ query if len(ids) else np.zeros(0, np.float32)
    order = np.argsort(-sims, kind="stable")
    return ids[order], sims[order]


@settings(max_examples=60, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), dim=st.sampled_from([4, 16, 128]), steps=STEPS, k=st.integers(1, 12))
def test_exact_index_is_brute_force(seed, dim, steps, k):
    rng = np.random.default_rng(seed)
    index, reference = ExactIndex(dim), {}
    for op, n in steps:
        _apply(index, reference, op, n, rng, dim)
        assert len(index) == len(reference)
        for query in _unit(rng, 3, dim):
            ids, sims = index.search(query, k)
            want_ids, want_sims = _brute(reference, query)
            assert len(ids) == min(k, len(reference))
            assert set(ids.tolist()) <= set(reference)
            assert np.allclose(sims, want_sims[:k], atol=1e-5)  # the k best similarities, best first
            assert np.allclose(sims, [reference[i] @ query for i in ids.tolist()], atol=1e-5)
            if len(want_sims) > k and want_sims[k - 1] - want_sims[k] > 1e-4:
                assert set(ids.tolist()) == set(want_ids[:k].tolist())


@contextmanager
def _candidates(count: int):
    """Few candidates, so that the product-quantization codes choose them
    (a real gallery keeps 2,000-4,000)."""
    original = ann_module.layout
    ann_module.layout = lambda dim: (dim // 4, count)
    try:
        yield
    finally:
        ann_module.layout = original


def _int8(vector: np.ndarray) -> np.ndarray:
    """``vector`` as the index keeps it: int8, with a float16 scale."""
    peak = max(float(np.abs(vector).max()), 1e-12)
    return np.rint(vector * (127.0 / peak)).astype(np.int8).astype(np.float32) * np.float32(np.float16(peak / 127.0))


@settings(max_examples=40, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), dim=st.sampled_from([16, 64]), steps=STEPS, k=st.integers(1, 8),
       candidates=st.sampled_from([24, 10_000]))
def test_approximate_index_against_brute_force(seed, dim, steps, k, candidates):
    rng = np.random.default_rng(seed)
    with _candidates(candidates):
        index, reference = AnnIndex(dim), {}
        for op, n in steps:
            _apply(index, reference, op, n, rng, dim)
            assert len(index) == len(reference)
            if not reference:
                assert len(index.search(_unit(rng, 1, dim)[0], k)[0]) == 0
                continue
            # mated probes: a stored face plus noise finds that face first
            chosen = rng.choice(list(reference), size=min(5, len(reference)), replace=False).tolist()
            for face_id in chosen:
                noise = rng.normal(scale=0.01, size=dim).astype(np.float32)
                probe = reference[face_id] + noise
                probe /= np.linalg.norm(probe)
                ids, sims = index.search(probe, k)
                assert len(ids) == min(k, len(reference)) and set(ids.tolist()) <= set(reference)
                assert ids[0] == face_id
                assert np.all(np.diff(sims) <= 1e-6)
                # the similarities are the int8 copies', within 0.01 of the float32 ones
                assert np.allclose(sims, [_int8(reference[i]) @ probe for i in ids.tolist()], atol=1e-4)
                assert np.allclose(sims, [reference[i] @ probe for i in ids.tolist()], atol=0.01)
            # strangers: when every face is a candidate the ranking is brute force's (up to int8)
            for query in _unit(rng, 3, dim):
                ids, sims = index.search(query, k)
                want_sims = _brute(reference, query)[1]
                if len(reference) <= candidates:
                    assert np.allclose(sims, want_sims[:k], atol=0.02)
                else:  # the codes chose: the best found is among the true best few
                    assert sims[0] >= want_sims[min(len(want_sims), 10) - 1] - 0.02
        # saved and read back: the same answers
        copy = AnnIndex.from_bytes(dim, index.to_bytes())
        for query in _unit(rng, 3, dim):
            got, want = copy.search(query, k), index.search(query, k)
            assert (got[0] == want[0]).all() and np.allclose(got[1], want[1])


def test_approximate_index_keeps_ids_past_32_bits():
    """Ids are kept in 32 bits while they fit; a larger or negative one
    widens them all to 64, and every id comes back whole, saved or not."""
    rng = np.random.default_rng(7)
    vectors = _unit(rng, 6, 16)
    index = AnnIndex(16)
    index.add(np.array([1, 2, 2**32 - 1], np.int64), vectors[:3])
    assert index._ids.dtype == np.uint32
    index.add(np.array([2**32, 2**40], np.int64), vectors[3:5])
    assert index._ids.dtype == np.int64
    for copy in (index, AnnIndex.from_bytes(16, index.to_bytes())):
        for face_id, vector in zip([1, 2, 2**32 - 1, 2**32, 2**40], vectors):
            assert copy.search(vector, 1)[0].tolist() == [face_id]
    index.remove(np.array([2**40], np.int64))
    assert len(index) == 4 and index.search(vectors[4], 5)[0].tolist().count(2**40) == 0
    negative = AnnIndex(16)
    negative.add(np.array([-5, 3], np.int64), vectors[:2])
    assert negative.search(vectors[0], 1)[0].tolist() == [-5]
