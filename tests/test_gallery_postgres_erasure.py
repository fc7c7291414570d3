"""Erasure in PostgreSQL, proven byte by byte (issue 19): after erase(), no
byte of the erased name, embeddings (sealed or not) or photo paths is left
in any file of the server's data directory, its write-ahead log included;
where the user's rights or the server's settings keep old bytes, the
compaction says which and how to fix it. On a real server (conftest.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from conftest import admin_sql, unit_vectors

from prosopo import Gallery, StoreError
from prosopo.gallery.store import FileRecord
from prosopo.privacy.crypto import new_key

psycopg = pytest.importorskip("psycopg")
postgres = pytest.importorskip("prosopo.gallery.postgres")

# each half is looked for on its own: a record of the write-ahead log that
# runs over one of its pages is cut by the page's header, which could hide
# the whole name, but not both halves
HALVES = ("Zqxvy_Wibbleton", "_Erasable_Quorn")
NAME = "".join(HALVES)
PHOTO = "beach-holiday-7731"  # in the paths of the person's photos only
BADGE = "Badge-55190"  # in the person's metadata only
PIECE = 32  # bytes of an embedding looked for at once, every 256 bytes


def _enroll(gallery: Gallery, rng: np.random.Generator) -> np.ndarray:
    """Twelve people with two faces each, then NAME with three, from photos
    in a folder of that name, a file record for one of them and one for a
    photo of theirs that was skipped; returns the twelve's embeddings."""
    others = unit_vectors(rng, 24)
    gallery.enroll_embeddings([f"person_{i:02d}" for i in range(12) for _ in range(2)], others,
                              sources=[f"/photos/person_{i // 2:02d}/{i}.jpg" for i in range(24)])
    paths = [f"/photos/{NAME}/{PHOTO}-{i}.jpg" for i in range(4)]
    gallery.enroll_embeddings(NAME, unit_vectors(rng, 3), sources=paths[:3], metadata={"badge": BADGE})
    gallery.store.write(lambda tx: tx.put_file(paths[0], FileRecord(2048, 1, "ab" * 32, "ok", identity=NAME)))
    gallery.store.write(lambda tx: tx.put_file(paths[3], FileRecord(1024, 1, "cd" * 32, "skipped", "no face found")))
    return others


def _needles(url: str, gallery: Gallery) -> dict[str, bytes]:
    """What must not be left of NAME: the halves of the name, the photos'
    name, the metadata, and pieces of each embedding, as stored (sealed if
    the gallery is encrypted) and as float32 (little-endian), and, in a
    gallery indexed by pgvector, as its 16-bit copy in the table and the graph."""
    needles = {"name": HALVES[0].encode(), "name, second half": HALVES[1].encode(), "path": PHOTO.encode(),
               "metadata": BADGE.encode()}
    rows = admin_sql(url, "SELECT f.id, f.embedding FROM faces f JOIN identities i ON i.id = f.identity_id"
                     " WHERE i.name = %s ORDER BY f.id", (NAME,))
    assert len(rows) == 3
    vectors = [face.vector.tobytes() for face in gallery.store.faces([face_id for face_id, _ in rows])]
    for i, ((_, stored), vector) in enumerate(zip(rows, vectors)):
        for at in range(0, len(vector) - PIECE + 1, 256):
            needles[f"embedding {i} at {at}"] = vector[at:at + PIECE]
            if bytes(stored) != vector:
                needles[f"sealed embedding {i} at {at}"] = bytes(stored)[at:at + PIECE]
        if gallery.stats().index == "pgvector":
            half = np.frombuffer(vector, np.float32).astype(np.float16).tobytes()
            for at in range(0, len(half) - PIECE + 1, 128):
                needles[f"16-bit embedding {i} at {at}"] = half[at:at + PIECE]
    return needles


def _found(pgdata: Path, needles: dict[str, bytes]) -> dict[str, set[str]]:
    """Each needle found in a file under the data directory (tables,
    indexes, statistics, write-ahead log, server log, ...), with the files
    that hold it, relative to the directory."""
    found: dict[str, set[str]] = {}
    for path in pgdata.rglob("*"):
        try:
            data = path.read_bytes() if path.is_file() else b""
        except FileNotFoundError:  # a temporary file, gone
            continue
        for what, needle in needles.items():
            if needle in data:
                found.setdefault(what, set()).add(str(path.relative_to(pgdata)))
    return found


def _in(found: dict[str, set[str]], what: str, folder: str) -> bool:
    return any(name.startswith(folder + "/") for name in found.get(what, ()))


@pytest.mark.parametrize("kind", ["plain", "encrypted", "pgvector"])
def test_erase_leaves_no_byte_in_the_data_directory(postgres_url, postgres_server, kind, monkeypatch):
    if kind == "pgvector":  # with its graph, in which the 16-bit copies are too
        monkeypatch.setattr(pytest.importorskip("prosopo.gallery.pgvector"), "GRAPH_FROM", 1)
    pgdata = Path(postgres_server.pgdata)
    encrypted = kind == "encrypted"
    key = new_key() if encrypted else None
    index = "pgvector" if kind == "pgvector" else "auto"
    with Gallery.open(postgres_url, key=key, purpose="tests", index=index) as gallery, \
            Gallery.open(postgres_url, key=key) as other:
        others = _enroll(gallery, np.random.default_rng(7))
        needles = _needles(postgres_url, gallery)
        admin_sql(postgres_url, "ANALYZE")  # as autovacuum does: statistics of the gallery's columns, but not of names
        assert admin_sql(postgres_url, "SELECT attname FROM pg_stats WHERE tablename = 'identities'"
                                  " AND attname IN ('name', 'purpose')") == [("purpose",)]
        admin_sql(postgres_url, "CHECKPOINT")  # the rows in the table files too, not only in the log
        before = _found(pgdata, needles)
        # the grep finds them all, in the tables and in the log; a sealed
        # embedding's plaintext, never
        plaintext = {what for what in needles if what.startswith("embedding")} if encrypted else set()
        assert set(before) == set(needles) - plaintext
        assert all(_in(before, what, "base") for what in before)
        assert _in(before, "name", "pg_wal") or _in(before, "name, second half", "pg_wal")
        for i in range(3):
            assert any(_in(before, what, "pg_wal") for what in before if what.split(" at ")[0].endswith(f" {i}"))
        if kind == "pgvector":
            gallery.search_embeddings(others[0], k=1)  # builds the graph
            admin_sql(postgres_url, "CHECKPOINT")
            before = _found(pgdata, needles)
            graph = admin_sql(postgres_url, "SELECT pg_relation_filepath('faces_vector')")[0][0]
            assert graph in before["16-bit embedding 0 at 0"]

        assert gallery.erase(NAME) == 3
        assert _found(pgdata, needles) == {}
        assert NAME not in other and len(other.identities()) == 12
        found = other.search_embeddings(others[::2], k=1)
        assert [matches[0].identity for matches in found] == [f"person_{i:02d}" for i in range(12)]
        assert other.stats().files_tracked == 0 and other.verify_audit().ok


def test_compaction_waits_for_a_transaction_that_may_still_see_the_rows(postgres_url, postgres_server, monkeypatch):
    pgdata = Path(postgres_server.pgdata)
    with Gallery.open(postgres_url) as gallery:
        _enroll(gallery, np.random.default_rng(8))
        needles = _needles(postgres_url, gallery)
        reader = psycopg.connect(postgres_url, autocommit=True)
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT 1")  # its snapshot, taken before the erasure, would keep the rows through VACUUM
        monkeypatch.setattr(postgres, "BUSY_SECONDS", 1)
        with pytest.raises(StoreError, match=r"the data is deleted, but client backend \d+ began before the "
                                             "deletion and may still see it.*compact again once they have ended"):
            gallery.erase(NAME)
        assert NAME not in gallery
        threading.Timer(1, reader.close).start()  # the transaction ends while compaction waits
        monkeypatch.setattr(postgres, "BUSY_SECONDS", 30)
        gallery.compact()
        assert reader.closed
    assert _found(pgdata, needles) == {}


def test_compaction_says_which_setting_keeps_old_bytes_and_how_to_fix_it(postgres_url):
    with Gallery.open(postgres_url) as gallery:
        gallery.enroll_embeddings(["a", "b", "c", "d"], unit_vectors(np.random.default_rng(9), 4))
    # a superuser may set these for a session: as if the server were set so
    for name, option, says in [("a", "wal_recycle=on", "wal_recycle is on.*SET wal_recycle = off"),
                               ("b", "log_statement=mod", "the server log holds statements.*log_parameter_max_length = 0")]:
        with Gallery.open(f"{postgres_url}&options={quote('-c ' + option, safe='')}") as gallery:
            with pytest.raises(StoreError, match="the data is deleted and the gallery's tables rewritten, but old "
                                                 f"copies remain in PostgreSQL's files: {says}"):
                gallery.erase(name)
            assert name not in gallery
    # a gallery whose names were given statistics again
    admin_sql(postgres_url, "ALTER TABLE identities ALTER COLUMN name SET STATISTICS -1")
    admin_sql(postgres_url, "ANALYZE identities")
    with Gallery.open(postgres_url) as gallery:
        with pytest.raises(StoreError, match=r"statistics \(pg_statistic\) hold values of identities\.name "
                                             r"\(ALTER TABLE .* SET STATISTICS 0"):
            gallery.erase("c")
        assert [i.name for i in gallery.identities()] == ["d"]


def test_compaction_refuses_a_log_of_failed_statements_with_their_parameters(postgres_url):
    # log_parameter_max_length_on_error: a failing statement's error names its
    # parameters (a name, an embedding) in the server log, which no compaction reaches
    with Gallery.open(postgres_url) as gallery:
        gallery.enroll_embeddings(["a", "b", "c"], unit_vectors(np.random.default_rng(12), 3))
    for name, options, refused in [("a", "-c log_parameter_max_length_on_error=-1", True),
                                   ("b", "-c log_parameter_max_length_on_error=64", True),
                                   # errors not logged, or logged without their context: nothing kept
                                   ("c", "-c log_parameter_max_length_on_error=-1 -c log_min_messages=fatal", False)]:
        with Gallery.open(f"{postgres_url}&options={quote(options, safe='')}") as gallery:
            if refused:
                with pytest.raises(StoreError, match="old copies remain in PostgreSQL's files: the server log holds "
                                                     "the parameters of statements that failed, names among them "
                                                     r"\(ALTER SYSTEM SET log_parameter_max_length_on_error = 0\)"):
                    gallery.erase(name)
            else:
                gallery.erase(name)
            assert name not in gallery
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SET log_parameter_max_length_on_error = -1")
        conn.execute("SET log_error_verbosity = terse")  # no CONTEXT line: the parameters are not logged
        assert postgres._kept_by_settings(conn) == []
        conn.execute("SET log_error_verbosity = default")
        assert len(postgres._kept_by_settings(conn)) == 1


def test_a_replication_slot_keeps_the_log_until_it_is_dropped(postgres_url, postgres_server):
    pgdata = Path(postgres_server.pgdata)
    slot = f"prosopo_test_{os.getpid()}"
    with Gallery.open(postgres_url) as gallery:
        _enroll(gallery, np.random.default_rng(10))
        needles = _needles(postgres_url, gallery)
        admin_sql(postgres_url, "SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
        try:
            with pytest.raises(StoreError, match=f"PostgreSQL keeps the write-ahead log's segments .*replication "
                                                 f"slots: {slot}\\); compact again once they are released"):
                gallery.erase(NAME)
            left = _found(pgdata, needles)
            assert left and all(name.startswith("pg_wal/") for names in left.values() for name in names)
        finally:
            admin_sql(postgres_url, "SELECT pg_drop_replication_slot(%s)", (slot,))
        gallery.compact()
    assert _found(pgdata, needles) == {}


def test_the_tables_owner_erases_without_being_superuser_once_granted(postgres_url, postgres_server):
    pgdata = Path(postgres_server.pgdata)
    owner = f"owner_{postgres_url.split('/gallery_')[1][:12]}"
    admin_sql(postgres_url, f"CREATE ROLE {owner} LOGIN")
    admin_sql(postgres_url, f"ALTER SCHEMA public OWNER TO {owner}")
    try:
        with Gallery.open(postgres_url.replace("postgres:@", f"{owner}@")) as gallery:
            _enroll(gallery, np.random.default_rng(11))
            needles = _needles(postgres_url, gallery)
            with pytest.raises(StoreError, match=rf"the user {owner} may not clear the write-ahead log \(GRANT "
                                                 rf"pg_checkpoint TO {owner}; GRANT EXECUTE ON FUNCTION "
                                                 rf"pg_switch_wal\(\), pg_ls_waldir\(\) TO {owner}; or compact"):
                gallery.erase(NAME)
            admin_sql(postgres_url, f"GRANT pg_checkpoint TO {owner}")
            admin_sql(postgres_url, f"GRANT EXECUTE ON FUNCTION pg_switch_wal(), pg_ls_waldir() TO {owner}")
            gallery.compact()
        assert _found(pgdata, needles) == {}
    finally:
        admin_sql(postgres_url, f"DROP OWNED BY {owner}")
        admin_sql(postgres_url, f"DROP ROLE {owner}")
