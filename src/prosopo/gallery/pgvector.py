"""The index in the database: a PostgreSQL gallery created with
``Gallery.open("postgresql://...", index="pgvector")`` keeps each face's
embedding a second time, as a ``halfvec`` (16-bit floats) with an HNSW
graph index over it (pgvector), and searches in the database instead of in
each process's memory. Any client of the database can then search the
gallery, and a process keeps only the faces' ids in memory (no index to
build when it starts); but the database holds the embeddings in the clear,
so such a gallery cannot be encrypted. The trade-off against the default,
an in-memory index in each process following the change log, is measured
in docs/galleries.md ("The two strategies at a million faces"): on
face embeddings the graph loses its way as the gallery grows (at a
million faces it found a third of the enrolled people), so this suits
small galleries that other programs must search in SQL.

The graph is searched with a beam of ``EF_SEARCH`` (pgvector's default is
40); the candidates it returns are re-scored with the float32 embeddings,
as those of the in-memory indexes are. Needs the ``vector`` extension
(pgvector 0.7 or newer, for ``halfvec``) on the server, created by a
superuser (``CREATE EXTENSION vector``) unless the gallery's user may.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..errors import StoreError

try:
    import psycopg
    from pgvector import HalfVector
    from pgvector.psycopg import register_vector
except ImportError:
    raise StoreError("a gallery indexed in PostgreSQL needs psycopg 3 and pgvector: "
                     "pip install 'prosopo[postgres]'") from None

KIND = "pgvector"
# HNSW's build parameters (pgvector's defaults) and the search beam, wider
# than pgvector's default 40 (benchmarks/gallery_speed.py --index pgvector: docs/galleries.md)
M = 16
EF_CONSTRUCTION = 64
EF_SEARCH = 400
MAX_EF_SEARCH = 1000  # pgvector refuses a wider beam
# Below this many faces the database compares every face (a few ms); the
# graph is built by the first search that finds the gallery this large, in
# one go, which is far quicker than growing it face by face from the start
# (an initial load of a large archive would otherwise crawl)
GRAPH_FROM = 10_000
BUILD_MEMORY_MB = 2048

NO_EXTENSION = ("the PostgreSQL server has no pgvector extension ('vector', 0.7 or newer), which index='pgvector' "
                "needs: install pgvector on the server (https://github.com/pgvector/pgvector), or leave index to "
                "'auto' (each process keeps its own index; nothing is needed on the server)")


def schema(dim: int) -> str:
    """What a new gallery adds to the store's tables: the ``halfvec`` column,
    with no planner statistics, like the other private columns. The graph
    comes later (:func:`build`)."""
    # NOT NULL: a writer that does not know the column (an older prosopo)
    # fails instead of adding faces the graph cannot find
    return (f"ALTER TABLE faces ADD COLUMN vector halfvec({dim}) NOT NULL;\n"
            "ALTER TABLE faces ALTER COLUMN vector SET STATISTICS 0;\n")


def has_graph(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('faces_vector')").fetchone() != (None,)


def build_memory(faces: int) -> int:
    """The memory (MB) to build the graph of ``faces`` faces in: about 2 kB a
    512-D face, at most ``BUILD_MEMORY_MB``; in less, pgvector builds far
    more slowly."""
    return min(BUILD_MEMORY_MB, max(64, faces // 512))


def build(conn: psycopg.Connection, faces: int) -> None:
    """Build the graph over every face at once, in the caller's transaction:
    about six times quicker than adding the faces to it one by one (a
    million 512-D faces in 18 minutes on 2 cores, against some 165 a
    second one by one). Face embeddings are unit vectors: inner product
    is cosine similarity."""
    conn.execute(f"SET LOCAL maintenance_work_mem = '{build_memory(faces)}MB'")
    conn.execute("CREATE INDEX IF NOT EXISTS faces_vector ON faces USING hnsw (vector halfvec_ip_ops) "
                 f"WITH (m = {M}, ef_construction = {EF_CONSTRUCTION})")


def create_extension(conn: psycopg.Connection, where: str) -> None:
    """Make sure the ``vector`` extension is there (created if this user may)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    available = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if available is None:
        raise StoreError(f"cannot create a gallery at {where!r}: {NO_EXTENSION}")
    conn.execute("SAVEPOINT vector")
    try:
        conn.execute("CREATE EXTENSION vector")
    except psycopg.errors.InsufficientPrivilege:
        conn.execute("ROLLBACK TO SAVEPOINT vector")
        raise StoreError(f"cannot create a gallery at {where!r}: the pgvector extension is installed on the server "
                         "but not enabled in this database, and this user may not enable it; ask a superuser to "
                         "run 'CREATE EXTENSION vector' in it") from None


def prepare(conn: psycopg.Connection) -> None:
    """Teach a connection the ``halfvec`` type and set the search beam."""
    try:
        register_vector(conn)
    except psycopg.ProgrammingError as exc:  # the extension's types are not on this connection's search_path
        raise StoreError(f"this gallery is indexed with pgvector, but the extension's types are not visible to "
                         f"this connection ({exc}): put the schema holding the 'vector' extension on the "
                         "user's search_path") from None
    conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")


def value(vector: np.ndarray) -> HalfVector:
    return HalfVector(np.asarray(vector, np.float32))


class DatabaseIndex:
    """What the process keeps of an index that lives in the database: the
    ids of the faces it holds, following the change log as the in-memory
    indexes do (8 bytes a face), so that the gallery's size is known without
    counting it; :meth:`search` asks the database, on the store's connection
    (inside the snapshot the store's search holds)."""

    kind = KIND

    def __init__(self, store: Any):
        self._store = store
        self._ids = np.zeros(0, np.int64)
        self._added: list[np.ndarray] = []  # merged once, not chunk by chunk (a bulk load comes in chunks)
        self._lock = threading.Lock()  # the gallery counts faces outside the store's lock

    def _merged(self) -> np.ndarray:
        """The ids, the added ones merged in; the caller holds the lock."""
        if self._added:
            self._ids = np.union1d(self._ids, np.concatenate(self._added))
            self._added = []
        return self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._merged())

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock:
            self._added.append(np.asarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> None:
        with self._lock:
            self._ids = np.setdiff1d(self._merged(), np.asarray(ids, np.int64), assume_unique=True)

    def memory_bytes(self) -> int:
        with self._lock:
            return int(self._merged().nbytes)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` faces nearest ``query`` by the graph, best first, with
        their similarities (by the 16-bit copies). The graph returns at most
        its beam's width of faces: a larger ``k`` widens the beam for this
        transaction (to pgvector's limit, ``MAX_EF_SEARCH``)."""
        conn = self._store.conn
        if k > EF_SEARCH:
            conn.execute(f"SET LOCAL hnsw.ef_search = {min(int(k), MAX_EF_SEARCH)}")
        rows = conn.execute("SELECT id, vector <#> %s FROM faces ORDER BY 2 LIMIT %s", (value(query), k)).fetchall()
        return (np.fromiter((r[0] for r in rows), np.int64, len(rows)),
                np.fromiter((-r[1] for r in rows), np.float32, len(rows)))
