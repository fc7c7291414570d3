"""API keys in SQLite: ``keys.db`` in the service's data folder (mode 600),
shared safely by the command line and a running server (see :mod:`.keys`)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..errors import NotFoundError
from ..privacy.consent import iso, now
from .keys import Key, matches, new_key, token_parts


class SQLiteKeyStore:
    """A :class:`~.keys.KeyStore` in a SQLite file; each call opens its own connection."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, digest TEXT NOT NULL,"
                       " scopes TEXT NOT NULL, galleries TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)")
        self.path.chmod(0o600)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def create(self, name: str, scopes: list[str] | None = None, galleries: list[str] | None = None
               ) -> tuple[Key, str]:
        key, token, digest = new_key(name, scopes, galleries)
        with self._connect() as db:
            db.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                       (key.id, key.name, digest, json.dumps(key.scopes), json.dumps(key.galleries), key.created_at))
        return key, token

    def list(self) -> list[Key]:
        with self._connect() as db:
            rows = db.execute("SELECT id, name, scopes, galleries, created_at, revoked_at FROM keys"
                              " ORDER BY created_at").fetchall()
        return [Key(r[0], r[1], tuple(json.loads(r[2])), tuple(json.loads(r[3])), r[4], r[5]) for r in rows]

    def revoke(self, key_id: str) -> Key:
        with self._connect() as db:
            changed = db.execute("UPDATE keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
                                 (iso(now()), key_id, key_id)).rowcount
        if not changed:
            raise NotFoundError(f"no active key with id or name {key_id!r}")
        return next(k for k in self.list() if k.id == key_id or k.name == key_id)

    def check(self, token: str) -> Key | None:
        parts = token_parts(token)
        if parts is None:
            return None
        with self._connect() as db:
            row = db.execute("SELECT id, name, digest, scopes, galleries, created_at, revoked_at FROM keys"
                             " WHERE id = ?", (parts[0],)).fetchone()
        if row is None or row[6] is not None or not matches(row[2], parts[1]):
            return None
        return Key(row[0], row[1], tuple(json.loads(row[3])), tuple(json.loads(row[4])), row[5])
