"""The service's PostgreSQL database (``prosopo serve --db URL``), which
every server pointed at it shares.

It holds the API keys (:mod:`.keys_postgres`) and the rate-limit buckets
(:mod:`.limits_postgres`), tables of the schema ``prosopo_service``, and the
galleries, each in a schema of its own (:mod:`.galleries_postgres`). A
process talks to it through one :class:`Database`: one connection, one short
statement at a time (a key lookup, a bucket update), opened again when the
server dropped it. A server that cannot be reached raises
:class:`~prosopo.gallery.postgres.StoreUnavailable` (the service answers 503);
a statement it refuses (a table dropped, a right revoked) raises
:class:`DatabaseRefused`, whose message names the database, its host and
user: it is for the operator, so the service logs it and answers a bare 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ParameterError, StoreError
from ..gallery.store import URL_SCHEMES

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
except ImportError:
    raise StoreError("a service in PostgreSQL (--db) needs psycopg 3: pip install 'prosopo[postgres]'") from None

from ..gallery.postgres import StoreUnavailable, first_line, open_connection, url_problem

SCHEMA = "prosopo_service"  # the service's own tables; galleries are in schemas named gallery_*
CONNECT_SECONDS = 5         # unless the URL sets connect_timeout
STATEMENT_SECONDS = 10      # a statement waiting longer (on a lock, a stuck server) fails
SETUP_LOCK = 0x70726F74     # the advisory lock that makes creating tables and schemas take turns
T = TypeVar("T")


class DatabaseRefused(StoreError):
    """The service's database refused a statement: not the client's doing,
    and the message names the database (for the operator: the command
    line shows it, the service logs it and answers a bare 500)."""

    log_only = True


def describe(url: str) -> str:
    """The database of ``url`` for messages and logs: its name, user and
    host, never its password."""
    usage = "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    if not url.startswith(URL_SCHEMES):
        raise ParameterError(f"the service's database must be a URL that names a database: {usage}")
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ParameterError(f"malformed PostgreSQL URL ({url_problem(exc)}); write it as {usage}") from None
    if not params.get("dbname"):
        raise ParameterError(f"the service's database must be a URL that names a database: {usage}")
    host = params.get("host") or "localhost"
    where = f"{host}:{params['port']}" if params.get("port") else host
    return f"database {params['dbname']!r} on {where}" + (f" as {params['user']!r}" if params.get("user") else "")


class Database:
    """One connection to the service's database, shared by the threads of a
    process, one statement at a time. Safe to share between threads."""

    def __init__(self, url: str):
        self.url = url
        self.where = describe(url)
        self._timeout = int(conninfo_to_dict(url).get("connect_timeout") or CONNECT_SECONDS)
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            self.setup(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection:
        try:
            return open_connection(self.url, timeout=self._timeout, application="prosopo-server",
                                   setup=f"SET statement_timeout = '{STATEMENT_SECONDS}s'")
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to the service's {self.where} ({first_line(exc)}); is "
                                   "PostgreSQL running there, and are the host, port, user, password and "
                                   "database in the URL right?") from None

    def run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """``work`` done on the connection, one caller at a time. If the server
        dropped the connection since its last use (a restart), ``work`` is
        done once more on a new one."""
        with self._lock:
            try:
                return self._attempt(work)
            except psycopg.OperationalError as exc:
                if not self._conn.broken:
                    raise StoreUnavailable(f"the service's {self.where} failed: {first_line(exc)}") from None
            self._conn.close()
            try:
                return self._attempt(work)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"lost the connection to the service's {self.where}: "
                                       f"{first_line(exc)}") from None

    def _attempt(self, work: Callable[[psycopg.Connection], T]) -> T:
        """``work`` on the connection (opened again if closed); errors other
        than the connection's as :class:`DatabaseRefused`."""
        if self._conn.closed:
            self._conn = self._connect()
        try:
            return work(self._conn)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise DatabaseRefused(f"the service's {self.where} refused: {first_line(exc)}") from None

    def setup(self, statement: sql.Composed | str) -> None:
        """Run ``statement`` (``CREATE ... IF NOT EXISTS``) while holding the
        setup lock: two servers starting at once would otherwise collide."""

        def work(conn: psycopg.Connection) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK,))
                conn.execute(statement)

        self.run(work)

    def one(self, statement: sql.Composed | str, args: Any = None) -> tuple[Any, ...] | None:
        """The first row of ``statement`` (None if it returns none)."""
        return self.run(lambda conn: conn.execute(statement, args).fetchone())

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the server answers."""
        self.one("SELECT 1")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
