"""Galleries in PostgreSQL, shared by several servers: :class:`PostgresStore`,
the :class:`~prosopo.gallery.store.Store` protocol over psycopg 3. Open one
with ``Gallery.open("postgresql://user@host/db")`` (``pip install
'prosopo[postgres]'``); the database, or the schema its ``search_path`` names,
holds one gallery.

The tables are the embedded store's: ``meta`` (the settings and the format),
``identities`` with their consent records, ``faces`` with their embeddings
(and crops, if kept), ``files`` and ``tombstones`` for folder sync, the
``changes`` log (filled by triggers on ``faces``), the hash-chained ``audit``
log, and ``audit_anchor``. Embeddings and crops are sealed with the gallery
key when the gallery is encrypted, exactly as in the embedded store, so the
database never holds them in the clear.

Searching: each process keeps its own in-memory index (exact, or approximate
for large galleries: :mod:`.exact`, :mod:`.ann`) and, before every search,
applies the changes logged since it last looked, so a write by one server is
found by the next search of any other.

Writing: every write is one transaction holding a transaction-scoped advisory
lock, so writers take turns as they do on SQLite; a failed write is rolled
back whole and raised as :class:`~prosopo.StoreError`.

Losing the server: a lost connection (the server stopped, restarted, or
ended it) is found out at its next use, which raises :class:`StoreUnavailable`
(a :class:`~prosopo.StoreError`: try again later); the use after it opens a
new connection, and raises the same while the server cannot be reached.

The audit anchor, the newest entry's hash, is a row of its own table written
in the entry's transaction: it catches entries cut from the end of the log by
anything that touches only the ``audit`` table (a careless ``DELETE``, a
restore of that one table), but not someone who can write the whole database,
who can rewrite both (export the anchor elsewhere if that matters to you).

Erasure: :meth:`PostgresStore.compact`, which ``Gallery.erase`` and
``purge`` run, leaves no byte of an erased name, embedding (sealed or not) or
photo path in any file of the server's data directory, its write-ahead log
(WAL) included. It waits for the transactions that may still see the
deleted rows, rewrites the gallery's tables (``VACUUM FULL``), writes the
WAL past every segment it holds and runs ``CHECKPOINT``, which deletes them.
The columns that hold such values have no planner statistics (``SET
STATISTICS 0``), so ``ANALYZE`` copies none of them into ``pg_statistic``.
It needs the owner of the tables, holding ``pg_checkpoint`` and ``EXECUTE``
on ``pg_switch_wal()`` and ``pg_ls_waldir()`` (or a superuser), with
``wal_recycle = off``, statements (and the errors of failed ones) not
logged with their parameters, and no old WAL kept for ``wal_keep_size``, a
replication slot or archiving; where it cannot, it does the rest and raises
:class:`~prosopo.StoreError` saying why. WAL archives, replicas and backups
are out of its reach (docs/galleries.md, "Erasure in PostgreSQL").
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote

import numpy as np

from ..errors import NotFoundError, StoreError
from ..privacy import audit
from ..privacy.audit import AuditReport, Entry
from ..privacy.consent import Consent, iso, now
from .store import (
    BUSY_SECONDS,
    AuditEvent,
    Counts,
    Embedded,
    FileRecord,
    IndexedStore,
    Rows,
    StoredFace,
    StoredIdentity,
    Transaction,
    VectorIndex,
    check_meta,
    first_meta,
    stored_identity,
)

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
except ImportError:
    raise StoreError("a gallery in PostgreSQL needs psycopg 3: pip install 'prosopo[postgres]'") from None

_log = logging.getLogger(__name__)
FORMAT = "prosopo-gallery-postgres/1"
CONNECT_SECONDS = 10  # unless the URL sets connect_timeout
LOCK_CLASS = 0x70726F73  # "pros": the first key of the gallery's advisory lock
# a compaction keeps this many of the newest changes, so that the other
# processes' indexes go on following the log instead of being rebuilt
KEEP_CHANGES = 100_000
GRAPH_RETRY_SECONDS = 600  # after a failed build of a pgvector graph
TABLES = ("meta", "identities", "faces", "files", "tombstones", "changes", "audit", "audit_anchor")

T = TypeVar("T")


class StoreUnavailable(StoreError):
    """The PostgreSQL server cannot be reached, or the connection to it was
    lost mid-work: nothing is wrong with the gallery, try again later (the
    web service answers 503)."""

    code = "store_unavailable"


# the columns that hold names, photo paths and faces get no planner statistics:
# ANALYZE (which autovacuum runs) would copy sampled values of them into
# pg_statistic, where no rewrite of the gallery's tables reaches; their
# queries go by unique keys and indexes and need none
PRIVATE_COLUMNS = ("identities.name", "identities.consent_ref", "identities.metadata", "faces.source",
                   "faces.embedding", "faces.crop", "files.path", "files.message", "files.identity")

# text compared or sorted is collated bytewise ("C"), as SQLite does, so that
# names sort and ISO moments compare the same in both stores
SCHEMA = """
CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    enrolled_by TEXT NOT NULL,
    enrolled_at TEXT COLLATE "C" NOT NULL,
    purpose TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    consent_ref TEXT,
    expires_at TEXT COLLATE "C",
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE faces (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    identity_id BIGINT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT COLLATE "C",
    box TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    embedding BYTEA NOT NULL,
    crop BYTEA,
    added_at TEXT NOT NULL
);
-- kept in the row (compressed if that pays), not in TOAST: read without a second lookup
ALTER TABLE faces ALTER COLUMN embedding SET STORAGE MAIN;
CREATE INDEX faces_identity ON faces(identity_id);
CREATE INDEX faces_source ON faces(source);
CREATE TABLE files (
    path TEXT COLLATE "C" PRIMARY KEY,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    identity TEXT COLLATE "C"
);
CREATE TABLE tombstones (sha256 TEXT COLLATE "C" PRIMARY KEY);
CREATE TABLE changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    face_id BIGINT NOT NULL,
    op SMALLINT NOT NULL
);
-- the functions find "changes" in the gallery's schema, whoever deletes a face
CREATE OR REPLACE FUNCTION prosopo_faces_added() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$ BEGIN INSERT INTO changes (face_id, op) SELECT id, 1 FROM added ORDER BY id; RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION prosopo_faces_removed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$ BEGIN INSERT INTO changes (face_id, op) SELECT id, -1 FROM removed ORDER BY id; RETURN NULL; END $$;
CREATE TRIGGER faces_added AFTER INSERT ON faces REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION prosopo_faces_added();
CREATE TRIGGER faces_removed AFTER DELETE ON faces REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION prosopo_faces_removed();
CREATE TABLE audit_anchor (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
""" + audit.schema("BIGINT") + "".join(
    "ALTER TABLE {} ALTER COLUMN {} SET STATISTICS 0;\n".format(*column.split(".")) for column in PRIVATE_COLUMNS)


def _redact(url: str) -> str:
    """``url`` with its password (in the user part or the query, its key
    percent-encoded or not: libpq decodes both) and ``sslpassword`` hidden."""
    url = re.sub(r"^([A-Za-z]+://[^/@]*?:)[^/@]*@", r"\1***@", url)
    url = re.sub(r"(?<=[?&])([^=&]*)=[^&]*",
                 lambda m: f"{m.group(1)}=***" if unquote(m.group(1)).endswith("password") else m.group(0), url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def url_problem(exc: BaseException) -> str:
    """What libpq found wrong in a connection URL, without what it quotes of
    the URL: the offending token (a password with a stray ``%``), or the
    whole URL, may hold the password. libpq puts that after ``: "``; any
    longer quoted part left (``key=value`` strings) is hidden too, single
    quoted characters (``"]"``, ``"="``) are kept."""
    text = first_line(exc).split(': "', 1)[0]
    return re.sub(r'"[^"]*"', lambda m: m.group(0) if len(m.group(0)) <= 3 else '"..."', text)


def _parse(url: str, where: str) -> dict[str, Any]:
    """The connection parameters of a ``postgresql://`` URL."""
    usage = "write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreError(f"malformed PostgreSQL URL {where!r} ({url_problem(exc)}); {usage}") from None
    if not params.get("dbname"):
        raise StoreError(f"the PostgreSQL URL {where!r} names no database; {usage}")
    if not all(port.isdigit() for port in str(params.get("port", "5432")).split(",")):
        raise StoreError(f"the port in the PostgreSQL URL {where!r} is not a number; {usage}")
    return params


def _one(conn: psycopg.Connection, sql: str, args: Sequence[Any] | None = None) -> tuple[Any, ...]:
    """The row of a query that returns exactly one (an aggregate)."""
    row = conn.execute(sql, args).fetchone()
    assert row is not None
    return row


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an error's message (psycopg's run to several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def open_connection(url: str, *, timeout: int, application: str, setup: str) -> psycopg.Connection:
    """A connection in autocommit with ``setup`` run on it; one whose setup
    fails is closed again, not left open (psycopg's error is raised)."""
    conn = psycopg.connect(url, autocommit=True, connect_timeout=timeout, application_name=application)
    try:
        conn.execute(setup)
    except BaseException:
        conn.close()
        raise
    return conn


def _refused(exc: psycopg.Error, where: str, database: str) -> StoreError:
    """The connection failure ``exc`` as a :class:`StoreError` that says what
    to do (:class:`StoreUnavailable` when the server cannot be reached)."""
    text = str(exc)
    error: type[StoreError] = StoreError
    if "password authentication failed" in text or "no password supplied" in text:
        fix = "check the user and password in the URL (or $PGPASSWORD, ~/.pgpass)"
    elif f'database "{database}" does not exist' in text:
        fix = f"create the database first (CREATE DATABASE {database}, or createdb {database})"
    elif "role" in text and "does not exist" in text:
        fix = "create that user in PostgreSQL, or name another one in the URL"
    elif any(s in text for s in ("Connection refused", "No such file", "timeout expired", "resolve host",
                                 "translate host", "No route", "unreachable", "the database system is")):
        error = StoreUnavailable
        fix = "is PostgreSQL running there and accepting connections? check the host and port in the URL"
    else:
        fix = "check the URL and the server"
    return error(f"cannot connect to the gallery at {where!r} ({first_line(exc)}); {fix}")


# what may still see the rows deleted before transaction %(x)s, so that VACUUM
# keeps them: an older snapshot in this database (or in a process of none: a
# standby's feedback), an older transaction in any database (every later
# snapshot counts it as running), a prepared transaction, a replication slot
OLDER_THAN = (
    "SELECT backend_type || ' ' || pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
    " AND (age(backend_xid) > age(%(x)s::xid)"
    " OR ((datname = current_database() OR datname IS NULL) AND age(backend_xmin) > age(%(x)s::xid)))"
    " UNION ALL SELECT 'prepared transaction ' || gid FROM pg_prepared_xacts WHERE age(transaction) > age(%(x)s::xid)"
    " UNION ALL SELECT 'replication slot ' || slot_name FROM pg_replication_slots WHERE age(xmin) > age(%(x)s::xid)")
CLEARS_WAL = ("SELECT pg_has_role('pg_checkpoint', 'MEMBER') AND has_function_privilege('pg_switch_wal()', 'EXECUTE')"
              " AND has_function_privilege('pg_ls_waldir()', 'EXECUTE'), quote_ident(current_user)")
SETTINGS = ("wal_recycle", "log_statement", "log_min_duration_statement", "log_min_duration_sample",
            "log_transaction_sample_rate", "log_parameter_max_length", "log_parameter_max_length_on_error",
            "log_min_messages", "log_error_verbosity")
# the values of log_min_messages at which the server log records errors
LOGS_ERRORS = ("debug5", "debug4", "debug3", "debug2", "debug1", "info", "notice", "warning", "error")


def _wait_for_older(conn: psycopg.Connection, horizon: str) -> None:
    """Wait, up to ``BUSY_SECONDS``, until nothing may still see the rows
    deleted before transaction ``horizon`` (``VACUUM FULL`` would keep them)."""
    deadline = time.monotonic() + BUSY_SECONDS
    while holders := [row[0] for row in conn.execute(OLDER_THAN, {"x": horizon})]:
        if time.monotonic() > deadline:
            raise StoreError(f"the data is deleted, but {', '.join(holders)} began before the deletion and may "
                             "still see it, so PostgreSQL would keep the old rows; compact again once they have ended")
        time.sleep(0.1)


def _kept_by_settings(conn: psycopg.Connection) -> list[str]:
    """What the server's settings keep of deleted data, each with its fix."""
    kept = []
    s: dict[str, str] = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                          (list(SETTINGS),)).fetchall())
    if s["wal_recycle"] == "on":
        kept.append("wal_recycle is on, so the old segments of the write-ahead log are renamed for reuse with "
                    "their contents (ALTER SYSTEM SET wal_recycle = off; SELECT pg_reload_conf())")
    logged = (s["log_statement"] in ("mod", "all") or int(s["log_min_duration_statement"]) >= 0
              or int(s["log_min_duration_sample"]) >= 0 or float(s["log_transaction_sample_rate"]) > 0)
    if logged and s["log_parameter_max_length"] != "0":
        kept.append("the server log holds statements with their parameters, names among them "
                    "(ALTER SYSTEM SET log_parameter_max_length = 0, or log no statements)")
    # a failing statement's error names its parameters (CONTEXT: ... $1 = '...') in the log;
    # log_min_error_statement adds only the statement's text, which holds placeholders, never values
    if (s["log_parameter_max_length_on_error"] != "0" and s["log_min_messages"] in LOGS_ERRORS
            and s["log_error_verbosity"] != "terse"):
        kept.append("the server log holds the parameters of statements that failed, names among them "
                    "(ALTER SYSTEM SET log_parameter_max_length_on_error = 0)")
    stats = [row[0] for row in conn.execute(
        "SELECT tablename || '.' || attname FROM pg_stats WHERE schemaname = current_schema()"
        " AND tablename || '.' || attname = ANY(%s) ORDER BY 1", (list(PRIVATE_COLUMNS),))]
    if stats:
        kept.append(f"the planner's statistics (pg_statistic) hold values of {', '.join(stats)} (ALTER TABLE ... "
                    "ALTER COLUMN ... SET STATISTICS 0 for each, then, as a superuser, delete their rows of "
                    "pg_statistic and VACUUM FULL pg_statistic)")
    return kept


def _clear_wal(conn: psycopg.Connection) -> list[str]:
    """Have PostgreSQL delete every segment of its write-ahead log written so
    far; returns those it keeps. Each segment up to the newest file in
    pg_wal (the current one and those renamed there for reuse, which hold
    old records) is written to its end, one switch each, so that the
    ``CHECKPOINT`` after them starts in a newer one and may delete them all."""
    last = _one(conn, "SELECT max(name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'")[0]
    while _one(conn, "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")[0] <= last:
        conn.execute("SELECT pg_current_xact_id()")  # a record to switch from: a segment still empty is not left
        conn.execute("SELECT pg_switch_wal()")
    conn.execute("CHECKPOINT")
    return [row[0] for row in conn.execute("SELECT name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}'"
                                           " AND left(name, 24) <= %s ORDER BY name", (last,))]


class _PostgresTransaction:
    """:class:`Transaction` on the store's connection, inside its write transaction."""

    def __init__(self, store: PostgresStore, conn: psycopg.Connection):
        self._store = store
        self._conn = conn
        self.anchor: tuple[int, str] | None = None  # the newest entry logged here

    def identity_id(self, name: str) -> int | None:
        row = self._conn.execute("SELECT id FROM identities WHERE name = %s", (name,)).fetchone()
        return None if row is None else int(row[0])

    def add_identity(self, name: str, consent: Consent, metadata: Mapping[str, Any] | None) -> int:
        c = consent
        row = self._conn.execute(
            "INSERT INTO identities (name, enrolled_by, enrolled_at, purpose, legal_basis, consent_ref,"
            " expires_at, metadata) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
            (name, c.enrolled_by, iso(c.enrolled_at), c.purpose, c.legal_basis, c.consent_ref,
             iso(c.expires_at), json.dumps(dict(metadata or {}), ensure_ascii=False))).fetchone()
        assert row is not None
        return int(row[0])

    def set_consent(self, identity_id: int, consent: Consent) -> None:
        c = consent
        self._conn.execute(
            "UPDATE identities SET purpose=%s, legal_basis=%s, consent_ref=%s, expires_at=%s WHERE id=%s",
            (c.purpose, c.legal_basis, c.consent_ref, iso(c.expires_at), identity_id))

    def merge_metadata(self, identity_id: int, metadata: Mapping[str, Any]) -> None:
        row = self._conn.execute("SELECT metadata FROM identities WHERE id=%s", (identity_id,)).fetchone()
        old = json.loads(row[0]) if row else {}
        self._conn.execute("UPDATE identities SET metadata=%s WHERE id=%s",
                           (json.dumps({**old, **metadata}, ensure_ascii=False), identity_id))

    def add_faces(self, faces: Sequence[tuple[int, Embedded]]) -> int:
        """Face ids are taken from the sequence first: each sealed value is bound to its row."""
        if not faces:
            return 0
        ids = [int(row[0]) for row in self._conn.execute(
            "SELECT nextval(pg_get_serial_sequence('faces', 'id')) FROM generate_series(1, %s)", (len(faces),))]
        added = iso(now())
        store = self._store
        columns = "id, identity_id, source, box, score, embedding, crop, added_at"
        if store.in_database:
            from .pgvector import value

            with self._conn.cursor().copy(f"COPY faces ({columns}, vector) FROM STDIN") as copy:
                for face_id, (identity_id, item) in zip(ids, faces):
                    copy.write_row((*store.face_row(face_id, identity_id, item, added), value(item.vector)))
        else:
            with self._conn.cursor().copy(f"COPY faces ({columns}) FROM STDIN") as copy:
                for face_id, (identity_id, item) in zip(ids, faces):
                    copy.write_row(store.face_row(face_id, identity_id, item, added))
        return len(faces)

    def delete_identity(self, name: str) -> int:
        identity_id = self.identity_id(name)
        # its files, as the SQLite store finds them: by the name recorded with
        # them, by its faces' sources, and skipped photos in a folder of that name
        sources = "(SELECT source FROM faces WHERE identity_id = %(id)s)"
        mine = (f"identity = %(name)s OR path IN {sources} OR (identity IS NULL AND status != 'ok'"
                " AND strpos(path, '/' || %(name)s || '/') > 0)")
        args = {"id": identity_id, "name": name}
        self._conn.execute(f"INSERT INTO tombstones (sha256) SELECT DISTINCT sha256 FROM files WHERE {mine}"
                           " ON CONFLICT DO NOTHING", args)
        files = self._conn.execute(f"DELETE FROM files WHERE {mine}", args).rowcount
        if identity_id is None:  # only skipped photos had that name (no face enrolled): forgotten too
            if not files:
                raise NotFoundError(f"no identity {name!r} in this gallery")
            return 0
        count = self._conn.execute("DELETE FROM faces WHERE identity_id = %s", (identity_id,)).rowcount
        self._conn.execute("DELETE FROM identities WHERE id = %s", (identity_id,))
        return count

    def file(self, path: str) -> FileRecord | None:
        row = self._conn.execute("SELECT size, mtime_ns, sha256, status, message, identity FROM files"
                                 " WHERE path = %s", (path,)).fetchone()
        return None if row is None else FileRecord(*row)

    def put_file(self, path: str, record: FileRecord) -> None:
        r = record
        self._conn.execute(
            "INSERT INTO files (path, size, mtime_ns, sha256, status, message, identity)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (path) DO UPDATE SET size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, status = excluded.status,"
            " message = excluded.message, identity = excluded.identity",
            (path, r.size, r.mtime_ns, r.sha256, r.status, r.message, r.identity))

    def move_file(self, old: str, new: str, record: FileRecord) -> None:
        self._conn.execute("UPDATE faces SET source=%s WHERE source=%s", (new, old))
        self._conn.execute("DELETE FROM files WHERE path=%s", (old,))
        self.put_file(new, record)

    def remove_files(self, paths: Sequence[str]) -> int:
        paths = list(paths)
        owners = [r[0] for r in self._conn.execute(
            "SELECT DISTINCT identity_id FROM faces WHERE source = ANY(%s)", (paths,))]
        removed = self._conn.execute("DELETE FROM faces WHERE source = ANY(%s)", (paths,)).rowcount
        self._conn.execute("DELETE FROM files WHERE path = ANY(%s)", (paths,))
        # an identity left without faces goes too
        self._conn.execute("DELETE FROM identities i WHERE id = ANY(%s) AND NOT EXISTS "
                           "(SELECT 1 FROM faces WHERE identity_id = i.id)", (owners,))
        return removed

    def log(self, event: AuditEvent) -> None:
        self.anchor = audit.append(self._conn, event.action, event.actor, subject=event.subject,
                                   count=event.count, detail=event.detail, mark="%s")


class PostgresStore(IndexedStore):
    """A gallery in a PostgreSQL database (:class:`Store` over psycopg 3).
    Its vector index is built in memory when first needed and then follows
    the change log; nothing of it is saved. :class:`prosopo.Gallery` is the
    public face; use that."""

    def __init__(self, url: str, *, create: bool, settings: Mapping[str, str], key: bytes | None,
                 index: str = "auto"):
        super().__init__(index)
        self._where = _redact(url)
        self._params = _parse(url, self._where)
        self._url = url
        self._in_database = False  # the index is pgvector's, in the database (set by _init)
        self._graph = False  # and its graph is built
        self._graph_retry = 0.0  # time.monotonic() before which a failed build is not tried again
        self.conn = self._connect()
        try:
            self._init(create, settings, key)
        except BaseException:
            self.conn.close()
            raise

    # -- setup ------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        timeout = int(self._params.get("connect_timeout", CONNECT_SECONDS))
        try:
            # waits for a lock (another process's write, a compaction) end as the SQLite store's do
            conn = open_connection(self._url, timeout=timeout, application="prosopo",
                                   setup=f"SET lock_timeout = '{BUSY_SECONDS}s'")
            if self._in_database:
                self._prepare(conn)
            return conn
        except psycopg.Error as exc:
            raise _refused(exc, self._where, str(self._params["dbname"])) from None

    @staticmethod
    def _prepare(conn: psycopg.Connection) -> None:
        from . import pgvector

        try:
            pgvector.prepare(conn)
        except BaseException:
            conn.close()
            raise

    def _init(self, create: bool, settings: Mapping[str, str], key: bytes | None) -> None:
        in_database = self.index_mode == "pgvector"
        if in_database and key is not None:
            raise StoreError("index='pgvector' keeps the embeddings readable in the database, so that it can "
                             "search them: it cannot be combined with an encrypted gallery (a key was given, or "
                             "found in $PROSOPO_GALLERY_KEY/$PROSOPO_GALLERY_KEY_FILE); choose one")
        with self._transaction() as conn:  # under the lock: two processes may create one gallery at once
            try:
                if _one(conn, "SELECT to_regclass('meta')") == (None,):
                    if not create:
                        raise StoreError(f"no gallery in the database at {self._where!r}")
                    conn.execute(SCHEMA)
                    if in_database:
                        from . import pgvector

                        pgvector.create_extension(conn, self._where)
                        conn.execute(pgvector.schema(int(settings["dim"])))
                        settings = {**settings, "index": pgvector.KIND}
                    with conn.cursor() as cursor:
                        cursor.executemany("INSERT INTO meta (key, value) VALUES (%s, %s)",
                                           list(first_meta(settings, key, FORMAT).items()))
                self.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except (psycopg.errors.DuplicateTable, psycopg.errors.UndefinedColumn) as exc:
                raise StoreError(f"the database at {self._where!r} holds tables that are not a prosopo gallery's "
                                 f"({first_line(exc)}); give the gallery a database (or schema) of its own"
                                 ) from None
        self.cipher = check_meta(self.meta, key, FORMAT, self._where)
        if self.meta.get("index") == "pgvector":
            self._in_database = True
            self._prepare(self.conn)
        elif in_database:
            raise StoreError(f"the gallery at {self._where!r} keeps its index in each process; index='pgvector' "
                             "is chosen when a gallery is created (open this one with index='auto')")

    @property
    def location(self) -> str:
        """The URL, without its password."""
        return self._where

    @property
    def in_database(self) -> bool:
        """Whether the gallery is indexed in the database (pgvector)."""
        return self._in_database

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def idle(self) -> bool:
        """Close the connection until the next use, which opens it again (as
        after a server restart), so that a service holding many galleries
        keeps connections only for those in use. Nothing happens while an
        operation runs (returns False then)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.conn.close()
            return True
        finally:
            self._lock.release()

    # -- transactions -----------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        """The connection, opened again if the server dropped it (a restart)."""
        if self.conn.closed:
            self.conn = self._connect()
        return self.conn

    def _begin(self, statement: str) -> psycopg.Connection:
        """The connection, in a transaction begun with ``statement``. An idle
        connection the server dropped meanwhile (a restart, an idle timeout)
        shows only now: nothing was sent yet, so it is opened again once."""
        conn = self._connection()
        try:
            conn.execute(statement)
        except psycopg.OperationalError:
            if not conn.broken:
                raise
            conn.close()
            conn = self._connection()
            conn.execute(statement)
        return conn

    @staticmethod
    def _error(conn: psycopg.Connection) -> type[StoreError]:
        """:class:`StoreUnavailable` if ``conn`` was lost, else :class:`StoreError`."""
        return StoreUnavailable if conn.broken else StoreError

    def _problem(self, conn: psycopg.Connection, exc: psycopg.Error) -> str:
        """What went wrong, said for a person."""
        cause = first_line(exc)
        if conn.broken:
            return f"the connection to PostgreSQL was lost: {cause}"
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return f"another process kept the gallery locked for {BUSY_SECONDS} s; try again"
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return f"{cause}; the database user needs to own the gallery's tables (or be granted rights on them)"
        return cause

    @staticmethod
    def _rollback(conn: psycopg.Connection) -> None:
        if not conn.closed:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass  # the connection broke: the server rolls back on its own

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """One write transaction, all or nothing. Its first step takes the
        gallery's advisory lock (released by the commit or the rollback), so
        writers take turns: the audit chain needs each entry to follow the
        last committed one, and the change log's sequence then commits in
        order, which lets every index follow it by ``seq`` alone. (SERIALIZABLE
        with retries would have to run the caller's work again.)"""
        with self._lock:
            conn = self.conn
            try:
                conn = self._begin("BEGIN")
                conn.execute(f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, hashtext(current_schema()))")
                yield conn
            except psycopg.Error as exc:
                problem = self._problem(conn, exc)
                self._rollback(conn)
                raise self._error(conn)(f"could not save to the gallery at {self._where!r} ({problem}); "
                                        "nothing was changed") from None
            except BaseException:
                self._rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                problem = self._problem(conn, exc)
                self._rollback(conn)
                outcome = "the change may or may not have been saved" if conn.broken else "nothing was changed"
                raise self._error(conn)(f"could not save to the gallery at {self._where!r} ({problem}); "
                                        f"{outcome}") from None

    def write(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            with self._transaction() as conn:
                tx = _PostgresTransaction(self, conn)
                result = work(tx)
                if tx.anchor is not None:  # in the same transaction: committed with the entry, or not at all
                    conn.execute("INSERT INTO audit_anchor (seq, hash) VALUES (%s, %s) ON CONFLICT (one)"
                                 " DO UPDATE SET seq = excluded.seq, hash = excluded.hash", tx.anchor)
            return result

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection]:
        """A consistent snapshot for several reads."""
        with self._lock:
            conn = self.conn
            try:
                conn = self._begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                problem = self._problem(conn, exc)
                self._rollback(conn)
                raise self._error(conn)(f"could not read the gallery at {self._where!r} ({problem})") from None
            except BaseException:
                self._rollback(conn)
                raise

    def _set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s)"
                         " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # -- reading ----------------------------------------------------------

    def identities(self, name: str | None = None) -> list[StoredIdentity]:
        where, args = ("WHERE i.name = %s", (name,)) if name is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(
                "SELECT i.name, count(f.id), i.enrolled_by, i.enrolled_at, i.purpose, i.legal_basis, i.consent_ref,"
                " i.expires_at, i.metadata FROM identities i LEFT JOIN faces f ON f.identity_id = i.id"
                f" {where} GROUP BY i.id ORDER BY i.name", args).fetchall()
        return [stored_identity(r) for r in rows]

    def has_identity(self, name: str) -> bool:
        with self._read() as conn:
            return conn.execute("SELECT 1 FROM identities WHERE name = %s", (name,)).fetchone() is not None

    def count_identities(self) -> int:
        with self._read() as conn:
            return int(_one(conn, "SELECT count(*) FROM identities")[0])

    def counts(self, moment: str) -> Counts:
        with self._read() as conn:
            identities, expired = _one(
                conn, "SELECT count(*), count(*) FILTER (WHERE expires_at <= %s) FROM identities", (moment,))
            faces, files, entries = _one(conn, "SELECT (SELECT count(*) FROM faces), (SELECT count(*) FROM files),"
                                               " (SELECT count(*) FROM audit)")
        return Counts(identities, expired, faces, files, entries)

    def disk_bytes(self) -> int:
        """The size of the gallery's tables, with their indexes and TOAST."""
        with self._read() as conn:
            return int(_one(
                conn, "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " WHERE c.relnamespace = quote_ident(current_schema())::regnamespace AND c.relname = ANY(%s)",
                (list(TABLES),))[0])

    def files_under(self, prefix: str) -> dict[str, FileRecord]:
        with self._read() as conn:
            return {row[0]: FileRecord(*row[1:]) for row in conn.execute(
                "SELECT path, size, mtime_ns, sha256, status, message, identity FROM files"
                " WHERE starts_with(path, %s)", (prefix,))}

    def tombstones(self) -> set[str]:
        with self._read() as conn:
            return {row[0] for row in conn.execute("SELECT sha256 FROM tombstones")}

    def audit_entries(self, limit: int | None = None) -> list[Entry]:
        with self._read() as conn:
            return audit.entries(conn, limit, mark="%s")

    def verify_audit(self) -> AuditReport:
        with self._read() as conn:
            anchor = conn.execute("SELECT seq, hash FROM audit_anchor").fetchone()
            return audit.verify(conn, None if anchor is None else (anchor[0], anchor[1]), mark="%s")

    # -- the index and the change log -------------------------------------

    def _stored(self, conn: psycopg.Connection, face_ids: Sequence[int]) -> list[StoredFace]:
        rows = conn.execute(
            "SELECT f.id, i.name, f.source, f.box, i.expires_at, f.embedding FROM faces f"
            " JOIN identities i ON i.id = f.identity_id WHERE f.id = ANY(%s)", (sorted({int(i) for i in face_ids}),)
        ).fetchall()
        return self.stored_faces(rows)

    def _last_seq(self, conn: psycopg.Connection) -> int:
        """The newest change this snapshot sees. (Not the sequence's value,
        which also counts changes not yet committed.)"""
        newest = _one(conn, "SELECT coalesce(max(seq), 0) FROM changes")[0]
        return max(int(newest), self._floor(conn))

    def _changes(self, conn: psycopg.Connection, after: int) -> list[tuple[int, int, int]]:
        return conn.execute("SELECT seq, face_id, op FROM changes WHERE seq > %s ORDER BY seq", (after,)).fetchall()

    def _embeddings(self, conn: psycopg.Connection, face_ids: Sequence[int]) -> Rows:
        return conn.execute("SELECT id, embedding FROM faces WHERE id = ANY(%s)", (list(face_ids),)).fetchall()

    def _followed(self, index: VectorIndex) -> None:
        """A gallery indexed in the database gets its graph once it is large
        enough (searched through that index, not opened with another). If
        the build fails (a user who may not change the table, a read-only
        server, another process building it past the lock's wait), this
        process says so in its log and searches on without the graph,
        trying again ``GRAPH_RETRY_SECONDS`` later."""
        if not self._in_database or self._graph or time.monotonic() < self._graph_retry:
            return  # (pgvector, which a plain gallery need not have installed, is imported only past here)
        from . import pgvector

        if index.kind != pgvector.KIND or len(index) < pgvector.GRAPH_FROM:
            return
        try:
            with self._transaction() as conn:  # one process builds it; the others find it there
                if not pgvector.has_graph(conn):
                    pgvector.build(conn, len(index))
        except StoreError as exc:
            _log.warning("the pgvector graph of the gallery at %s was not built (%s); searching without it, "
                         "trying again in %d s", self._where, exc, GRAPH_RETRY_SECONDS)
            self._graph_retry = time.monotonic() + GRAPH_RETRY_SECONDS
            return
        self._graph = True

    def _load_index(self, conn: psycopg.Connection, kind: str) -> VectorIndex:
        """An index in the database is not loaded: the process reads only the ids of its faces."""
        if kind != "pgvector":
            return super()._load_index(conn, kind)
        if not self._in_database:
            raise StoreError(f"the gallery at {self._where!r} keeps its index in each process; index='pgvector' "
                             "is chosen when a gallery is created (open this one with index='auto')")
        from .pgvector import DatabaseIndex

        index = DatabaseIndex(self)
        applied = self._last_seq(conn)
        with conn.cursor(name="prosopo_ids") as cursor:
            cursor.execute("SELECT id FROM faces")
            while rows := cursor.fetchmany(200_000):
                index.add(np.fromiter((r[0] for r in rows), np.int64, len(rows)), np.zeros((0, 0), np.float32))
        self._index, self._applied = index, applied
        return index

    def _all_embeddings(self, conn: psycopg.Connection) -> Iterator[Rows]:
        """Through a server-side cursor: a large gallery is not held whole in memory twice."""
        with conn.cursor(name="prosopo_faces") as cursor:
            cursor.execute("SELECT id, embedding FROM faces ORDER BY id")
            while rows := cursor.fetchmany(50_000):
                yield rows

    # -- compaction -------------------------------------------------------

    def compact(self) -> None:
        """Delete for good what was deleted: leave no byte of it in any file
        of the server's data directory. Once nothing may still see the
        deleted rows (waited for up to ``BUSY_SECONDS``), every table of the
        gallery is rewritten (``VACUUM FULL``: tables, TOAST and indexes
        without dead rows), then the write-ahead log is written past every
        segment it holds and a ``CHECKPOINT`` deletes them. Where the user's
        rights or the server's settings keep old bytes (see the module's
        notes), it does the rest and raises :class:`StoreError` saying what
        remains and how to fix it. The change log is cut to its newest
        ``KEEP_CHANGES`` entries; the index of this process is rebuilt at its
        next search."""
        with self._lock:
            with self._transaction() as conn:
                floor = self._last_seq(conn) - KEEP_CHANGES
                if floor > self._floor(conn):
                    conn.execute("DELETE FROM changes WHERE seq <= %s", (floor,))
                    conn.execute("INSERT INTO meta (key, value) VALUES ('changes_floor', %s)"
                                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(floor),))
                # what was deleted before is older than this transaction
                horizon = _one(conn, "SELECT pg_current_xact_id()::xid::text")[0]
            conn = self._connection()
            try:
                # VACUUM skips, with a mere warning, a table its user may not maintain
                if conn.execute("SELECT 1 FROM pg_class WHERE relname = ANY(%s) AND NOT pg_has_role(relowner, 'MEMBER')"
                                " AND relnamespace = quote_ident(current_schema())::regnamespace",
                                (list(TABLES),)).fetchone():
                    raise StoreError("the data is deleted, but only the owner of the gallery's tables may rewrite "
                                     "them (VACUUM FULL), so old copies remain in the table files; compact the "
                                     "gallery as that user")
                _wait_for_older(conn, horizon)
                if self._in_database:  # the rewrite builds pgvector's graph again: give it the memory
                    from .pgvector import build_memory

                    faces = int(_one(conn, "SELECT count(*) FROM faces")[0])
                    conn.execute(f"SET maintenance_work_mem = '{build_memory(faces)}MB'")
                try:
                    for table in TABLES:
                        conn.execute(f"VACUUM FULL {table}")
                finally:  # the connection stays open for this store
                    if not conn.broken:
                        conn.execute("RESET maintenance_work_mem")
                kept = _kept_by_settings(conn)
                allowed, user = _one(conn, CLEARS_WAL)
                if not allowed:
                    kept.append(f"the user {user} may not clear the write-ahead log (GRANT pg_checkpoint TO {user}; "
                                f"GRANT EXECUTE ON FUNCTION pg_switch_wal(), pg_ls_waldir() TO {user}; or compact "
                                "as a superuser)")
                elif segments := _clear_wal(conn):
                    keep, archive, slots = _one(conn, "SELECT current_setting('wal_keep_size'), current_setting("
                                                "'archive_mode'), (SELECT string_agg(slot_name, ', ') FROM "
                                                "pg_replication_slots WHERE restart_lsn IS NOT NULL)")
                    kept.append(f"PostgreSQL keeps the write-ahead log's segments {segments[0]} to {segments[-1]} "
                                f"(wal_keep_size = {keep}, archive_mode = {archive}, replication slots: "
                                f"{slots or 'none'}); compact again once they are released")
            except psycopg.Error as exc:
                raise StoreError(f"the gallery could not be compacted ({self._problem(conn, exc)}); the data is "
                                 "deleted, but old copies may remain in PostgreSQL's files until the next "
                                 "compaction") from None
            self._index = None
            if kept:
                raise StoreError("the data is deleted and the gallery's tables rewritten, but old copies remain in "
                                 "PostgreSQL's files: " + "; ".join(kept))
