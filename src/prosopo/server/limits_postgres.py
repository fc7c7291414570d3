"""Rate limits shared by every server of one database (``--db``): one token
bucket per key, a row of ``prosopo_service.rates`` updated atomically.

The row holds the bucket as one number, ``due``: the moment (database clock,
seconds) it will be full again. A request at time ``t`` pushes ``due`` one
step (``1/rate`` seconds) later, from ``t`` if the bucket was already full,
and may go ahead only if ``due`` then lies at most ``burst`` steps after
``t``, which is the token bucket's "at least one token left" (this form of
it is known as GCRA). Taking is one ``INSERT ... ON CONFLICT DO UPDATE``,
which locks the row, so requests to any server and worker take turns on
it: together they get ``rate`` requests a second and ``burst`` at once, as
one server would. The database's clock is the only clock, so the servers'
clocks need not agree.

A refused request learns how long to wait from the row. The statement that
refused it may not see the row at all: when another server's statement
inserted it after this one began (the first requests of a new key, at
once), this statement's snapshot predates the row, though its ``ON
CONFLICT`` waited for that insert and found it. The row is then read again
by a statement of its own, which sees it.
"""

from __future__ import annotations

from typing import Any

from .database import SCHEMA, Database

TABLE = f"CREATE TABLE IF NOT EXISTS {SCHEMA}.rates (key_id TEXT PRIMARY KEY, due DOUBLE PRECISION NOT NULL)"
# taken: the request may go ahead; else wait: the seconds until it could
# (from the row as this statement's snapshot saw it, which it did not change;
# NULL if the snapshot does not hold the row yet)
TAKE = f"""
WITH taken AS (
    INSERT INTO {SCHEMA}.rates AS r (key_id, due) VALUES (%(key)s, extract(epoch FROM now())::float8 + %(step)s)
    ON CONFLICT (key_id) DO UPDATE SET due = greatest(r.due + %(step)s, excluded.due)
    WHERE greatest(r.due + %(step)s, excluded.due) <= excluded.due + %(room)s
    RETURNING due)
SELECT EXISTS (SELECT FROM taken),
       (SELECT due FROM {SCHEMA}.rates WHERE key_id = %(key)s) - extract(epoch FROM now())::float8 - %(room)s
"""
WAIT = f"SELECT due - extract(epoch FROM now())::float8 - %(room)s FROM {SCHEMA}.rates WHERE key_id = %(key)s"


class PostgresRateLimiter:
    """A :class:`~.limits.Limiter` in the service's database, shared by every server."""

    def __init__(self, db: Database, rate: float, burst: int):
        self.db, self.rate, self.burst = db, rate, burst
        db.setup(TABLE)

    def take(self, key: str) -> float:
        if self.rate <= 0:
            return 0.0
        step = 1 / self.rate
        args = {"key": key, "step": step, "room": (self.burst - 1) * step}

        def work(conn: Any) -> tuple[bool, float | None]:
            row = conn.execute(TAKE, args).fetchone()
            assert row is not None
            taken, wait = row
            if not taken and wait is None:  # refused by a row inserted after this statement began: read it now
                again = conn.execute(WAIT, args).fetchone()
                wait = again[0] if again is not None else None
            return bool(taken), wait

        taken, wait = self.db.run(work)
        if taken:
            return 0.0
        # the row is never deleted, so it is there now; were it not, one step is the least a refusal waits
        return max(float(wait if wait is not None else step), 1e-3)
