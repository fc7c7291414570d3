"""The web service: prosopo's library over HTTP, secure by default.

Every endpoint takes JSON (images as base64 strings, data URIs or, when the
server allows it, ``{"url": ...}``) or a multipart form (images as file
parts, other fields as form values; ``"false"`` means False). Every error is
a problem document (see :mod:`.problems`). Models are loaded once per worker
process and shared; the work runs in threads, off the event loop, a bounded
number at a time, each under a time limit (see :mod:`.work`).

The endpoints live in routers: :mod:`.routes_service` (page, health),
:mod:`.routes_faces`, :mod:`.routes_galleries` and :mod:`.routes_live` (the
live camera, a WebSocket); :mod:`.service` holds what they share.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .. import __version__
from . import problems, routes_faces, routes_galleries, routes_live, routes_service
from .access import AccessLog, configure
from .bodies import UrlImage
from .galleries import GalleryPool
from .limits import BodyLimit
from .service import Service
from .settings import Settings

__all__ = ["SETTINGS_ENV", "GalleryPool", "Settings", "create_app", "from_environment"]

SETTINGS_ENV = "PROSOPO_SERVER_SETTINGS"
ERRORS = (
    (400, "bad input"), (401, "missing or unknown API key"), (403, "key not allowed"),
    (404, "no such gallery, identity or endpoint"), (409, "gallery store unusable"), (413, "too large"),
    (415, "unsupported media type"), (422, "invalid request or no face"), (429, "rate limited"),
    (500, "internal error"), (503, "busy or unavailable"), (504, "timed out"))


def create_app(settings: Settings) -> FastAPI:
    """The app for one worker process."""
    service = Service(settings)
    from ..models import user_dir

    # the folders a message may name, which may hold spaces: data, user-placed models, derived-model cache
    problems.hide_paths(*[p for p in (settings.data, user_dir("models"), user_dir("cache")) if p is not None])
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    errors: dict[int | str, dict[str, Any]] = {str(s): {"description": d, **problem} for s, d in ERRORS}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="prosopo", version=__version__, responses=errors, lifespan=lifespan,
                  description="Offline face recognition and analysis. Send `Authorization: Bearer <key>`.")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body)
    app.add_middleware(AccessLog)  # added last, so outermost: it sees every answer
    problems.install(app)
    app.state.settings = settings
    app.state.service = service
    for router in (routes_service.router, routes_faces.router, routes_galleries.router, routes_live.router):
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = problems.SCHEMA
            components["UrlImage"] = UrlImage.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def from_environment() -> FastAPI:
    """The app for each uvicorn worker, from the settings ``prosopo serve``
    put in the environment; its logs (one line per request) go to stderr."""
    import json

    raw = json.loads(os.environ[SETTINGS_ENV])
    raw["data"] = Path(raw["data"]) if raw.get("data") else None
    configure()
    return create_app(Settings(**raw))
