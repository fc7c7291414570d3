"""The web page, its static files, and the health and readiness checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from .. import __version__
from .problems import Problem
from .service import service

STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {  # the page loads nothing from elsewhere and cannot be framed
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The web page: verify, analyze, enroll and search, erase."""
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> FileResponse:
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise Problem(404, "no_such_endpoint", f"no static file {name!r}")
    return FileResponse(path, headers=PAGE_HEADERS)


@router.get("/health", tags=["service"])
async def health(request: Request) -> dict[str, Any]:
    """Is the process up? ``work`` counts this worker's jobs: running now
    (timed-out ones included until they end), the most ever at once, and the limit;
    ``live``, its live camera sessions open now and their limit."""
    s = service(request)
    return {"status": "ok", "version": __version__, "work": s.work.counts(),
            "live": {"sessions": s.live.open, "limit": s.live.limit}}


@router.get("/ready", tags=["service"])
async def ready(request: Request) -> dict[str, Any]:
    """Are the default models loaded (loads them on the first call), and,
    for a service in PostgreSQL, does its database answer (else 503)?"""
    s = service(request)
    await s.check_database()
    await s.work.run(warm_up)
    return {"ready": True}


def warm_up() -> None:
    import numpy as np

    from .. import api

    api.represent(np.zeros((64, 64, 3), np.uint8), enforce_detection=False)
