"""Where a gallery keeps its data: the :class:`Store` protocol, and
:class:`SQLiteStore`, the embedded default. :class:`~prosopo.Gallery` talks
to a store only through the protocol and holds no SQL; a second backend
(:class:`~prosopo.gallery.postgres.PostgresStore`) implements the same
protocol. What both share above their SQL (the settings and the key, sealing
embeddings, the in-memory index that follows the change log) is
:class:`IndexedStore`.

A store writes through one call, :meth:`Store.write`: the changes, the audit
entries that record them and the move of the audit anchor happen under the
store's lock, the first two in one transaction and the anchor only after it
committed. A failed write leaves nothing behind: no half-written identity, no
audit entry, no anchor pointing at an entry that was never saved.

The embedded store is one local directory holding

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
(``secure_delete``), and :meth:`SQLiteStore.compact` rewrites the files so that
no copy of an erased embedding, name or photo path survives anywhere in the
directory.
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
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from ..errors import NotFoundError, StoreError
from ..privacy import audit
from ..privacy.audit import AuditReport, Entry
from ..privacy.consent import Consent, iso, now, parse_expiry
from ..privacy.crypto import Cipher
from ..types import Box, Face
from .ann import AnnIndex
from .exact import ExactIndex

FORMAT = "prosopo-gallery/1"
URL_SCHEMES = ("postgresql://", "postgres://")  # a gallery location that is a PostgreSQL database
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
CHUNK = 900  # ids per "IN (...)" list, below SQLite's limit on bound values

T = TypeVar("T")


# -- what crosses the protocol: plain records, no backend types -----------------


@dataclass(frozen=True)
class Embedded:
    """One face ready to store: where it came from, the detected face, its
    embedding and (if the gallery keeps them) the aligned crop as PNG."""

    source: str | None
    face: Face
    vector: np.ndarray
    crop: bytes | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One audit entry to write (see :mod:`prosopo.privacy.audit`): never a
    name, an embedding or a path; identities appear as pseudonyms."""

    action: str
    actor: str
    subject: str | None = None
    count: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredIdentity:
    name: str
    faces: int
    consent: Consent
    metadata: dict[str, Any]


@dataclass(frozen=True)
class StoredFace:
    """A stored face as a search needs it, with its float32 embedding."""

    face_id: int
    identity: str
    source: str | None
    box: Box | None
    expires_at: str | None
    vector: np.ndarray


@dataclass(frozen=True)
class FileRecord:
    """A photo a folder sync has seen: ``status`` is ``"ok"`` (its faces are
    enrolled) or ``"skipped"`` (``message`` says why); ``identity`` is the
    name the sync gave it, so that erasing that identity forgets the file."""

    size: int
    mtime_ns: int
    sha256: str
    status: str
    message: str | None = None
    identity: str | None = None


@dataclass(frozen=True)
class Counts:
    identities: int
    expired: int
    faces: int
    files: int
    audit_entries: int


class VectorIndex(Protocol):
    """Nearest-neighbour search over the stored embeddings (:mod:`.exact`, :mod:`.ann`)."""

    kind: str

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def memory_bytes(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...


class Transaction(Protocol):
    """The changes one :meth:`Store.write` can make, all or nothing."""

    def identity_id(self, name: str) -> int | None:
        """The id of identity ``name``, or None if it is not enrolled."""
        ...

    def add_identity(self, name: str, consent: Consent, metadata: Mapping[str, Any] | None) -> int: ...

    def set_consent(self, identity_id: int, consent: Consent) -> None:
        """Replace the purpose, legal basis, consent reference and expiry."""
        ...

    def merge_metadata(self, identity_id: int, metadata: Mapping[str, Any]) -> None: ...

    def add_faces(self, faces: Sequence[tuple[int, Embedded]]) -> int:
        """Store ``(identity id, face)`` pairs; returns how many."""
        ...

    def delete_identity(self, name: str) -> int:
        """Delete an identity, its faces and every file record of its photos
        (a path holds the person's name); their content hashes are kept as
        tombstones so that a folder sync does not enroll them again. Returns
        the faces removed; :class:`~prosopo.NotFoundError` if not enrolled."""
        ...

    def file(self, path: str) -> FileRecord | None: ...

    def put_file(self, path: str, record: FileRecord) -> None: ...

    def move_file(self, old: str, new: str, record: FileRecord) -> None:
        """A photo renamed: its faces and record follow it."""
        ...

    def remove_files(self, paths: Sequence[str]) -> int:
        """Forget photos and delete their faces (and identities left without
        faces); returns the faces removed."""
        ...

    def log(self, event: AuditEvent) -> None:
        """Add an audit entry, written in this same transaction."""
        ...


class Store(Protocol):
    """A gallery's storage backend: open (the constructor), write in one
    transaction with its audit entries, search support, erasure and
    following the changes other processes make."""

    @property
    def meta(self) -> Mapping[str, str]:
        """The gallery's settings (model, detector, dim, encrypted, ...)."""
        ...

    @property
    def location(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def salt(self) -> bytes: ...

    def close(self) -> None: ...

    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in one transaction under the store's lock; the audit
        entries it logs are part of it, and after the commit the audit anchor
        moves to the newest of them before the lock is released. If
        ``work`` or the commit fails, nothing is written and the error is
        raised (a backend failure as :class:`~prosopo.StoreError`)."""
        ...

    # reading
    def identities(self, name: str | None = None) -> list[StoredIdentity]: ...

    def has_identity(self, name: str) -> bool: ...

    def count_identities(self) -> int: ...

    def counts(self, moment: str) -> Counts:
        """Sizes, with the identities whose consent expired at ``moment`` (ISO)."""
        ...

    def disk_bytes(self) -> int: ...

    def files_under(self, prefix: str) -> dict[str, FileRecord]: ...

    def tombstones(self) -> set[str]: ...

    def audit_entries(self, limit: int | None = None) -> list[Entry]: ...

    def verify_audit(self) -> AuditReport: ...

    # searching, following every committed change (also other processes')
    def index(self) -> VectorIndex:
        """The vector index, brought up to date with every committed change."""
        ...

    def nearest(self, vectors: np.ndarray, count: int) -> tuple[list[list[StoredFace]], int]:
        """The stored faces nearest each row of ``vectors`` (about ``count``
        of them, those the index ranks first), read with the index's update
        in one snapshot, and how many faces the gallery holds."""
        ...

    def faces(self, face_ids: Sequence[int]) -> list[StoredFace]:
        """The stored faces with these ids (those still there)."""
        ...

    # erasure
    def compact(self) -> None:
        """Rewrite the store so that nothing deleted survives anywhere in it."""
        ...


# -- what every store shares -----------------------------------------------------


def first_meta(settings: Mapping[str, str], key: bytes | None, format: str) -> dict[str, str]:
    """The settings a new gallery records: ``settings``, the store
    ``format``, a random id and pseudonym salt, and whether (and with which
    key, checked by a sealed constant) it is encrypted."""
    gallery_id = uuid.uuid4().hex
    rows = {"format": format, "gallery_id": gallery_id, "pseudonym_salt": os.urandom(16).hex(),
            "encrypted": "1" if key else "0", **settings}
    if key:
        rows["key_check"] = Cipher(key).seal(KEY_CHECK, gallery_id.encode()).hex()
    return rows


def check_meta(meta: Mapping[str, str], key: bytes | None, format: str, where: str) -> Cipher | None:
    """Refuse a gallery of another format, or opened with a missing or wrong
    key; returns its cipher (None if it is not encrypted). ``where`` names
    the gallery in the messages."""
    found = meta.get("format")
    if found != format:
        family = format.rpartition("/")[0]
        if isinstance(found, str) and found.startswith(family + "/"):
            raise StoreError(f"the gallery at {where!r} is in format {found!r}, which this version of prosopo "
                             f"cannot read (it reads {format!r}); open it with the version that wrote it, or "
                             "upgrade prosopo")
        raise StoreError(f"{where!r} is not a prosopo gallery (format {found!r})")
    if meta["encrypted"] == "1":
        if key is None:
            raise StoreError(f"the gallery at {where!r} is encrypted; give its key with "
                             "$PROSOPO_GALLERY_KEY, $PROSOPO_GALLERY_KEY_FILE or key=/key_file=")
        try:
            Cipher(key).open(bytes.fromhex(meta["key_check"]), meta["gallery_id"].encode())
        except StoreError:
            raise StoreError(f"wrong gallery key for {where!r}") from None
        return Cipher(key)
    if key is not None:
        raise StoreError(f"the gallery at {where!r} is not encrypted but a key was given; "
                         "refusing to guess whether new data should be encrypted")
    return None


def stored_identity(row: Sequence[Any]) -> StoredIdentity:
    """An identity from its row: name, faces, enrolled_by, enrolled_at,
    purpose, legal_basis, consent_ref, expires_at, metadata (JSON)."""
    r = row
    return StoredIdentity(r[0], r[1], Consent(r[2], r[4], r[5], r[6], parse_expiry(r[3]), parse_expiry(r[7])),
                          json.loads(r[8]))


def _release_freed_memory() -> None:
    """Hand the heap freed while an index was read or built back to the
    system. glibc keeps freed blocks of up to 32 MB in the heap (the file's
    copies, the decrypted copy, the arrays it was parsed into): measured at a
    million 512-D faces, 18 MB more resident without this. Elsewhere a no-op."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


Rows = list[tuple[int, bytes]]  # (face id, sealed embedding) rows


class IndexedStore(ABC):
    """What the stores share above their SQL: the gallery's settings
    (:attr:`meta`) and key, the sealing of embeddings and crops, and the
    in-memory vector index, kept in step with the database's change log (a
    ``changes`` table of ``(seq, face_id, op)`` rows, ``op`` 1 for a face
    added and -1 for one removed) so that every search sees every committed
    change, also another process's. A compaction may cut the log: it records
    the last ``seq`` it cut as ``changes_floor`` in ``meta``, and an index
    that had not followed that far is rebuilt.

    A backend implements the abstract methods: a read snapshot, the reads of
    the log and of the embeddings inside it, and :meth:`_set_meta`."""

    def __init__(self, index: str):
        self._lock = threading.RLock()
        self.meta: dict[str, str] = {}
        self.cipher: Cipher | None = None
        self.index_mode = index
        self._index: VectorIndex | None = None
        self._applied = 0  # the last change the index has followed

    @property
    def gallery_id(self) -> str:
        return self.meta["gallery_id"]

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def salt(self) -> bytes:
        return bytes.fromhex(self.meta["pseudonym_salt"])

    # -- what a backend implements ----------------------------------------

    @abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A consistent snapshot for several reads; yields the connection."""

    @abstractmethod
    def _set_meta(self, key: str, value: str) -> None:
        """Record a setting, in a write transaction of its own."""

    @abstractmethod
    def _last_seq(self, conn: Any) -> int:
        """The newest change in the log (or the floor, if it was cut since)."""

    @abstractmethod
    def _changes(self, conn: Any, after: int) -> list[tuple[int, int, int]]:
        """The change log's rows ``(seq, face_id, op)`` after ``after``, in order."""

    @abstractmethod
    def _embeddings(self, conn: Any, face_ids: Sequence[int]) -> Rows:
        """``(id, embedding)`` of those of these faces still stored."""

    @abstractmethod
    def _all_embeddings(self, conn: Any) -> Iterator[Rows]:
        """``(id, embedding)`` of every stored face, in batches."""

    @abstractmethod
    def _stored(self, conn: Any, face_ids: Sequence[int]) -> list[StoredFace]:
        """Those of these faces still stored, with their identity and embedding."""

    def _followed(self, index: VectorIndex) -> None:
        """Called with the index each time it was brought up to date, outside any transaction."""

    # -- embeddings -------------------------------------------------------

    def seal(self, data: bytes, face_id: int, what: str) -> bytes:
        if self.cipher is None:
            return data
        return self.cipher.seal(data, f"{self.gallery_id}:{what}:{face_id}".encode())

    def unseal(self, data: bytes, face_id: int, what: str) -> bytes:
        if self.cipher is None:
            return data
        return self.cipher.open(data, f"{self.gallery_id}:{what}:{face_id}".encode())

    def vectors(self, rows: Sequence[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        dim = self.dim
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        if not rows:
            return ids, np.zeros((0, dim), np.float32)
        blob = b"".join(self.unseal(data, face_id, "embedding") for face_id, data in rows)
        vectors = np.frombuffer(blob, np.float32)
        if vectors.size != dim * len(rows):
            raise StoreError("stored embeddings have the wrong size; the gallery is damaged")
        return ids, vectors.reshape(len(rows), dim)

    def face_row(self, face_id: int, identity_id: int, item: Embedded, added: str) -> tuple[Any, ...]:
        """The values of a face's row, sealed (bound to ``face_id``): id,
        identity_id, source, box (JSON), score, embedding, crop, added_at."""
        vector = np.ascontiguousarray(item.vector, np.float32)
        if vector.shape != (self.dim,):
            raise StoreError(f"embedding of size {vector.shape} does not fit this gallery ({self.dim}-D)")
        crop = self.seal(item.crop, face_id, "crop") if item.crop is not None else None
        box = item.face.box
        return (face_id, identity_id, item.source, json.dumps([box.x, box.y, box.w, box.h]), float(item.face.score),
                self.seal(vector.tobytes(), face_id, "embedding"), crop, added)

    def stored_faces(self, rows: Sequence[Sequence[Any]]) -> list[StoredFace]:
        """Faces from rows of id, identity name, source, box, expires_at, embedding."""
        _, vectors = self.vectors([(r[0], r[5]) for r in rows])
        return [StoredFace(r[0], r[1], r[2], Box(*json.loads(r[3])) if r[3] else None, r[4], v)
                for r, v in zip(rows, vectors)]

    # -- the vector index -------------------------------------------------

    def faces(self, face_ids: Sequence[int]) -> list[StoredFace]:
        with self._read() as conn:
            return self._stored(conn, face_ids)

    def nearest(self, vectors: np.ndarray, count: int) -> tuple[list[list[StoredFace]], int]:
        """Under the store's lock, so that a concurrent change in another
        thread cannot shift rows mid-search; the index follows the change log
        and the faces are read in the same snapshot (one transaction)."""
        with self._lock:
            with self._read() as conn:
                current = self._current(conn)
                found = self._nearest(conn, current, vectors, count) if self._kind_for(current) == current.kind else None
            if found is None:  # the index changes kind: rare, so not in one snapshot
                current = self.index()
                with self._read() as conn:
                    found = self._nearest(conn, current, vectors, count)
            else:
                self._followed(current)
            return found, len(current)

    def _nearest(self, conn: Any, index: VectorIndex, vectors: np.ndarray,
                 count: int) -> list[list[StoredFace]]:
        found = [index.search(v, count)[0].tolist() for v in vectors]
        stored = {f.face_id: f for f in self._stored(conn, sorted({i for ids in found for i in ids}))}
        return [[stored[i] for i in ids if i in stored] for ids in found]

    def index(self) -> VectorIndex:
        """The vector index, brought up to date with every committed change
        (also those made by other processes)."""
        with self._lock:
            with self._read() as conn:
                current = self._current(conn)
            kind = self._kind_for(current)
            if kind != current.kind:
                with self._read() as conn:
                    current = self._load_index(conn, kind)
            if self.index_mode == "auto" and kind != self.meta.get("index", "exact"):
                self._set_meta("index", kind)
                self.meta["index"] = kind
            self._followed(current)
            return current

    def _current(self, conn: Any) -> VectorIndex:
        """The index as it is, brought up to date in this snapshot (built if there is none)."""
        if self._index is None:
            stored = self.meta.get("index", "exact")
            return self._load_index(conn, self.index_mode if self.index_mode != "auto" else stored)
        return self._follow(conn, self._index)

    def _kind_for(self, index: VectorIndex) -> str:
        """The kind of index the gallery should have now: with ``"auto"``,
        exact until it holds ``ANN_FROM`` faces, then approximate for good."""
        stored = self.meta.get("index", "exact")
        if self.index_mode != "auto":
            return self.index_mode
        if stored not in ("exact", "ann"):  # an index the backend keeps (in the database) stays
            return stored
        return "ann" if len(index) >= ANN_FROM else stored

    def _floor(self, conn: Any) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = 'changes_floor'").fetchone()
        return int(row[0]) if row else 0

    def _load_index(self, conn: Any, kind: str) -> VectorIndex:
        """Build the index from every stored face. The index and the change
        it has followed are recorded together, once every face is in: if a
        read fails on the way (a lost connection, a sealed embedding that
        does not open), there is no index, and the next search builds it again."""
        index = AnnIndex(self.dim) if kind == "ann" else ExactIndex(self.dim)
        try:
            applied = self._last_seq(conn)
            for rows in self._all_embeddings(conn):
                index.add(*self.vectors(rows))
        except BaseException:
            self._index = None
            raise
        self._index, self._applied = index, applied
        _release_freed_memory()
        return index

    def _follow(self, conn: Any, index: VectorIndex) -> VectorIndex:
        """Apply the changes committed since the index was last brought up to
        date, by this process or another one. The change followed moves on
        only once all of them are applied; if anything fails on the way, the
        index (which may hold some of them) is dropped, and the next search
        builds it again: never an index that skipped a change for good."""
        if self._applied < self._floor(conn):  # the log was cut by a compaction elsewhere: start again
            return self._load_index(conn, index.kind)
        try:
            rows = self._changes(conn, self._applied)
            if not rows:
                return index
            final: dict[int, int] = {}
            for _, face_id, op in rows:
                final[face_id] = op
            removed = [f for f, op in final.items() if op < 0]
            if removed:
                index.remove(np.array(removed, np.int64))
            added = [f for f, op in final.items() if op > 0]
            for chunk in _chunks(added):
                found = self._embeddings(conn, chunk)
                if found:
                    index.add(*self.vectors(found))
        except BaseException:
            self._index = None
            raise
        self._applied = rows[-1][0]
        return index


# -- the SQLite store -----------------------------------------------------------

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
    message TEXT,
    identity TEXT
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
            if conn.execute("PRAGMA secure_delete").fetchone()[0] != 1:  # compiled out: erasure could not keep its word
                raise StoreError("this SQLite cannot overwrite deleted data (secure_delete); refusing to store faces")
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


def _marks(items: Sized) -> str:
    return ",".join("?" * len(items))


class _SQLiteTransaction:
    """:class:`Transaction` on the store's connection, inside ``BEGIN IMMEDIATE``."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection):
        self._store = store
        self._conn = conn
        self.anchor: tuple[int, str] | None = None  # the newest entry logged here

    def identity_id(self, name: str) -> int | None:
        row = self._conn.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def add_identity(self, name: str, consent: Consent, metadata: Mapping[str, Any] | None) -> int:
        c = consent
        cur = self._conn.execute(
            "INSERT INTO identities (name, enrolled_by, enrolled_at, purpose, legal_basis, consent_ref,"
            " expires_at, metadata) VALUES (?,?,?,?,?,?,?,?)",
            (name, c.enrolled_by, iso(c.enrolled_at), c.purpose, c.legal_basis, c.consent_ref,
             iso(c.expires_at), json.dumps(dict(metadata or {}), ensure_ascii=False)))
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def set_consent(self, identity_id: int, consent: Consent) -> None:
        c = consent
        self._conn.execute("UPDATE identities SET purpose=?, legal_basis=?, consent_ref=?, expires_at=? WHERE id=?",
                           (c.purpose, c.legal_basis, c.consent_ref, iso(c.expires_at), identity_id))

    def merge_metadata(self, identity_id: int, metadata: Mapping[str, Any]) -> None:
        row = self._conn.execute("SELECT metadata FROM identities WHERE id=?", (identity_id,)).fetchone()
        old = json.loads(row[0]) if row else {}
        self._conn.execute("UPDATE identities SET metadata=? WHERE id=?",
                           (json.dumps({**old, **metadata}, ensure_ascii=False), identity_id))

    def add_faces(self, faces: Sequence[tuple[int, Embedded]]) -> int:
        """Face ids are given explicitly: each sealed value is bound to its row."""
        store = self._store
        added = iso(now())
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'faces'").fetchone()
        first = (row[0] if row else 0) + 1
        for face_id, (identity_id, item) in enumerate(faces, first):
            self._conn.execute(
                "INSERT INTO faces (id, identity_id, source, box, score, embedding, crop, added_at)"
                " VALUES (?,?,?,?,?,?,?,?)", store.face_row(face_id, identity_id, item, added))
        return len(faces)

    def delete_identity(self, name: str) -> int:
        identity_id = self.identity_id(name)
        # the files a folder sync took this identity from, or skipped in its
        # folder: by the name recorded with them, by the faces' sources, and
        # (records written before names were kept) skipped photos in a
        # folder of that name; forgotten, path, message and all
        sources = "(SELECT source FROM faces WHERE identity_id = :id)"
        mine = (f"identity = :name OR path IN {sources} OR (identity IS NULL AND status != 'ok'"
                " AND instr(path, '/' || :name || '/') > 0)")
        args = {"id": identity_id, "name": name}
        self._conn.execute(f"INSERT OR IGNORE INTO tombstones (sha256) SELECT sha256 FROM files WHERE {mine}", args)
        files = self._conn.execute(f"DELETE FROM files WHERE {mine}", args).rowcount
        if identity_id is None:  # only skipped photos had that name (no face enrolled): forgotten too
            if not files:
                raise NotFoundError(f"no identity {name!r} in this gallery")
            return 0
        count = self._conn.execute("DELETE FROM faces WHERE identity_id = ?", (identity_id,)).rowcount
        self._conn.execute("DELETE FROM identities WHERE id = ?", (identity_id,))
        return count

    def file(self, path: str) -> FileRecord | None:
        row = self._conn.execute("SELECT size, mtime_ns, sha256, status, message, identity FROM files WHERE path = ?",
                                 (path,)).fetchone()
        return None if row is None else FileRecord(*row)

    def put_file(self, path: str, record: FileRecord) -> None:
        r = record
        self._conn.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256, status, message, identity)"
            " VALUES (?,?,?,?,?,?,?)", (path, r.size, r.mtime_ns, r.sha256, r.status, r.message, r.identity))

    def move_file(self, old: str, new: str, record: FileRecord) -> None:
        self._conn.execute("UPDATE faces SET source=? WHERE source=?", (new, old))
        self._conn.execute("DELETE FROM files WHERE path=?", (old,))
        self.put_file(new, record)

    def remove_files(self, paths: Sequence[str]) -> int:
        removed = 0
        for chunk in _chunks(paths):
            marks = _marks(chunk)
            owners = [r[0] for r in self._conn.execute(
                f"SELECT DISTINCT identity_id FROM faces WHERE source IN ({marks})", chunk)]
            removed += self._conn.execute(f"DELETE FROM faces WHERE source IN ({marks})", chunk).rowcount
            self._conn.execute(f"DELETE FROM files WHERE path IN ({marks})", chunk)
            for owner in owners:  # an identity left without faces goes too
                self._conn.execute("DELETE FROM identities WHERE id = ? AND NOT EXISTS "
                                   "(SELECT 1 FROM faces WHERE identity_id = ?)", (owner, owner))
        return removed

    def log(self, event: AuditEvent) -> None:
        self.anchor = audit.append(self._conn, event.action, event.actor, subject=event.subject,
                                   count=event.count, detail=event.detail)


class SQLiteStore(IndexedStore):
    """The embedded store (:class:`Store` over SQLite) in one local
    directory. :class:`prosopo.Gallery` is the public face; use that."""

    def __init__(self, location: str | os.PathLike, *, create: bool, settings: Mapping[str, str],
                 key: bytes | None, index: str = "auto"):
        super().__init__(index)
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
        self._saved_seq = -1

    # -- setup ------------------------------------------------------------

    def _init(self, settings: Mapping[str, str], key: bytes | None) -> None:
        with self._transaction() as conn:
            for statement in _statements(SCHEMA + audit.SCHEMA):
                conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(files)")}
            if "identity" not in columns:  # a store made before file records kept their identity
                conn.execute("ALTER TABLE files ADD COLUMN identity TEXT")
            if conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() is None:
                if conn.execute("SELECT count(*) FROM faces").fetchone()[0]:
                    raise StoreError(f"{self.db_path} holds faces but no format record; it is damaged")
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 first_meta(settings, key, FORMAT).items())
        self.meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        self.cipher = check_meta(self.meta, key, FORMAT, str(self.root))

    @property
    def location(self) -> str:
        return str(self.root)

    def close(self) -> None:
        with self._lock:
            if isinstance(self._index, AnnIndex):
                self._save_ann(force=False)
            self.conn.close()

    # -- transactions -----------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise StoreError(f"could not save to the gallery ({exc}); nothing was changed") from None

    def write(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            tx = _SQLiteTransaction(self, self.conn)
            with self._transaction():
                try:
                    result = work(tx)
                except sqlite3.DatabaseError as exc:
                    raise StoreError(f"could not save to the gallery ({exc}); nothing was changed") from None
            if tx.anchor is not None:  # committed: only now may the anchor name the new entry
                try:
                    with self._file_lock():
                        audit.write_anchor(self.root / ANCHOR_FILE, *tx.anchor)
                except OSError as exc:
                    raise StoreError(f"the change was saved, but the audit anchor could not be moved "
                                     f"({exc.strerror})") from None
            return result

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        with open(self.root / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading ----------------------------------------------------------

    def identities(self, name: str | None = None) -> list[StoredIdentity]:
        where, args = ("WHERE i.name = ?", (name,)) if name is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(
                "SELECT i.name, count(f.id), i.enrolled_by, i.enrolled_at, i.purpose, i.legal_basis, i.consent_ref,"
                " i.expires_at, i.metadata FROM identities i LEFT JOIN faces f ON f.identity_id = i.id"
                f" {where} GROUP BY i.id ORDER BY i.name", args).fetchall()
        return [stored_identity(r) for r in rows]

    def has_identity(self, name: str) -> bool:
        with self._read() as conn:
            return conn.execute("SELECT 1 FROM identities WHERE name = ?", (name,)).fetchone() is not None

    def count_identities(self) -> int:
        with self._read() as conn:
            return int(conn.execute("SELECT count(*) FROM identities").fetchone()[0])

    def counts(self, moment: str) -> Counts:
        with self._read() as conn:
            identities, expired = conn.execute(
                "SELECT count(*), count(CASE WHEN expires_at <= ? THEN 1 END) FROM identities",
                (moment,)).fetchone()
            faces = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
            files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
            entries = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        return Counts(identities, expired, faces, files, entries)

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())

    def files_under(self, prefix: str) -> dict[str, FileRecord]:
        with self._read() as conn:
            return {row[0]: FileRecord(*row[1:]) for row in conn.execute(
                "SELECT path, size, mtime_ns, sha256, status, message, identity FROM files"
                " WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))}

    def tombstones(self) -> set[str]:
        with self._read() as conn:
            return {row[0] for row in conn.execute("SELECT sha256 FROM tombstones")}

    def audit_entries(self, limit: int | None = None) -> list[Entry]:
        with self._read() as conn:
            return audit.entries(conn, limit)

    def verify_audit(self) -> AuditReport:
        with self._read() as conn:
            return audit.verify(conn, audit.read_anchor(self.root / ANCHOR_FILE))

    # -- the vector index -------------------------------------------------

    def _stored(self, conn: sqlite3.Connection, face_ids: Sequence[int]) -> list[StoredFace]:
        ids = sorted({int(i) for i in face_ids})
        rows = []
        for chunk in _chunks(ids):
            rows += conn.execute(
                "SELECT f.id, i.name, f.source, f.box, i.expires_at, f.embedding FROM faces f"
                f" JOIN identities i ON i.id = f.identity_id WHERE f.id IN ({_marks(chunk)})", chunk).fetchall()
        return self.stored_faces(rows)

    def _followed(self, index: VectorIndex) -> None:
        """A large index is saved now and then, so that opening the gallery need not rebuild it."""
        if isinstance(index, AnnIndex):
            self._save_ann(force=False)

    def _set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _last_seq(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return row[0] if row else 0

    def _changes(self, conn: sqlite3.Connection, after: int) -> list[tuple[int, int, int]]:
        return conn.execute("SELECT seq, face_id, op FROM changes WHERE seq > ? ORDER BY seq", (after,)).fetchall()

    def _embeddings(self, conn: sqlite3.Connection, face_ids: Sequence[int]) -> Rows:
        return conn.execute(f"SELECT id, embedding FROM faces WHERE id IN ({_marks(face_ids)})", face_ids).fetchall()

    def _all_embeddings(self, conn: sqlite3.Connection) -> Iterator[Rows]:
        cursor = conn.execute("SELECT id, embedding FROM faces ORDER BY id")
        while rows := cursor.fetchmany(50_000):
            yield rows

    def _load_index(self, conn: sqlite3.Connection, kind: str) -> VectorIndex:
        """The saved approximate index, if it is there and still valid, brought
        up to date; otherwise the index built from every stored face."""
        saved = self._read_ann(self.dim) if kind == "ann" else None
        if saved is None or saved[1] < int(self.meta.get("changes_floor", "0")):
            self._saved_seq = -1
            return super()._load_index(conn, kind)
        index, self._applied = saved
        self._saved_seq = self._applied
        self._index = index
        self._follow(conn, index)
        _release_freed_memory()
        return index

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
            with self._transaction() as conn:
                last = self._last_seq(conn)
                conn.execute("DELETE FROM changes WHERE seq <= ?", (last,))
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('changes_floor', ?)", (str(last),))
            self.meta["changes_floor"] = str(last)
            try:
                self.conn.execute("VACUUM")
                busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the gallery could not be compacted ({exc}); the data is deleted, but old "
                                 "copies may remain in free space until the next compaction") from None
            if busy:  # another process is reading: its snapshot keeps the log alive
                raise StoreError("another process holds the gallery open, so its write-ahead log could not be "
                                 "emptied; the data is deleted, but run compact again once it has closed")
            kind = self._index.kind if self._index is not None else None
            self._index = None
            if kind == "ann" or (self.root / INDEX_FILE).exists():
                (self.root / INDEX_FILE).unlink(missing_ok=True)
                if kind == "ann":
                    with self._read() as conn:
                        self._load_index(conn, "ann")
                    self._save_ann(force=True)
            for stray in self.root.glob(".index-*"):
                stray.unlink(missing_ok=True)
