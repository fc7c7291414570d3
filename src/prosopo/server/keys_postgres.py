"""API keys in the service's PostgreSQL database (``--db``): the table
``prosopo_service.keys``, shared by every server pointed at the database and
by ``prosopo keys --db`` (see :mod:`.keys`). Servers look a key up on every
request, so a key revoked anywhere fails on every server from its next
request."""

from __future__ import annotations

from typing import Any

from ..errors import NotFoundError
from ..privacy.consent import iso, now
from .database import SCHEMA, Database
from .keys import Key, matches, new_key, token_parts

TABLE = f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    scopes TEXT[] NOT NULL,
    galleries TEXT[] NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)"""
COLUMNS = "id, name, scopes, galleries, created_at, revoked_at"


def _key(row: tuple[Any, ...]) -> Key:
    return Key(row[0], row[1], tuple(row[2]), tuple(row[3]), row[4], row[5])


class PostgresKeyStore:
    """A :class:`~.keys.KeyStore` in the service's database."""

    def __init__(self, db: Database):
        self.db = db
        db.setup(TABLE)

    def create(self, name: str, scopes: list[str] | None = None, galleries: list[str] | None = None
               ) -> tuple[Key, str]:
        key, token, digest = new_key(name, scopes, galleries)
        self.db.run(lambda conn: conn.execute(
            f"INSERT INTO {SCHEMA}.keys (id, name, digest, scopes, galleries, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (key.id, key.name, digest, list(key.scopes), list(key.galleries), key.created_at)))
        return key, token

    def list(self) -> list[Key]:
        rows = self.db.run(lambda conn: conn.execute(
            f"SELECT {COLUMNS} FROM {SCHEMA}.keys ORDER BY created_at, id").fetchall())
        return [_key(r) for r in rows]

    def revoke(self, key_id: str) -> Key:
        rows = self.db.run(lambda conn: conn.execute(
            f"UPDATE {SCHEMA}.keys SET revoked_at = %s WHERE (id = %s OR name = %s) AND revoked_at IS NULL"
            f" RETURNING {COLUMNS}", (iso(now()), key_id, key_id)).fetchall())
        if not rows:
            raise NotFoundError(f"no active key with id or name {key_id!r}")
        return _key(min(rows, key=lambda r: (r[4], r[0])))

    def check(self, token: str) -> Key | None:
        parts = token_parts(token)
        if parts is None:
            return None
        row = self.db.one(f"SELECT {COLUMNS}, digest FROM {SCHEMA}.keys WHERE id = %s", (parts[0],))
        if row is None or row[5] is not None or not matches(row[6], parts[1]):
            return None
        return _key(row)
