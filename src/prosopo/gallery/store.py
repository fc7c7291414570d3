"""The embedded store: one local directory holding

- ``gallery.db``: SQLite in WAL mode with identities (and their consent
  records), faces and embeddings, the files a folder sync has seen, a change
  log the vector index follows, and the audit log;
- ``index.ann``: the saved approximate-search index of a large gallery
  (derived data, rebuilt from the database when missing or stale);
- ``audit.anchor``: the newest audit entry's hash (see :mod:`prosopo.privacy.audit`).

The database is the truth. Every change is one transaction, so a crash loses
at most the batch in flight and never leaves a half-written identity; two
processes can write at once (SQLite serialises them, each waits up to
``BUSY_SECONDS`` for the other). Deleted rows are overwritten
(``secure_delete``), and :meth:`Store.compact` rewrites the files so that no
copy of an erased embedding survives anywhere in the directory.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..privacy import audit
from ..privacy.crypto import Cipher
from .ann import AnnIndex
from .exact import ExactIndex

FORMAT = "prosopo-gallery/1"
DB_FILE = "gallery.db"
INDEX_FILE = "index.ann"
ANCHOR_FILE = "audit.anchor"
LOCK_FILE = "index.lock"
BUSY_SECONDS = 60
# with index="auto", galleries of this many faces or more use the ANN index;
# below it exact search is fast enough (see benchmarks/gallery_speed.py)
ANN_FROM = 50_000
# save the ANN index again when this many changes are not yet in the saved file
SAVE_AFTER = 20_000
KEY_CHECK = b"prosopo key check"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    enrolled_by TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    purpose TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    consent_ref TEXT,
    expires_at TEXT,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT,
    box TEXT NOT NULL,
    score REAL NOT NULL,
    embedding BLOB NOT NULL,
    crop BLOB,
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_identity ON faces(identity_id);
CREATE INDEX IF NOT EXISTS faces_source ON faces(source);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT
);
CREATE TABLE IF NOT EXISTS tombstones (sha256 TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id INTEGER NOT NULL,
    op INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS face_added AFTER INSERT ON faces
    BEGIN INSERT INTO changes (face_id, op) VALUES (new.id, 1); END;
CREATE TRIGGER IF NOT EXISTS face_removed AFTER DELETE ON faces
    BEGIN INSERT INTO changes (face_id, op) VALUES (old.id, -1); END;
"""


def _statements(script: str) -> list[str]:
    """Split a schema script into statements (triggers hold semicolons)."""
    done, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            done.append(current.strip())
            current = ""
    return done


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode. Switching a new database to WAL needs an
    exclusive lock and SQLite answers "database is locked" at once, without
    waiting, when another process is doing the same (two processes creating
    one gallery): that is retried until ``BUSY_SECONDS`` have passed."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        conn = None
        try:
            conn = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA trusted_schema=OFF")
            return conn
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if not (isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)):
                raise StoreError(f"{path} is not a prosopo gallery or is damaged ({exc}); "
                                 "nothing was changed") from None
            if time.monotonic() > deadline:
                raise StoreError(f"{path} stayed locked by another process for {BUSY_SECONDS} s; try again") from None
            time.sleep(0.05)


def _release_freed_memory() -> None:
    """Hand the heap freed while an index was read or built back to the
    system. glibc keeps freed blocks of up to 32 MB in the heap (the file's
    copies, the decrypted copy, the arrays it was parsed into): measured at a
    million 512-D faces, 18 MB more resident without this. Elsewhere a no-op."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


class Store:
    """Low-level access to one store directory. :class:`prosopo.Gallery` is
    the public face; use that."""

    def __init__(self, location: str | os.PathLike, *, create: bool, settings: dict[str, str],
                 key: bytes | None, index: str = "auto"):
        self.root = Path(location).expanduser()
        self.db_path = self.root / DB_FILE
        if not self.db_path.exists():
            if not create:
                raise StoreError(f"no gallery at {str(self.root)!r}")
            if self.root.exists() and not self.root.is_dir():
                raise StoreError(f"{str(self.root)!r} is a file, not a gallery directory")
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            # biometric data: readable by the owner only (the WAL files inherit this)
            os.close(os.open(self.db_path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.RLock()
        self._pending_anchor: tuple[int, str] | None = None  # audit entry logged, not yet anchored
        self.conn = _connect(self.db_path)
        try:
            self._init(settings, key)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{self.db_path} is not a prosopo gallery or is damaged ({exc}); "
                             "nothing was changed") from None
        except BaseException:
            self.conn.close()
            raise
        self.cipher = Cipher(key) if key else None
        self.index_mode = index
        self._index: ExactIndex | AnnIndex | None = None
        self._applied = 0
        self._saved_seq = -1

    # -- setup ------------------------------------------------------------

    def _init(self, settings: dict[str, str], key: bytes | None) -> None:
        with self.write() as conn:
            for statement in _statements(SCHEMA + audit.SCHEMA):
                conn.execute(statement)
            if conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() is None:
                if conn.execute("SELECT count(*) FROM faces").fetchone()[0]:
                    raise StoreError(f"{self.db_path} holds faces but no format record; it is damaged")
                gallery_id = uuid.uuid4().hex
                rows = {"format": FORMAT, "gallery_id": gallery_id, "pseudonym_salt": os.urandom(16).hex(),
                        "encrypted": "1" if key else "0", **settings}
                if key:
                    rows["key_check"] = Cipher(key).seal(KEY_CHECK, gallery_id.encode()).hex()
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows.items())
        self.meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if self.meta.get("format") != FORMAT:
            raise StoreError(f"{self.db_path} is not a prosopo gallery (format {self.meta.get('format')!r})")
        if self.meta["encrypted"] == "1":
            if key is None:
                raise StoreError(f"the gallery at {str(self.root)!r} is encrypted; give its key with "
                                 "$PROSOPO_GALLERY_KEY, $PROSOPO_GALLERY_KEY_FILE or key=/key_file=")
            try:
                Cipher(key).open(bytes.fromhex(self.meta["key_check"]), self.gallery_id.encode())
            except StoreError:
                raise StoreError(f"wrong gallery key for {str(self.root)!r}") from None
        elif key is not None:
            raise StoreError(f"the gallery at {str(self.root)!r} is not encrypted but a key was given; "
                             "refusing to guess whether new data should be encrypted")

    @property
    def gallery_id(self) -> str:
        return self.meta["gallery_id"]

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def salt(self) -> bytes:
        return bytes.fromhex(self.meta["pseudonym_salt"])

    def close(self) -> None:
        with self._lock:
            if isinstance(self._index, AnnIndex):
                self._save_ann(force=False)
            self.conn.close()

    # -- transactions -----------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): all or nothing."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the gallery is busy or read-only ({exc})") from None
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._pending_anchor = None
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self.conn.execute("ROLLBACK")
                self._pending_anchor = None
                raise StoreError(f"could not save to the gallery ({exc})") from None

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def log(self, conn: sqlite3.Connection, action: str, actor: str, **fields) -> None:
        """Append an audit entry inside the current write transaction."""
        self._pending_anchor = audit.append(conn, action, actor, **fields)

    def anchor(self) -> None:
        """After a commit that logged, move the anchor file forward."""
        pending = self._pending_anchor
        if pending:
            self._pending_anchor = None
            with self._file_lock():
                audit.write_anchor(self.root / ANCHOR_FILE, *pending)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        with open(self.root / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- embeddings -------------------------------------------------------

    def next_face_id(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'faces'").fetchone()
        return (row[0] if row else 0) + 1

    def seal(self, data: bytes, face_id: int, what: str) -> bytes:
        if self.cipher is None:
            return data
        return self.cipher.seal(data, f"{self.gallery_id}:{what}:{face_id}".encode())

    def unseal(self, data: bytes, face_id: int, what: str) -> bytes:
        if self.cipher is None:
            return data
        return self.cipher.open(data, f"{self.gallery_id}:{what}:{face_id}".encode())

    def vectors(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        dim = self.dim
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        if not rows:
            return ids, np.zeros((0, dim), np.float32)
        blob = b"".join(self.unseal(data, face_id, "embedding") for face_id, data in rows)
        vectors = np.frombuffer(blob, np.float32)
        if vectors.size != dim * len(rows):
            raise StoreError("stored embeddings have the wrong size; the gallery is damaged")
        return ids, vectors.reshape(len(rows), dim)

    # -- the vector index -------------------------------------------------

    def search(self, vectors: np.ndarray, count: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
        """The ``count`` nearest stored face ids (and similarities) for each
        row of ``vectors``, on an up-to-date index, and how many faces that
        index holds; under the store's lock, so a concurrent change in
        another thread cannot shift rows mid-search."""
        with self._lock:
            index = self.index()
            return [index.search(v, count) for v in vectors], len(index)

    def index(self) -> ExactIndex | AnnIndex:
        """The vector index, brought up to date with every committed change
        (also those made by other processes)."""
        with self._lock:
            with self.read() as conn:
                if self._index is None:
                    stored = self.meta.get("index", "exact")
                    self._load_index(conn, self.index_mode if self.index_mode != "auto" else stored)
                else:
                    self._follow(conn)
            kind = self.index_mode
            if kind == "auto":  # once a gallery has grown to ANN size it stays there
                kind = "ann" if len(self._index) >= ANN_FROM else self.meta.get("index", "exact")
            if kind != self._index.kind:
                with self.read() as conn:
                    self._load_index(conn, kind)
            if self.index_mode == "auto" and kind != self.meta.get("index", "exact"):
                with self.write() as conn:
                    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('index', ?)", (kind,))
                self.meta["index"] = kind
            if isinstance(self._index, AnnIndex):
                self._save_ann(force=False)
            return self._index

    def _last_seq(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return row[0] if row else 0

    def _load_index(self, conn: sqlite3.Connection, kind: str) -> None:
        dim = self.dim
        saved = self._read_ann(dim) if kind == "ann" else None
        floor = int(self.meta.get("changes_floor", "0"))
        if saved is not None and saved[1] >= floor:
            self._index, self._applied = saved
            self._saved_seq = self._applied
            self._follow(conn)
        else:
            self._index = AnnIndex(dim) if kind == "ann" else ExactIndex(dim)
            self._applied = self._last_seq(conn)
            self._saved_seq = -1
            cursor = conn.execute("SELECT id, embedding FROM faces ORDER BY id")
            while rows := cursor.fetchmany(50_000):
                self._index.add(*self.vectors(rows))
        _release_freed_memory()

    def _follow(self, conn: sqlite3.Connection) -> None:
        floor = int(conn.execute("SELECT coalesce((SELECT value FROM meta WHERE key = 'changes_floor'), 0)")
                    .fetchone()[0])
        if self._applied < floor:  # the log was cut by a compaction elsewhere: start again
            self._load_index(conn, self._index.kind)
            return
        rows = conn.execute("SELECT seq, face_id, op FROM changes WHERE seq > ? ORDER BY seq",
                            (self._applied,)).fetchall()
        if not rows:
            return
        final: dict[int, int] = {}
        for _, face_id, op in rows:
            final[face_id] = op
        self._applied = rows[-1][0]
        removed = [f for f, op in final.items() if op < 0]
        if removed:
            self._index.remove(np.array(removed, np.int64))
        added = [f for f, op in final.items() if op > 0]
        for start in range(0, len(added), 900):
            chunk = added[start:start + 900]
            found = conn.execute(f"SELECT id, embedding FROM faces WHERE id IN ({','.join('?' * len(chunk))})",
                                 chunk).fetchall()
            if found:
                self._index.add(*self.vectors(found))

    def _read_ann(self, dim: int) -> tuple[AnnIndex, int] | None:
        path = self.root / INDEX_FILE
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            header, body = data.split(b"\n", 1)
            info = json.loads(header)
            if info.get("gallery_id") != self.gallery_id:
                return None
            body = self.unseal(body, 0, "index")
            return AnnIndex.from_bytes(dim, body), int(info["seq"])
        except (ValueError, KeyError, StoreError):
            return None  # stale or damaged: derived data, rebuilt from the database

    def _save_ann(self, *, force: bool) -> None:
        if not isinstance(self._index, AnnIndex):
            return
        if not force and self._applied - self._saved_seq < SAVE_AFTER and self._saved_seq >= 0:
            return
        header = json.dumps({"gallery_id": self.gallery_id, "seq": self._applied}).encode()
        body = self.seal(self._index.to_bytes(), 0, "index")
        with self._file_lock():
            floor = self.conn.execute("SELECT value FROM meta WHERE key = 'changes_floor'").fetchone()
            if floor and int(floor[0]) > self._applied:
                return  # another process compacted meanwhile: this index may hold erased faces
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".index-")
            with os.fdopen(fd, "wb") as out:
                out.write(header + b"\n" + body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.root / INDEX_FILE)
        self._saved_seq = self._applied

    # -- compaction -------------------------------------------------------

    def compact(self) -> None:
        """Rewrite the database and the index so that nothing deleted
        survives in any file of the store: VACUUM, then truncate the
        write-ahead log; the approximate index is rebuilt from the remaining faces."""
        with self._lock:
            with self.write() as conn:
                last = self._last_seq(conn)
                conn.execute("DELETE FROM changes WHERE seq <= ?", (last,))
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('changes_floor', ?)", (str(last),))
            self.meta["changes_floor"] = str(last)
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            kind = self._index.kind if self._index is not None else None
            self._index = None
            if kind == "ann" or (self.root / INDEX_FILE).exists():
                (self.root / INDEX_FILE).unlink(missing_ok=True)
                if kind == "ann":
                    with self.read() as conn:
                        self._load_index(conn, "ann")
                    self._save_ann(force=True)
            for stray in self.root.glob(".index-*"):
                stray.unlink(missing_ok=True)
