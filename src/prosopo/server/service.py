"""What every endpoint shares: the worker's key store, rate limiter, work
pool and open galleries (one :class:`Service` per app), how a request's key
is checked, and how its body is read."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from pydantic import ValidationError

from .bodies import Body, Image, UrlImage
from .galleries import FolderPlaces, GalleryPlaces, GalleryPool
from .inputs import decode, fetch
from .keys import SCOPES, Key, KeyStore
from .limits import Limiter, RateLimiter
from .live import SessionCount
from .problems import Problem
from .settings import Settings
from .work import WorkLimiter

if TYPE_CHECKING:
    from ..gallery import Gallery
    from .database import Database

B = TypeVar("B", bound=Body)
GALLERY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # fullmatch: "$" would let "name\n" through
LOCAL = Key("local", "local development (auth off)", SCOPES, ("*",), "")


class Service:
    """The state of one app (one worker process)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db: Database | None = None
        self.keys: KeyStore
        self.limiter: Limiter
        places: GalleryPlaces
        if settings.db is not None:  # shared with every server of the database
            from .database import Database
            from .galleries_postgres import PostgresPlaces
            from .keys_postgres import PostgresKeyStore
            from .limits_postgres import PostgresRateLimiter

            self.db = Database(settings.db)
            self.keys = PostgresKeyStore(self.db)
            self.limiter = PostgresRateLimiter(self.db, settings.rate, settings.burst)
            places = PostgresPlaces(self.db)
        else:
            from .keys_sqlite import SQLiteKeyStore

            assert settings.data is not None
            self.keys = SQLiteKeyStore(settings.data / "keys.db")
            self.limiter = RateLimiter(settings.rate, settings.burst)
            places = FolderPlaces(settings.data / "galleries")
        self.work = WorkLimiter(settings.concurrency, settings.timeout)
        self.galleries = GalleryPool(places, settings.gallery_model, settings.gallery_detector)
        self.live = SessionCount(settings.live_sessions)

    def close(self) -> None:
        self.galleries.close()
        self.work.close()
        if self.db is not None:
            self.db.close()

    async def authenticate(self, request: Request, scope: str) -> Key:
        """The request's key, allowed ``scope`` and the path's gallery, within its rate."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
        key = await self.key(token)
        request.state.key_id = key.id  # for the access log
        await self.admit(key, scope, request.path_params.get("gallery"))
        return key

    async def key(self, token: str) -> Key:
        """The active key of ``token`` (any key when auth is off); 401 problems."""
        if not self.settings.auth:
            return LOCAL
        if not token:
            raise Problem(401, "no_key", "send an API key: Authorization: Bearer <key> (live camera: the start "
                                         "message's key)", {"WWW-Authenticate": "Bearer"})
        found = await anyio.to_thread.run_sync(self.keys.check, token)
        if found is None:
            raise Problem(401, "bad_key", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"})
        return found

    async def admit(self, key: Key, scope: str, gallery: str | None) -> None:
        """Refuse ``key`` unless it has ``scope``, is within its rate and may use ``gallery``."""
        if not key.allows(scope):
            raise Problem(403, "scope", f"this key may not {scope}; its scopes: {', '.join(key.scopes)}")
        wait = await self.take(key)
        if wait:
            raise Problem(429, "rate_limited", f"too many requests for this key; retry in {wait:.1f} s",
                          {"Retry-After": str(max(1, round(wait)))})
        if gallery is not None:
            if not GALLERY_NAME.fullmatch(gallery):
                raise Problem(422, "bad_parameter", "gallery names are 1-64 letters, digits, - or _")
            if not key.may_use(gallery):
                raise Problem(403, "gallery", f"this key may not use gallery {gallery!r}")

    async def take(self, key: Key) -> float:
        """A request from ``key``'s rate: 0 if it may go ahead, else the seconds to wait."""
        return await anyio.to_thread.run_sync(self.limiter.take, key.id)

    async def gallery(self, name: str, key: Key, create: bool = False) -> Gallery:
        """Gallery ``name``, acting for ``key`` (see :meth:`GalleryPool.get`), opened off the event loop."""
        return await anyio.to_thread.run_sync(self.galleries.get, name, key, create)

    async def check_database(self) -> None:
        """Raise :class:`~prosopo.gallery.postgres.StoreUnavailable` if the service's database does not answer."""
        if self.db is not None:
            await anyio.to_thread.run_sync(self.db.ping)

    async def parse(self, request: Request, model: type[B]) -> B:
        """The body as ``model``, its images as bytes (decoded or fetched)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        files: dict[str, bytes] = {}
        data: Any
        if kind == "application/json":
            data = _json(await request.body())
            if not isinstance(data, dict):
                raise Problem(422, "invalid_request", "the JSON body must be an object")
        elif kind == "multipart/form-data":
            try:
                form = await request.form(max_files=4, max_fields=50)
            except Exception:  # noqa: BLE001 - python-multipart raises several kinds
                raise Problem(400, "bad_form", "the multipart form could not be parsed") from None
            data = {}
            for name, value in form.multi_items():
                if not isinstance(value, str):
                    files[name] = await value.read()
                elif name == "actions":
                    data.setdefault(name, []).extend(a for a in value.replace(",", " ").split() if a)
                elif value in ("", "null") and name in model.model_fields and model.model_fields[name].default is None:
                    continue  # an empty optional form field means "not given"
                else:
                    data[name] = value
            for name in model.images:
                if name in files:
                    data[name] = "-"  # placeholder, replaced by the file's bytes below
        else:
            raise Problem(415, "media_type", "send application/json or multipart/form-data")
        try:
            body = model.model_validate(data)
        except ValidationError as exc:
            parts = [f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
            raise Problem(422, "invalid_request", "; ".join(parts)) from None
        for name in model.images:
            setattr(body, name, files[name] if name in files else await self.image_bytes(getattr(body, name)))
        return body

    async def image_bytes(self, value: Image) -> bytes:
        if isinstance(value, UrlImage):
            if not self.settings.allow_urls:
                raise Problem(403, "urls_off", "this server does not fetch images from URLs; send the image itself")
            return await self.work.run(fetch, value.url, self.settings.max_body)
        return decode(value)


def _json(raw: bytes) -> Any:
    """The parsed body; 400 for anything that is not JSON, nested too deeply
    to parse included (Python's parser recurses once per level)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise Problem(400, "bad_json", "the JSON body is nested too deeply") from None
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        raise Problem(400, "bad_json", "the body is not valid JSON") from None


def service(request: Request) -> Service:
    """The service of the app serving ``request``."""
    found: Service = request.app.state.service
    return found


def caller(scope: str) -> Any:
    """A dependency: the request's :class:`Key`, checked for ``scope``."""

    async def check(request: Request) -> Key:
        return await service(request).authenticate(request, scope)

    return Depends(check)
