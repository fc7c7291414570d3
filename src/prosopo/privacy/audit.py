"""The audit log: one row per enroll, search, identify, erase or purge,
hash-chained so that an edited, deleted or reordered entry is detected.

Each entry's hash covers its fields and the previous entry's hash. The log is
a table in the store's database, written in the same transaction as the
change it records, so a crash never leaves a change without its entry. The
newest hash is also kept apart from the log, as its "anchor" (a small file
beside an SQLite database, a table of its own in PostgreSQL);
:func:`verify` checks the chain end to end and that the anchored entry is
still there, which catches entries cut from the end of the log. (Someone who
can rewrite both the database and the anchor can rewrite history; export the
anchor to a system they cannot write to if that matters to you.)

The functions work on any database connection with an sqlite3-style
``execute`` (sqlite3, psycopg); ``mark`` is its parameter placeholder
(``"?"`` for sqlite3, ``"%s"`` for psycopg).

Entries never hold embeddings, photos or names: identities appear as keyed
pseudonyms (:func:`prosopo.privacy.consent.pseudonym`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .consent import now


class Connection(Protocol):
    """What the audit log needs of a database connection."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def schema(integer: str = "INTEGER") -> str:
    """The audit table; ``integer`` is the database's 64-bit integer type
    (SQLite's ``INTEGER``, PostgreSQL's ``BIGINT``)."""
    return f"""
CREATE TABLE IF NOT EXISTS audit (
    seq {integer} PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT,
    count {integer} NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""


SCHEMA = schema()  # SQLite's
GENESIS = "0" * 64
COLUMNS = "seq, at, action, actor, subject, count, detail, prev, hash"


def _digest(prev: str, seq: int, at: str, action: str, actor: str, subject: str | None, count: int,
            detail: str) -> str:
    body = json.dumps([seq, at, action, actor, subject, count, detail], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


def append(conn: Connection, action: str, actor: str, *, subject: str | None = None, count: int = 0,
           detail: dict[str, Any] | None = None, mark: str = "?") -> tuple[int, str]:
    """Add an entry inside the caller's (write) transaction; returns its
    sequence number and hash."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    # a tampered last row (another type) does not stop the log: verify() reports it
    seq, prev = (row[0] + 1, _text(row[1])) if row else (1, GENESIS)
    at = now().isoformat(timespec="seconds")
    text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
    digest = _digest(prev, seq, at, action, actor, subject, int(count), text)
    conn.execute(f"INSERT INTO audit ({COLUMNS}) VALUES ({','.join([mark] * 9)})",
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


def _detail(text: Any) -> dict[str, Any]:
    """An entry's detail as written, or a marker if it is not a JSON object
    (the row was tampered with: :func:`verify` says so)."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"unreadable": "not a JSON object; the entry was tampered with"}


def entries(conn: Connection, limit: int | None = None, *, mark: str = "?") -> list[Entry]:
    """The newest ``limit`` entries (all if None), oldest first. A row whose
    fields were given other types (tampering) is shown as it is, never raises."""
    sql = f"SELECT {COLUMNS} FROM audit ORDER BY seq DESC" + (f" LIMIT {mark}" if limit else "")
    rows = conn.execute(sql, (limit,) if limit else ()).fetchall()
    return [Entry(r[0], _text(r[1]), _text(r[2]), _text(r[3]), None if r[4] is None else _text(r[4]),
                  r[5] if isinstance(r[5], int) else -1, _detail(r[6])) for r in reversed(rows)]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


# the type each column is read as when written by append(); anything else (SQLite lets a column
# hold any type) is tampering
_TYPES: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("seq", (int,)), ("at", (str,)), ("action", (str,)), ("actor", (str,)), ("subject", (str, type(None))),
    ("count", (int,)), ("detail", (str,)), ("prev", (str,)), ("hash", (str,)))


def verify(conn: Connection, anchor: tuple[int, str] | None, *, mark: str = "?") -> AuditReport:
    """Walk the chain from the first entry; report every break. Rows whose
    values have the wrong type or whose detail is not JSON are reported as
    tampered with; this never raises on the log's contents."""
    problems: list[str] = []
    prev, expected, count, last = GENESIS, 1, 0, None
    for position, row in enumerate(conn.execute(f"SELECT {COLUMNS} FROM audit ORDER BY seq"), 1):
        count += 1
        seq, at, action, actor, subject, n, detail, stored_prev, digest = row
        wrong = [name for (name, types), value in zip(_TYPES, row) if not isinstance(value, types)
                 or isinstance(value, bool)]
        label = seq if isinstance(seq, int) else f"at position {position}"
        if wrong:
            problems.append(f"entry {label} was modified after it was written ({', '.join(wrong)} "
                            "of the wrong type)")
        elif not isinstance(_json_object(detail), dict):
            problems.append(f"entry {label} was modified after it was written (its detail is not JSON)")
        if isinstance(seq, int):
            if seq != expected:
                problems.append(f"entries {expected}..{seq - 1} are missing")
            expected = seq + 1
        if stored_prev != prev:
            problems.append(f"entry {label} does not follow the entry before it (an entry was removed or replaced)")
        if not wrong and _digest(stored_prev, seq, at, action, actor, subject, n, detail) != digest:
            problems.append(f"entry {label} was modified after it was written")
        prev = digest if isinstance(digest, str) else repr(digest)
        last = (seq, digest)
    if anchor is not None:
        seq, digest = anchor
        found = conn.execute(f"SELECT hash FROM audit WHERE seq = {mark}", (seq,)).fetchone()
        if found is None:
            problems.append(f"the anchored entry {seq} is gone (entries were cut from the end of the log)")
        elif found[0] != digest:
            problems.append(f"the anchored entry {seq} was replaced")
    elif last is not None:
        problems.append("the audit anchor is missing")
    return AuditReport(not problems, count, tuple(problems))


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
