"""Galleries indexed in the database (issue 19, strategy a): a PostgreSQL
gallery created with ``index="pgvector"`` keeps a 16-bit copy of each
embedding under an HNSW index and is searched by the server. The same
answers as the exact in-memory index, no index to build in a new process,
and refusals that say why (encryption, a directory gallery, a gallery
created otherwise, no extension). On a real server (conftest.py); erasure
is proven byte by byte in test_gallery_postgres_erasure.py."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import admin_sql, unit_vectors

from prosopo import Gallery, ParameterError, StoreError
from prosopo.privacy.crypto import new_key

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("pgvector")


def _people(rng: np.random.Generator, count: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Two faces each of ``count`` people, and a probe near each person's first face."""
    names = [f"p{i:03d}" for i in range(count)]
    vectors = unit_vectors(rng, 2 * count)
    probes = vectors[::2] + rng.normal(scale=0.03, size=(count, vectors.shape[1])).astype(np.float32)
    return [n for n in names for _ in range(2)], vectors, probes


def test_the_database_index_answers_as_the_exact_index(tmp_path, postgres_url):
    rng = np.random.default_rng(0)
    rows, vectors, probes = _people(rng, 150)
    queries = np.vstack([probes, unit_vectors(rng, 20)])  # and strangers
    answers = []
    for location, index in ((tmp_path / "g", "exact"), (postgres_url, "pgvector")):
        with Gallery.open(location, index=index, purpose="tests") as gallery:
            gallery.enroll_embeddings(rows, vectors, batch=100)
            gallery.enroll_embeddings("Expired", probes[0], expires=-1)  # nearest to p000's probe, never found
            found = gallery.search_embeddings(queries, k=5)
            gallery.remove("p001")
            after = gallery.search_embeddings(probes[:3], k=3)
            answers.append((found, after, gallery.threshold(), gallery.stats()))
    (found, after, limit, stats), (pg_found, pg_after, pg_limit, pg_stats) = answers
    for a, b in zip(found + after, pg_found + pg_after):
        assert [m.identity for m in a] == [m.identity for m in b]
        assert [m.face_id for m in a] == [m.face_id for m in b]
        assert np.allclose([m.distance for m in a], [m.distance for m in b], atol=1e-6)  # re-scored in float32
    assert [m[0].identity for m in pg_found[:150]] == [f"p{i:03d}" for i in range(150)]
    assert "p001" not in [m.identity for matches in pg_after for m in matches]
    assert limit == pg_limit and stats.faces == pg_stats.faces == 299
    assert pg_stats.index == "pgvector" and pg_stats.index_bytes == 8 * 299  # the ids only: the graph is the server's


def test_another_process_finds_a_write_at_once_and_builds_nothing(postgres_url):
    rng = np.random.default_rng(1)
    rows, vectors, probes = _people(rng, 40)
    with Gallery.open(postgres_url, index="pgvector") as a, Gallery.open(postgres_url) as b:
        assert b.stats().index == "pgvector"  # opened with "auto": the gallery's own index
        a.enroll_embeddings(rows, vectors)
        assert [m[0].identity for m in b.search_embeddings(probes, k=1)] == [f"p{i:03d}" for i in range(40)]
        b.erase("p000")
        assert a.search_embeddings(probes[0], k=1)[0][0].identity != "p000" and len(a.store.index()) == 78
        assert a.verify_audit().ok


def test_the_graph_is_built_once_the_gallery_is_large_and_then_grows(postgres_url, monkeypatch):
    from prosopo.gallery import pgvector

    monkeypatch.setattr(pgvector, "GRAPH_FROM", 60)
    rng = np.random.default_rng(5)
    rows, vectors, probes = _people(rng, 50)
    graph = "SELECT count(*) FROM pg_indexes WHERE indexname = 'faces_vector'"
    with Gallery.open(postgres_url, index="pgvector") as a, Gallery.open(postgres_url) as b:
        a.enroll_embeddings(rows[:50], vectors[:50])
        assert [m[0].identity for m in a.search_embeddings(probes[:25], k=1)] == rows[:50:2]
        assert admin_sql(postgres_url, graph) == [(0,)]  # 50 faces: every face compared
        a.enroll_embeddings(rows[50:], vectors[50:])
        assert [m[0].identity for m in b.search_embeddings(probes, k=1)] == rows[::2]  # b builds it
        assert admin_sql(postgres_url, graph) == [(1,)]
        with psycopg.connect(postgres_url) as conn:
            conn.execute("SET enable_seqscan = off")  # at 100 rows the planner would rather compare them all
            plan = conn.execute("EXPLAIN SELECT id FROM faces ORDER BY vector <#> "
                                "array_fill(0.1, ARRAY[512])::halfvec LIMIT 5").fetchall()
        assert "faces_vector" in " ".join(line for (line,) in plan)
        a.enroll_embeddings("late", probes[0])  # added to the graph as it is written
        assert a.search_embeddings(probes[0], k=1)[0][0].identity == "late"


def test_the_same_gallery_can_be_searched_in_memory_too(postgres_url):
    rng = np.random.default_rng(2)
    rows, vectors, probes = _people(rng, 30)
    with Gallery.open(postgres_url, index="pgvector") as gallery:
        gallery.enroll_embeddings(rows, vectors)
        in_database = gallery.search_embeddings(probes, k=3)
    with Gallery.open(postgres_url, index="exact") as gallery:
        assert gallery.stats().index == "exact"
        assert [[m.face_id for m in ms] for ms in gallery.search_embeddings(probes, k=3)] == \
            [[m.face_id for m in ms] for ms in in_database]
    with Gallery.open(postgres_url) as gallery:  # and the choice recorded stays
        assert gallery.stats().index == "pgvector"


def test_a_dropped_connection_is_opened_again_with_the_vector_types(postgres_url):
    rng = np.random.default_rng(3)
    vectors = unit_vectors(rng, 2)
    with Gallery.open(postgres_url, index="pgvector") as gallery:
        gallery.enroll_embeddings("a", vectors[0])
        admin_sql(postgres_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE application_name = 'prosopo' AND datname = current_database()")
        gallery.enroll_embeddings("b", vectors[1])  # a halfvec written on the new connection
        assert [m[0].identity for m in gallery.search_embeddings(vectors, k=1)] == ["a", "b"]


def test_what_cannot_be_indexed_in_the_database_is_refused(tmp_path, postgres_url):
    with pytest.raises(ParameterError, match="index='pgvector' is an index in a PostgreSQL database"):
        Gallery.open(tmp_path / "g", index="pgvector")
    with pytest.raises(StoreError, match="cannot be combined with an encrypted gallery"):
        Gallery.open(postgres_url, index="pgvector", key=new_key())
    assert admin_sql(postgres_url, "SELECT to_regclass('meta')") == [(None,)]  # nothing was created
    Gallery.open(postgres_url).close()
    with pytest.raises(StoreError, match="keeps its index in each process; index='pgvector' is chosen when"):
        Gallery.open(postgres_url, index="pgvector")


def test_a_user_who_may_not_enable_the_extension_is_told_who_may(postgres_url):
    user = f"novector_{postgres_url.split('/gallery_')[1][:12]}"
    admin_sql(postgres_url, f"CREATE ROLE {user} LOGIN")
    admin_sql(postgres_url, f"ALTER SCHEMA public OWNER TO {user}")
    try:
        url = postgres_url.replace("postgres:@", f"{user}@")
        with pytest.raises(StoreError, match="not enabled in this database, and this user may not enable it; ask "
                                             "a superuser to run 'CREATE EXTENSION vector' in it"):
            Gallery.open(url, index="pgvector")
        assert admin_sql(postgres_url, "SELECT to_regclass('meta')") == [(None,)]
        admin_sql(postgres_url, "CREATE EXTENSION vector")
        with Gallery.open(url, index="pgvector") as gallery:
            gallery.enroll_embeddings("a", unit_vectors(np.random.default_rng(4), 1))
            assert gallery.stats().index == "pgvector"
    finally:
        admin_sql(postgres_url, f"DROP OWNED BY {user} CASCADE")
        admin_sql(postgres_url, f"DROP ROLE {user}")


def test_a_wide_search_widens_the_graphs_beam(postgres_url, monkeypatch):
    from prosopo.gallery import pgvector

    monkeypatch.setattr(pgvector, "GRAPH_FROM", 60)
    monkeypatch.setattr(pgvector, "EF_SEARCH", 5)
    rng = np.random.default_rng(7)
    rows, vectors, probes = _people(rng, 50)
    with Gallery.open(postgres_url, index="pgvector") as gallery:
        gallery.enroll_embeddings(rows, vectors)
        gallery.search_embeddings(probes[0], k=1)  # builds the graph
        assert admin_sql(postgres_url, "SELECT to_regclass('faces_vector') IS NOT NULL") == [(True,)]
        gallery.store.conn.execute("SET enable_seqscan = off")  # 100 faces: the planner would compare them all
        found = gallery.search_embeddings(probes[0], k=20)[0]
        assert len(found) == 20 and found[0].identity == "p000"  # a beam of 5 would return 5 faces at most
        assert len(gallery.search_embeddings(probes[0], k=300)[0]) == 50  # a beam past pgvector's 1,000: capped


def test_a_user_who_may_not_build_the_graph_still_searches(postgres_url, monkeypatch, caplog):
    from prosopo.gallery import pgvector

    monkeypatch.setattr(pgvector, "GRAPH_FROM", 20)
    rng = np.random.default_rng(6)
    rows, vectors, probes = _people(rng, 15)
    with Gallery.open(postgres_url, index="pgvector") as owner:
        owner.enroll_embeddings(rows[:10], vectors[:10])  # too few for the graph
    user = f"nograph_{postgres_url.split('/gallery_')[1][:12]}"
    admin_sql(postgres_url, f"CREATE ROLE {user} LOGIN")
    try:
        admin_sql(postgres_url, f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {user}")
        admin_sql(postgres_url, f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {user}")
        with Gallery.open(postgres_url.replace("postgres:@", f"{user}@")) as gallery:  # not the tables' owner
            gallery.enroll_embeddings(rows[10:], vectors[10:])
            with caplog.at_level(logging.WARNING, logger="prosopo.gallery.postgres"):
                found = gallery.search_embeddings(probes, k=1)
                again = gallery.search_embeddings(probes[:2], k=1)
            assert [m[0].identity for m in found] == rows[::2] and again[0][0].identity == "p000"
            assert caplog.text.count("was not built") == 1  # said once, not tried at every search
        assert admin_sql(postgres_url, "SELECT to_regclass('faces_vector')") == [(None,)]
        with Gallery.open(postgres_url, index="exact") as in_memory:  # the owner, searching in memory: no graph
            assert in_memory.search_embeddings(probes[0], k=1)[0][0].identity == "p000"
        assert admin_sql(postgres_url, "SELECT to_regclass('faces_vector')") == [(None,)]
    finally:
        admin_sql(postgres_url, f"DROP OWNED BY {user} CASCADE")
        admin_sql(postgres_url, f"DROP ROLE {user}")


def test_a_plain_gallery_needs_no_pgvector_package(postgres_url, monkeypatch):
    """The pgvector package is needed only by galleries indexed with it."""
    import sys

    monkeypatch.setitem(sys.modules, "prosopo.gallery.pgvector", None)  # an import of it now fails
    vectors = unit_vectors(np.random.default_rng(8), 2)
    with Gallery.open(postgres_url) as gallery:
        gallery.enroll_embeddings(["a", "b"], vectors)
        assert [m[0].identity for m in gallery.search_embeddings(vectors, k=1)] == ["a", "b"]
        assert gallery.stats().faces == 2
