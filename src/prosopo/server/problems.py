"""Errors as RFC 9457 problem documents (``application/problem+json``):
a stable ``code``, the HTTP ``status``, a human ``title`` and ``detail``.
Never a traceback: anything unexpected becomes a generic 500 and is logged
on the server only; so is why a database could not be reached (a 503) or
what the service's database refused (a 500)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ProsopoError

log = logging.getLogger("prosopo.server")
MEDIA_TYPE = "application/problem+json"
STATUS = {"bad_image": 400, "no_face": 422, "spoof": 422, "bad_parameter": 422, "bad_data": 422, "not_found": 404,
          "bad_store": 409, "model_error": 503, "store_unavailable": 503}
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Request too large", 415: "Unsupported media type", 422: "Unprocessable request",
          429: "Too many requests", 500: "Internal error", 503: "Unavailable", 504: "Timed out"}
SCHEMA = {  # for the OpenAPI document
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "code": {"type": "string"}, "detail": {"type": "string"}},
}


class Problem(Exception):
    """An error the service answers with a problem document."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


_TAIL = r"[^\s'\"`,;()<>\[\]{}]*"
_ANY_PATH = r"(?<![\w.:/~-])~?/[^\s'\"`,;()<>\[\]{}/]" + _TAIL  # /a/b or ~/a, not a URL's //host/...
_API = ("/v1/", "/problems/", "/static/", "/docs", "/openapi.json", "/health", "/ready")
_DATABASE_URL = re.compile(r"postgres(?:ql)?://" + _TAIL)
_roots: list[str] = []
_paths = re.compile(_ANY_PATH)


def hide_paths(*roots: str | os.PathLike[str]) -> None:
    """Besides any absolute path, hide these folders (which may hold spaces)
    and everything under them in problem details."""
    global _paths
    for root in roots:
        for form in {str(root), str(Path(root).expanduser().resolve())}:
            if len(form) > 1 and form not in _roots:
                _roots.append(form)
    _roots.sort(key=len, reverse=True)
    _paths = re.compile("|".join([re.escape(r) + _TAIL for r in _roots] + [_ANY_PATH]))


def redact(text: str) -> str:
    """``text`` without filesystem paths or database URLs: a client has no
    business knowing the server's layout (its data folder, home, installed
    packages or database)."""

    def hide(match: re.Match[str]) -> str:
        found = match.group(0)
        if found.startswith(_API):
            return found
        end = found.rstrip(".")
        return "<a path on the server>" + found[len(end):]

    return _paths.sub(hide, _DATABASE_URL.sub("<the database>", text))


def document(status: int, code: str, detail: str) -> dict[str, Any]:
    """The problem document's fields; its detail never names a path on the server."""
    return {"type": f"/problems/{code}", "title": TITLES.get(status, "Error"), "status": status, "code": code,
            "detail": redact(detail)}


def response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem document as an HTTP answer."""
    return JSONResponse(document(status, code, detail), status_code=status, headers=headers, media_type=MEDIA_TYPE)


def from_prosopo(exc: ProsopoError) -> Problem:
    if exc.code == "store_unavailable":  # the cause names the database: for the server's log only
        log.warning("database unavailable: %s", exc)
        return Problem(503, exc.code, "the database is unavailable; try again shortly", {"Retry-After": "1"})
    if getattr(exc, "log_only", False):  # the service's database refused: its name, host and user are the operator's
        log.error("database error: %s", exc)
        return Problem(500, "database_error", "the server's database could not do what was needed; the cause has "
                                              "been logged")
    return Problem(STATUS.get(exc.code, 400), exc.code, exc.message_for("http"))


def install(app: FastAPI) -> None:
    """Turn every error the app can meet into a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(ProsopoError)
    async def _prosopo(request: Request, exc: ProsopoError) -> JSONResponse:
        p = from_prosopo(exc)
        return response(p.status, p.code, p.detail, p.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
        return response(422, "invalid_request", "; ".join(parts) or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "no_such_endpoint", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
        return response(exc.status_code, code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return response(500, "internal_error", "the server met an unexpected error; it has been logged")
