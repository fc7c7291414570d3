"""The audit log: one row per enroll, search, identify, erase or purge,
hash-chained so that an edited, deleted or reordered entry is detected.

Each entry's hash covers its fields and the previous entry's hash. The log is
a table in the store's database, written in the same transaction as the
change it records, so a crash never leaves a change without its entry. The
newest hash is also written to a small "anchor" file beside the database;
:func:`verify` checks the chain end to end and that the anchored entry is
still there, which catches entries cut from the end of the log. (Someone who
can rewrite both the database and the anchor can rewrite history; export the
anchor to a system they cannot write to if that matters to you.)

Entries never hold embeddings, photos or names: identities appear as keyed
pseudonyms (:func:`prosopo.privacy.consent.pseudonym`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .consent import iso, now

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT,
    count INTEGER NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""
GENESIS = "0" * 64
COLUMNS = "seq, at, action, actor, subject, count, detail, prev, hash"


def _digest(prev: str, seq: int, at: str, action: str, actor: str, subject: str | None, count: int,
            detail: str) -> str:
    body = json.dumps([seq, at, action, actor, subject, count, detail], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


def append(conn: sqlite3.Connection, action: str, actor: str, *, subject: str | None = None, count: int = 0,
           detail: dict[str, Any] | None = None) -> tuple[int, str]:
    """Add an entry inside the caller's (write) transaction; returns its
    sequence number and hash."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    at = iso(now())
    text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
    digest = _digest(prev, seq, at, action, actor, subject, int(count), text)
    conn.execute(f"INSERT INTO audit ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                 (seq, at, action, actor, subject, int(count), text, prev, digest))
    return seq, digest


def write_anchor(path: Path, seq: int, digest: str) -> None:
    """Record the newest entry in the anchor file; an older anchor never
    replaces a newer one. The record has a fixed size and is overwritten in
    place (one small write: cheap enough for every search). Call it under
    a lock shared by the store's writers."""
    current = read_anchor(path)
    if current and current[0] >= seq:
        return
    record = f"{seq:020d} {digest}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, record, 0)
    finally:
        os.close(fd)


def read_anchor(path: Path) -> tuple[int, str] | None:
    try:
        seq, digest = path.read_text().split()
        return int(seq), digest
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    action: str
    actor: str
    subject: str | None
    count: int
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "action": self.action, "actor": self.actor,
                "subject": self.subject, "count": self.count, "detail": self.detail}


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify`: ``ok`` is True when the chain is intact."""

    ok: bool
    entries: int
    problems: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "problems": list(self.problems)}


def entries(conn: sqlite3.Connection, limit: int | None = None) -> list[Entry]:
    """The newest ``limit`` entries (all if None), oldest first."""
    sql = f"SELECT {COLUMNS} FROM audit ORDER BY seq DESC" + (" LIMIT ?" if limit else "")
    rows = conn.execute(sql, (limit,) if limit else ()).fetchall()
    return [Entry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in reversed(rows)]


def verify(conn: sqlite3.Connection, anchor: tuple[int, str] | None) -> AuditReport:
    """Walk the chain from the first entry; report every break."""
    problems: list[str] = []
    prev, expected, count, last = GENESIS, 1, 0, None
    for seq, at, action, actor, subject, n, detail, stored_prev, digest in conn.execute(
            f"SELECT {COLUMNS} FROM audit ORDER BY seq"):
        count += 1
        if seq != expected:
            problems.append(f"entries {expected}..{seq - 1} are missing")
        if stored_prev != prev:
            problems.append(f"entry {seq} does not follow the entry before it (an entry was removed or replaced)")
        if _digest(stored_prev, seq, at, action, actor, subject, n, detail) != digest:
            problems.append(f"entry {seq} was modified after it was written")
        prev, expected, last = digest, seq + 1, (seq, digest)
    if anchor is not None:
        seq, digest = anchor
        row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            problems.append(f"the anchored entry {seq} is gone (entries were cut from the end of the log)")
        elif row[0] != digest:
            problems.append(f"the anchored entry {seq} was replaced")
    elif last is not None:
        problems.append("the anchor file is missing")
    return AuditReport(not problems, count, tuple(problems))
