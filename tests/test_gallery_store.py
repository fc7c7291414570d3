"""The store seam (issue 17, "the house"): write, audit entry and anchor in
one store call; a failed write leaves no half-write and no false alarm; many
threads on one Gallery; a second process's writes followed by the first.
Precomputed embeddings: no model runs."""

from __future__ import annotations

import ast
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import unit_vectors

import prosopo.gallery.folder
import prosopo.gallery.gallery
from prosopo import Gallery, NotFoundError, StoreError
from prosopo.defaults import DEFAULT_MODEL
from prosopo.embed import RECOGNIZERS

DIM = RECOGNIZERS.backend_class(DEFAULT_MODEL).dim


class FailingCommits:
    """A connection whose COMMITs fail when ``fail()`` says so, after a pause
    (a slow disk failing): the fault injected into the store's one write."""

    def __init__(self, conn: sqlite3.Connection, fail, pause: float = 0.0):
        self._conn, self._fail, self._pause = conn, fail, pause
        self._writing = False  # only write transactions' commits fail (reads end with COMMIT too)
        self.failed = 0

    def execute(self, sql: str, *args):
        statement = sql.strip().upper()
        if statement == "BEGIN IMMEDIATE":
            self._writing = True
        elif statement == "ROLLBACK":
            self._writing = False
        elif statement == "COMMIT" and self._writing and self._fail():
            time.sleep(self._pause)
            self.failed += 1
            raise sqlite3.OperationalError("disk I/O error (injected)")
        elif statement == "COMMIT":
            self._writing = False
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_a_failed_commit_leaves_nothing_and_no_false_alarm(tmp_path):
    rng = np.random.default_rng(0)
    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll_embeddings("kept", unit_vectors(rng, 2))
        real = gallery._store.conn
        gallery._store.conn = FailingCommits(real, lambda: True)
        with pytest.raises(StoreError, match="could not save"):
            gallery.enroll_embeddings("lost", unit_vectors(rng, 2))
        with pytest.raises(StoreError):
            gallery.remove("kept")
        with pytest.raises(StoreError):
            gallery.search_embeddings(unit_vectors(rng, 1))
        gallery._store.conn = real
        assert "lost" not in gallery and gallery.identity("kept").faces == 2
        assert gallery.stats().faces == 2
        report = gallery.verify_audit()
        assert report.ok and report.entries == 1, report.problems
        gallery.enroll_embeddings("later", unit_vectors(rng, 1))
        assert gallery.verify_audit().ok and gallery.verify_audit().entries == 2


def test_work_failing_after_its_audit_entry_rolls_back_both(tmp_path):
    from prosopo.gallery.store import AuditEvent, Store

    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll_embeddings("someone", unit_vectors(np.random.default_rng(1), 1))
        store: Store = gallery.store
        anchor = (tmp_path / "g" / "audit.anchor").read_bytes()

        def work(tx):
            tx.delete_identity("someone")
            tx.log(AuditEvent("erase", "tester", "x", 1))
            tx.delete_identity("nobody")  # NotFoundError after the entry was logged

        with pytest.raises(NotFoundError):
            store.write(work)
        assert "someone" in gallery and len(gallery.audit()) == 1
        assert (tmp_path / "g" / "audit.anchor").read_bytes() == anchor  # the anchor did not move
        assert gallery.verify_audit().ok


def test_a_commit_failing_while_another_thread_anchors_is_no_false_alarm(tmp_path):
    """Thread 1 has committed and is about to move the anchor; thread 2 logs
    its entry and its commit then fails. Before the write, its audit entry
    and the anchor were one store call under the lock, thread 1 anchored
    thread 2's entry, which was never saved: "entries were cut from the end
    of the log". Thread 1 is held at the anchor step by a profiling hook (at
    most 0.5 s: with the fix thread 2 cannot log meanwhile)."""
    rng = np.random.default_rng(5)
    at_anchor, logged = threading.Event(), threading.Event()
    with Gallery.open(tmp_path / "g") as gallery:
        real = gallery._store.conn
        second: list[threading.Thread] = []

        class Proxy(FailingCommits):
            def execute(self, sql: str, *args):
                if second and threading.current_thread() is second[0] and sql.lstrip().startswith("INSERT INTO audit"):
                    result = super().execute(sql, *args)
                    logged.set()
                    return result
                return super().execute(sql, *args)

        gallery._store.conn = Proxy(real, lambda: bool(second) and threading.current_thread() is second[0],
                                    pause=0.2)

        def hold(frame, event, arg):
            if event == "call" and frame.f_code.co_name in ("anchor", "write_anchor") and not at_anchor.is_set():
                at_anchor.set()
                logged.wait(0.5)

        def first() -> None:
            sys.setprofile(hold)
            try:
                gallery.enroll_embeddings("first", unit_vectors(rng, 1))
            finally:
                sys.setprofile(None)

        failures: list[BaseException] = []

        def then() -> None:
            try:
                gallery.enroll_embeddings("second", unit_vectors(rng, 1))
            except StoreError as exc:
                failures.append(exc)

        one = threading.Thread(target=first)
        one.start()
        assert at_anchor.wait(10)
        second.append(threading.Thread(target=then))
        second[0].start()
        one.join()
        second[0].join()
        gallery._store.conn = real
        assert len(failures) == 1 and "first" in gallery and "second" not in gallery
        report = gallery.verify_audit()
        assert report.ok, report.problems
        assert report.entries == 1


def test_threads_with_failing_commits_never_raise_a_false_alarm(tmp_path):
    """Writers in several threads, every third commit failing slowly: before
    the write, audit and anchor were one store call, another thread could
    anchor an entry whose commit then failed ("entries were cut from the
    end of the log")."""
    rng = np.random.default_rng(2)
    vectors = unit_vectors(rng, 60)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with Gallery.open(tmp_path / "g") as gallery:
            counter = iter(range(10**9))
            lock = threading.Lock()

            def every_third() -> bool:
                with lock:
                    return next(counter) % 3 == 2

            flaky = FailingCommits(gallery._store.conn, every_third, pause=0.005)
            gallery._store.conn = flaky
            enrolled: list[str] = []

            def writer(tag: int) -> None:
                for i in range(15):
                    name = f"t{tag}-{i}"
                    try:
                        gallery.enroll_embeddings(name, vectors[tag * 15 + i])
                        enrolled.append(name)
                    except StoreError:
                        pass
                    try:
                        gallery.search_embeddings(vectors[tag * 15 + i], k=1)
                    except StoreError:
                        pass

            threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            gallery._store.conn = flaky._conn
            assert flaky.failed > 5
            report = gallery.verify_audit()
            assert report.ok, report.problems
            assert sorted(i.name for i in gallery.identities()) == sorted(enrolled)
            entries = gallery.audit()
            assert sum(e.count for e in entries if e.action == "enroll") == len(enrolled) == gallery.stats().faces
    finally:
        sys.setswitchinterval(old_interval)


def test_many_threads_enroll_and_search_one_gallery(gallery_location):
    rng = np.random.default_rng(3)
    people, each, threads = 12, 2, 4
    vectors = unit_vectors(rng, threads * people)
    probes = vectors + rng.normal(scale=0.02, size=vectors.shape).astype(np.float32)
    errors: list[BaseException] = []
    searches = [0] * threads
    with Gallery.open(gallery_location) as gallery:
        def worker(t: int) -> None:
            try:
                for i in range(people):
                    row = t * people + i
                    gallery.enroll_embeddings(f"w{t}-{i}", np.stack([vectors[row]] * each))
                    found = gallery.search_embeddings(probes[row], k=3)[0]
                    searches[t] += 1
                    assert found[0].identity == f"w{t}-{i}", found
                    assert f"w{t}-{i}" in gallery
            except (AssertionError, StoreError) as exc:  # reported below, with the thread's assertion
                errors.append(exc)

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        assert not errors, errors
        stats = gallery.stats()
        assert len(gallery) == stats.identities == threads * people
        assert stats.faces == threads * people * each
        hits = gallery.search_embeddings(probes, k=1)
        assert [m[0].identity for m in hits] == [f"w{t}-{i}" for t in range(threads) for i in range(people)]
        report = gallery.verify_audit()
        assert report.ok and report.entries == threads * people + sum(searches) + 1
        actions = [e.action for e in gallery.audit()]
        assert actions.count("enroll") == threads * people


FOLLOWER = """
import sys, numpy as np
from prosopo import Gallery
root, dim = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
with Gallery.open(root, actor="other-process") as g:
    v = rng.normal(size=(5, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    np.save(sys.argv[3], v)
    for i in range(5):
        g.enroll_embeddings(f"new{i}", v[i])
    g.remove("old0")
    if sys.argv[4] == "erase":
        g.erase("old1")
"""


@pytest.mark.parametrize(("index", "then"), [("exact", "remove"), ("exact", "erase"), ("ann", "remove")])
def test_a_second_process_writes_are_followed(tmp_path, gallery_location, index, then):
    rng = np.random.default_rng(4)
    old = unit_vectors(rng, 4)
    root = gallery_location  # a directory, or a PostgreSQL database (another server)
    with Gallery.open(root, index=index) as gallery:
        for i, v in enumerate(old):
            gallery.enroll_embeddings(f"old{i}", v)
        assert gallery.search_embeddings(old[0], k=1)[0][0].identity == "old0"  # the index is built
        assert gallery._store.index().kind == index
        out = tmp_path / "new.npy"
        done = subprocess.run([sys.executable, "-c", FOLLOWER, root, str(DIM), str(out), then],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        new = np.load(out)
        # the open gallery follows the other process's changes, without reopening
        assert [m[0].identity for m in gallery.search_embeddings(new, k=1)] == [f"new{i}" for i in range(5)]
        gone = {"old0", "old1"} if then == "erase" else {"old0"}
        assert all(m.identity not in gone for m in gallery.search_embeddings(old[0], k=10)[0])
        assert len(gallery._store.index()) == 4 + 5 - len(gone)
        assert gallery.search_embeddings(old[2], k=1)[0][0].identity == "old2"
        report = gallery.verify_audit()
        assert report.ok, report.problems
        assert {e.actor for e in gallery.audit()} >= {"other-process"}


class FailsOnce:
    """A store read that raises once (a lost connection, a key that cannot
    open a sealed embedding), then works again."""

    def __init__(self, read):
        self._read, self.failed = read, False

    def __call__(self, *args):
        if not self.failed:
            self.failed = True
            raise StoreError("the read failed (injected)")
        return self._read(*args)


@pytest.mark.parametrize("index", ["exact", "ann"])
def test_a_follow_that_fails_midway_misses_nothing_later(gallery_location, index):
    # another server enrolls and removes; this one's read of the new embeddings
    # fails: its next search must still see both changes, not skip them for good
    rng = np.random.default_rng(11)
    old, newcomer = unit_vectors(rng, 2)
    with Gallery.open(gallery_location, index=index) as a, Gallery.open(gallery_location, index=index) as b:
        a.enroll_embeddings(["old", "stays"], np.stack([old, unit_vectors(rng, 1)[0]]))
        assert b.search_embeddings(old, k=1)[0][0].identity == "old"  # b's index is built
        a.enroll_embeddings("newcomer", newcomer)
        a.remove("old")
        store = b._store
        store._embeddings = FailsOnce(store._embeddings)
        with pytest.raises(StoreError, match="injected"):
            b.search_embeddings(newcomer, k=1)
        assert store._embeddings.failed
        assert b.search_embeddings(newcomer, k=1)[0][0].identity == "newcomer"
        assert {m.identity for m in b.search_embeddings(old, k=5)[0]} == {"stays", "newcomer"}
        assert len(store.index()) == 2


def test_a_rebuild_that_fails_midway_misses_nothing_later(gallery_location, monkeypatch):
    # the change log was cut past where this server's index is (a compaction),
    # so it rebuilds; reading every embedding fails once: the next search rebuilds again
    from prosopo.gallery import postgres

    monkeypatch.setattr(postgres, "KEEP_CHANGES", 0)  # a compaction cuts the whole log, as SQLite's does
    rng = np.random.default_rng(12)
    gone, newcomer, stays = unit_vectors(rng, 3)
    with Gallery.open(gallery_location) as a, Gallery.open(gallery_location) as b:
        a.enroll_embeddings(["gone", "stays"], np.stack([gone, stays]))
        assert b.search_embeddings(gone, k=1)[0][0].identity == "gone"  # b's index is built
        a.enroll_embeddings("newcomer", newcomer)
        a.erase("gone")  # erased and compacted: the log is cut
        store = b._store
        store._all_embeddings = FailsOnce(store._all_embeddings)
        with pytest.raises(StoreError, match="injected"):
            b.search_embeddings(newcomer, k=1)
        assert store._all_embeddings.failed
        assert b.search_embeddings(newcomer, k=1)[0][0].identity == "newcomer"
        assert {m.identity for m in b.search_embeddings(gone, k=5)[0]} == {"stays", "newcomer"}


def _source(module) -> str:
    return Path(module.__file__).read_text()


def test_gallery_and_folder_hold_no_sql_and_use_public_api_only():
    for module in (prosopo.gallery.gallery, prosopo.gallery.folder):
        tree = ast.parse(_source(module))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "sqlite3" not in imported
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        for sql in ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "CREATE TABLE"):
            assert not any(sql in s for s in strings), (module.__name__, sql)
    folder = ast.parse(_source(prosopo.gallery.folder))
    assert not any(isinstance(n, ast.ImportFrom) and n.module == "gallery" for n in ast.walk(folder))
    private = [n.attr for n in ast.walk(folder) if isinstance(n, ast.Attribute) and n.attr.startswith("_")
               and not n.attr.startswith("__")]
    assert private == []


def test_the_sqlite_store_is_a_store(tmp_path):
    # every operation of the protocol, with the same signature
    import inspect

    from prosopo.gallery.store import SQLiteStore, Store

    members = [name for name in dir(Store) if not name.startswith("_")]
    assert {"write", "nearest", "index", "faces", "compact", "verify_audit", "close", "meta"} <= set(members)
    with Gallery.open(tmp_path / "g") as gallery:
        store = gallery.store
        assert isinstance(store, SQLiteStore)
        assert all(hasattr(store, name) for name in members)
    for name in members:
        spec, impl = getattr(Store, name), getattr(SQLiteStore, name, None)
        if inspect.isfunction(spec):
            assert list(inspect.signature(spec).parameters) == list(inspect.signature(impl).parameters), name
    text = _source(sys.modules[Store.__module__])
    protocol = text[text.index("class Store(Protocol)"):text.index("# -- the SQLite store")]
    assert "sqlite" not in protocol.lower()
