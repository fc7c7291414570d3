"""Request size limit (an ASGI middleware) and per-key rate limiting: a
:class:`Limiter` in the process's memory (:class:`RateLimiter`), or, for
servers sharing a database, in it (:class:`~.limits_postgres.PostgresRateLimiter`)."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from .problems import response


class TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with 413, from Content-Length when
    given, else by counting as the body streams in."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(scope, receive, send)
        seen = 0
        started = False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge
            return message

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        reply = response(413, "too_large", f"the request body is larger than {self.max_bytes} bytes")
        await reply(scope, receive, send)


class Limiter(Protocol):
    """A token bucket per key: ``rate`` requests per second sustained, ``burst`` at once."""

    def take(self, key: str) -> float:
        """0 if the request may go ahead (it takes a token), else the seconds to wait."""


class RateLimiter:
    """A :class:`Limiter` in memory: per worker process."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
