"""API keys: created and revoked by ``prosopo keys``, stored hashed.

A key reads ``pk_<id>_<secret>``; a store keeps only the SHA-256 of the
secret (the secret is 256 random bits, so a plain hash is enough), its name,
its scopes and the galleries it may touch. Two stores, one protocol
(:class:`KeyStore`): :class:`~.keys_sqlite.SQLiteKeyStore`, a file in the
data folder, and :class:`~.keys_postgres.PostgresKeyStore`, the service's
PostgreSQL database shared by every server pointed at it. Either way the
command line and running servers share it, and a server looks a key up on
every request, so a revocation holds from the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from ..errors import ParameterError
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


class KeyStore(Protocol):
    """Where a service's API keys are kept."""

    def create(self, name: str, scopes: list[str] | None = None, galleries: list[str] | None = None
               ) -> tuple[Key, str]:
        """A new key and its token (shown once: only its hash is kept)."""

    def list(self) -> list[Key]:
        """Every key, revoked ones included, oldest first."""

    def revoke(self, key_id: str) -> Key:
        """Revoke the active keys with this id or name (:class:`~prosopo.errors.NotFoundError` if none)."""

    def check(self, token: str) -> Key | None:
        """The active key this token belongs to, or None."""


def new_key(name: str, scopes: list[str] | None, galleries: list[str] | None) -> tuple[Key, str, str]:
    """A new key (checked), its token and the digest to store."""
    if not name or not name.strip():
        raise ParameterError("a key needs a name (who or what uses it)")
    scopes = list(dict.fromkeys(scopes or SCOPES))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ParameterError(f"unknown scope(s) {unknown}; choose from {list(SCOPES)}")
    galleries = list(dict.fromkeys(galleries or ["*"]))
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = Key(key_id, name.strip(), tuple(scopes), tuple(galleries), iso(now()))
    return key, f"pk_{key_id}_{secret}", digest(secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_parts(token: str) -> tuple[str, str] | None:
    """A token's key id and secret, or None if it is not shaped as a token."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "pk":
        return None
    return parts[1], parts[2]


def matches(stored: str, secret: str) -> bool:
    """Is ``stored`` the digest of ``secret``? (In constant time.)"""
    return hmac.compare_digest(stored, digest(secret))
