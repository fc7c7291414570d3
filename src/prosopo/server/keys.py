"""API keys: created and revoked by ``prosopo keys``, stored hashed.

A key reads ``pk_<id>_<secret>``; the store keeps only the SHA-256 of the
secret (the secret is 256 random bits, so a plain hash is enough), its name,
its scopes and the galleries it may touch. SQLite, so the command line and a
running server share it safely.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError, ParameterError
from ..privacy.consent import iso, now

SCOPES = ("detect", "represent", "verify", "analyze", "enroll", "identify", "read", "erase")
SCOPE_HELP = {
    "detect": "find faces", "represent": "embeddings", "verify": "1:1 comparison", "analyze": "age, gender, emotion",
    "enroll": "add to a gallery", "identify": "search a gallery (1:N)", "read": "list, stats and audit of a gallery",
    "erase": "remove or erase identities",
}


@dataclass(frozen=True)
class Key:
    id: str
    name: str
    scopes: tuple[str, ...]
    galleries: tuple[str, ...]  # ("*",) for all
    created_at: str
    revoked_at: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def may_use(self, gallery: str) -> bool:
        return "*" in self.galleries or gallery in self.galleries

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes), "galleries": list(self.galleries),
                "created_at": self.created_at, "revoked_at": self.revoked_at}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
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

    def create(self, name: str, scopes: list[str] | None = None, galleries: list[str] | None = None) -> tuple[Key, str]:
        """A new key and its token (shown once: only its hash is kept)."""
        if not name or not name.strip():
            raise ParameterError("a key needs a name (who or what uses it)")
        scopes = list(dict.fromkeys(scopes or SCOPES))
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise ParameterError(f"unknown scope(s) {unknown}; choose from {list(SCOPES)}")
        galleries = list(dict.fromkeys(galleries or ["*"]))
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        key = Key(key_id, name.strip(), tuple(scopes), tuple(galleries), iso(now()))
        with self._connect() as db:
            db.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                       (key.id, key.name, _digest(secret), json.dumps(scopes), json.dumps(galleries), key.created_at))
        return key, f"pk_{key_id}_{secret}"

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
        """The active key this token belongs to, or None."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "pk":
            return None
        with self._connect() as db:
            row = db.execute("SELECT id, name, digest, scopes, galleries, created_at, revoked_at FROM keys"
                             " WHERE id = ?", (parts[1],)).fetchone()
        if row is None or row[6] is not None or not hmac.compare_digest(row[2], _digest(parts[2])):
            return None
        return Key(row[0], row[1], tuple(json.loads(row[3])), tuple(json.loads(row[4])), row[5])
