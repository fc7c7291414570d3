"""One access-log line per request on the ``prosopo.server.access`` logger:
method, route, status, duration and the key id (for a WebSocket: ``WS``, the
route, its close code, the session's duration and key id). Never a body, an image, a
query string or a path parameter: a route with parameters is logged as its
template (``/v1/galleries/{gallery}/identities/{identity}``), so the names
of people stay out of the log."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("prosopo.server.access")
Scope = dict[str, Any]


class AccessLog:
    """An ASGI middleware; put it outermost, so refusals are logged too."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        start = time.perf_counter()
        status = 500  # unless the app answers; for a WebSocket, the close code

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "websocket.close":
                status = message.get("code", 1000)
            await send(message)

        async def heard() -> dict[str, Any]:
            nonlocal status
            message: dict[str, Any] = await receive()
            if message["type"] == "websocket.disconnect":
                status = message.get("code", 1000)
            return message

        try:
            await self.app(scope, heard if scope["type"] == "websocket" else receive, tracked)
        finally:
            if log.isEnabledFor(logging.INFO):
                # the template without converters: /identities/{identity}, not {identity:path}
                route = getattr(scope.get("route"), "path_format", None)
                path = route or _printable(scope.get("path", ""))
                log.info("%s %s %d %.1fms key=%s", scope.get("method", "WS"), path, status,
                         (time.perf_counter() - start) * 1000, state.get("key_id") or "-")


def _printable(path: str, limit: int = 120) -> str:
    """An unmatched path as sent, shortened, with no control characters."""
    clean = "".join(c if c.isprintable() else "?" for c in path[:limit])
    return clean + ("..." if len(path) > limit else "")


def configure(level: int = logging.INFO) -> None:
    """Send the service's logs (access lines, unexpected errors) to stderr,
    unless logging is already configured for them."""
    logger = logging.getLogger("prosopo.server")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
