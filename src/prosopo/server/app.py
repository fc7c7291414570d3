"""The web service: prosopo's library over HTTP, secure by default.

Every endpoint takes JSON (images as base64 strings, data URIs or, when the
server allows it, ``{"url": ...}``) or a multipart form (images as file
parts, other fields as form values; ``"false"`` means False). Every error is
a problem document (see :mod:`.problems`). Models are loaded once per worker
process and shared; the work runs in threads, off the event loop, a bounded
number at a time, each under a time limit.
"""

from __future__ import annotations

import asyncio
import re
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import __version__
from .. import api as prosopo_api
from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from .inputs import decode, fetch
from .keys import Key, KeyStore
from .limits import BodyLimit, RateLimiter
from .problems import SCHEMA as PROBLEM_SCHEMA
from .problems import Problem, install

STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {  # the page loads nothing from elsewhere and cannot be framed
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
GALLERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
LOCAL = Key("local", "local development (auth off)", ("detect", "represent", "verify", "analyze", "enroll",
                                                       "identify", "read", "erase"), ("*",), "")


@dataclass
class Settings:
    data: Path                      # keys.db and galleries/ live here
    auth: bool = True               # False only for local development
    allow_urls: bool = False        # fetch images from http(s) URLs
    max_body: int = 25 * 2**20      # bytes per request
    rate: float = 50.0              # requests per second per key (sustained)
    burst: int = 100                # requests per key at once
    timeout: float = 30.0           # seconds of work per request
    concurrency: int = 4            # requests computing at once per worker


# -- request bodies ------------------------------------------------------------

class UrlImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL of the image; only when the server runs with --allow-urls")


Image = str | UrlImage
IMAGE_DOC = "base64 string or data URI (JSON), or a file part (multipart); {\"url\": ...} if the server allows it"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: ClassVar[tuple[str, ...]] = ()  # the fields that hold images


class DetectBody(Body):
    images = ("img",)
    img: Image = Field(description=IMAGE_DOC)
    detector: str = DEFAULT_DETECTOR
    min_face_size: float = Field(0, ge=0)
    max_faces: int | None = Field(None, ge=1)
    auto_rotate: bool = Field(False, description="also find faces in a photo turned by 90, 180 or 270 degrees")


Spoofing = bool | Literal["report", "reject"]
SPOOF_DOC = "true or report: mark each face is_real/spoof_score; reject: 422 'spoof' on a spoof"


class SpoofBody(DetectBody):
    threshold: float | None = Field(None, ge=0, le=1, description="live probability below which a face is a spoof")


class RepresentBody(DetectBody):
    model: str = DEFAULT_MODEL
    enforce_detection: bool = True
    anti_spoofing: Spoofing = Field(False, description=SPOOF_DOC)


class AnalyzeBody(DetectBody):
    actions: list[Literal["age", "gender", "emotion", "race"]] = ["age", "gender", "emotion"]
    enforce_detection: bool = True
    anti_spoofing: Spoofing = Field(False, description=SPOOF_DOC)


class VerifyBody(Body):
    images = ("img1", "img2")
    img1: Image = Field(description=IMAGE_DOC)
    img2: Image = Field(description=IMAGE_DOC)
    model: str = DEFAULT_MODEL
    detector: str = DEFAULT_DETECTOR
    metric: Literal["cosine", "euclidean", "euclidean_l2", "angular"] = "cosine"
    threshold: float | str | None = Field(None, description="a distance, or an operating point like fmr=1e-3")
    enforce_detection: bool = True
    anti_spoofing: Spoofing = Field(False, description=SPOOF_DOC)
    auto_rotate: bool = Field(False, description="also find faces in a photo turned by 90, 180 or 270 degrees")


class EnrollBody(Body):
    images = ("img",)
    identity: str = Field(min_length=1, max_length=200)
    img: Image = Field(description=IMAGE_DOC)
    purpose: str | None = Field(None, max_length=500)
    legal_basis: str | None = Field(None, max_length=500)
    consent_ref: str | None = Field(None, max_length=500)
    expires: str | None = Field(None, description="ISO date or datetime, or a duration like 365d")


class SearchBody(Body):
    images = ("img",)
    img: Image = Field(description=IMAGE_DOC)
    k: int = Field(5, ge=1, le=100)
    threshold: float | str | None = None
    max_faces: int | None = Field(None, ge=1)
    anti_spoofing: Spoofing = Field(False, description=SPOOF_DOC)


class IdentifyBody(Body):
    images = ("img",)
    img: Image = Field(description=IMAGE_DOC)
    threshold: float | str | None = None
    max_faces: int | None = Field(None, ge=1)
    anti_spoofing: Spoofing = Field(False, description=SPOOF_DOC)


def _schema(model: type[BaseModel], multipart: bool) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    props = schema.get("properties", {})
    if multipart:
        for name in model.images:
            props[name] = {"type": "string", "format": "binary", "description": "the image file"}
    return schema


def body_doc(model: type[BaseModel]) -> dict:
    """OpenAPI requestBody: the same fields as JSON or as a multipart form."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": _schema(model, False)},
        "multipart/form-data": {"schema": _schema(model, True)},
    }}}


# -- the app -------------------------------------------------------------------

def create_app(settings: Settings) -> FastAPI:
    keys = KeyStore(settings.data / "keys.db")
    limiter = RateLimiter(settings.rate, settings.burst)
    slots = asyncio.Semaphore(settings.concurrency)
    galleries = GalleryPool(settings.data / "galleries")
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    errors = {str(s): {"description": d, **problem} for s, d in (
        (400, "bad input"), (401, "missing or unknown API key"), (403, "key not allowed"),
        (404, "no such gallery, identity or endpoint"), (409, "gallery store unusable"), (413, "too large"),
        (415, "unsupported media type"), (422, "invalid request or no face"), (429, "rate limited"),
        (500, "internal error"), (503, "busy or unavailable"), (504, "timed out"))}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        galleries.close()

    app = FastAPI(title="prosopo", version=__version__, responses=errors, lifespan=lifespan,
                  description="Offline face recognition and analysis. Send `Authorization: Bearer <key>`.")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body)
    install(app)
    app.state.settings = settings

    def caller(scope: str):
        async def check(request: Request) -> Key:
            if not settings.auth:
                key = LOCAL
            else:
                header = request.headers.get("authorization", "")
                token = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
                if not token:
                    raise Problem(401, "no_key", "send an API key: Authorization: Bearer <key>",
                                  {"WWW-Authenticate": "Bearer"})
                key = await anyio.to_thread.run_sync(keys.check, token)
                if key is None:
                    raise Problem(401, "bad_key", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"})
            if not key.allows(scope):
                raise Problem(403, "scope", f"this key may not {scope}; its scopes: {', '.join(key.scopes)}")
            wait = limiter.take(key.id)
            if wait:
                raise Problem(429, "rate_limited", f"too many requests for this key; retry in {wait:.1f} s",
                              {"Retry-After": str(max(1, round(wait)))})
            gallery = request.path_params.get("gallery")
            if gallery is not None:
                if not GALLERY_NAME.match(gallery):
                    raise Problem(422, "bad_parameter", "gallery names are 1-64 letters, digits, - or _")
                if not key.may_use(gallery):
                    raise Problem(403, "gallery", f"this key may not use gallery {gallery!r}")
            return key
        return Depends(check)

    async def work(fn, *args, **kwargs):
        """Run ``fn`` in a thread, a bounded number at a time, under the time limit."""
        async with slots:
            try:
                return await asyncio.wait_for(anyio.to_thread.run_sync(lambda: fn(*args, **kwargs)),
                                              settings.timeout)
            except TimeoutError:
                raise Problem(504, "timeout", f"the request took more than {settings.timeout:g} s") from None

    async def parse(request: Request, model: type[Body]) -> Body:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        files: dict[str, bytes] = {}
        if kind == "application/json":
            try:
                data = await request.json()
            except ValueError:
                raise Problem(400, "bad_json", "the body is not valid JSON") from None
            if not isinstance(data, dict):
                raise Problem(422, "invalid_request", "the JSON body must be an object")
        elif kind == "multipart/form-data":
            try:
                form = await request.form(max_files=4, max_fields=50)
            except Exception:  # noqa: BLE001 - python-multipart raises several kinds
                raise Problem(400, "bad_form", "the multipart form could not be parsed") from None
            data = {}
            for name, value in form.multi_items():
                if hasattr(value, "read"):
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
            setattr(body, name, files[name] if name in files else await image_bytes(getattr(body, name)))
        return body

    async def image_bytes(value: Image) -> bytes:
        if isinstance(value, UrlImage):
            if not settings.allow_urls:
                raise Problem(403, "urls_off", "this server does not fetch images from URLs; send the image itself")
            return await work(fetch, value.url, settings.max_body)
        return decode(value)

    # -- service -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The web page: verify, analyze, enroll and search, erase."""
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise Problem(404, "no_such_endpoint", f"no static file {name!r}")
        return FileResponse(path, headers=PAGE_HEADERS)

    @app.get("/health", tags=["service"])
    async def health() -> dict:
        """Is the process up?"""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["service"])
    async def ready() -> dict:
        """Are the default models loaded? (Loads them on the first call.)"""
        await work(warm_up)
        return {"ready": True}

    # -- faces -------------------------------------------------------------------

    @app.post("/v1/detect", tags=["faces"], openapi_extra=body_doc(DetectBody))
    async def detect(request: Request, key: Key = caller("detect")) -> dict:
        """Faces in the image: boxes, scores, landmarks."""
        b = await parse(request, DetectBody)
        faces = await work(prosopo_api.detect, b.img, detector=b.detector, min_face_size=b.min_face_size,
                           max_faces=b.max_faces, auto_rotate=b.auto_rotate)
        return {"faces": [f.to_dict() for f in faces]}

    @app.post("/v1/represent", tags=["faces"], openapi_extra=body_doc(RepresentBody))
    async def represent(request: Request, key: Key = caller("represent")) -> dict:
        """One embedding per face."""
        b = await parse(request, RepresentBody)
        reps = await work(prosopo_api.represent, b.img, model=b.model, detector=b.detector,
                          min_face_size=b.min_face_size, max_faces=b.max_faces, enforce_detection=b.enforce_detection,
                          anti_spoofing=b.anti_spoofing, auto_rotate=b.auto_rotate)
        return {"faces": [r.to_dict() for r in reps]}

    @app.post("/v1/verify", tags=["faces"], openapi_extra=body_doc(VerifyBody))
    async def verify(request: Request, key: Key = caller("verify")) -> dict:
        """Do the two photos show the same person?"""
        b = await parse(request, VerifyBody)
        result = await work(prosopo_api.verify, b.img1, b.img2, model=b.model, detector=b.detector, metric=b.metric,
                            threshold=b.threshold, enforce_detection=b.enforce_detection,
                            anti_spoofing=b.anti_spoofing, auto_rotate=b.auto_rotate)
        return result.to_dict()

    @app.post("/v1/analyze", tags=["faces"], openapi_extra=body_doc(AnalyzeBody))
    async def analyze(request: Request, key: Key = caller("analyze")) -> dict:
        """Age, gender and emotion of each face; race only when listed in actions."""
        b = await parse(request, AnalyzeBody)
        results = await work(quiet_analyze, b.img, actions=b.actions or ["age", "gender", "emotion"],
                             detector=b.detector, min_face_size=b.min_face_size, max_faces=b.max_faces,
                             enforce_detection=b.enforce_detection, anti_spoofing=b.anti_spoofing,
                             auto_rotate=b.auto_rotate)
        return {"faces": [r.to_dict() for r in results]}

    @app.post("/v1/spoof", tags=["faces"], openapi_extra=body_doc(SpoofBody))
    async def spoof(request: Request, key: Key = caller("detect")) -> dict:
        """Is each face live, or a photo of one? (needs the MiniFASNet files on the server)"""
        b = await parse(request, SpoofBody)
        faces = await work(spoof_check, b.img, detector=b.detector, min_face_size=b.min_face_size,
                           max_faces=b.max_faces, threshold=b.threshold, auto_rotate=b.auto_rotate)
        return {"faces": [f.to_dict() for f in faces]}

    # -- galleries ---------------------------------------------------------------

    @app.post("/v1/galleries/{gallery}/enroll", tags=["galleries"], openapi_extra=body_doc(EnrollBody))
    async def enroll(gallery: str, request: Request, key: Key = caller("enroll")) -> dict:
        """Add the largest face of the image to an identity (the gallery is created if new)."""
        b = await parse(request, EnrollBody)
        g = galleries.get(gallery, key, create=True)
        done = await work(g.enroll, b.identity, b.img, purpose=b.purpose, legal_basis=b.legal_basis,
                          consent_ref=b.consent_ref, expires=b.expires, workers=1)
        return done.to_dict()

    @app.post("/v1/galleries/{gallery}/search", tags=["galleries"], openapi_extra=body_doc(SearchBody))
    async def search(gallery: str, request: Request, key: Key = caller("identify")) -> dict:
        """The k closest identities for each face (audited with this key)."""
        b = await parse(request, SearchBody)
        g = galleries.get(gallery, key)
        found = await work(g.search, b.img, k=b.k, threshold=b.threshold, max_faces=b.max_faces,
                           anti_spoofing=b.anti_spoofing)
        return {"faces": found.to_dict()}

    @app.post("/v1/galleries/{gallery}/identify", tags=["galleries"], openapi_extra=body_doc(IdentifyBody))
    async def identify(gallery: str, request: Request, key: Key = caller("identify")) -> dict:
        """Who is each face? known is false for strangers (audited with this key)."""
        b = await parse(request, IdentifyBody)
        g = galleries.get(gallery, key)
        found = await work(g.identify, b.img, threshold=b.threshold, max_faces=b.max_faces,
                           anti_spoofing=b.anti_spoofing)
        return {"faces": [r.to_dict() for r in found]}

    @app.get("/v1/galleries/{gallery}/identities", tags=["galleries"])
    async def identities(gallery: str, key: Key = caller("read")) -> dict:
        """Enrolled identities with their consent records."""
        g = galleries.get(gallery, key)
        return {"identities": [i.to_dict() for i in await work(g.identities)]}

    @app.get("/v1/galleries/{gallery}/stats", tags=["galleries"])
    async def stats(gallery: str, key: Key = caller("read")) -> dict:
        """Size, model, index and encryption of the gallery."""
        g = galleries.get(gallery, key)
        return (await work(g.stats)).to_dict()

    @app.get("/v1/galleries/{gallery}/audit", tags=["galleries"])
    async def audit(gallery: str, limit: int = 100, verify: bool = False, key: Key = caller("read")) -> dict:
        """The newest audit entries; ``verify=true`` also checks the hash chain."""
        if not 1 <= limit <= 10000:
            raise Problem(422, "bad_parameter", "limit must be between 1 and 10000")
        g = galleries.get(gallery, key)
        out: dict[str, Any] = {"entries": [e.to_dict() for e in await work(g.audit, limit)]}
        if verify:
            out["verify"] = (await work(g.verify_audit)).to_dict()
        return out

    @app.delete("/v1/galleries/{gallery}/identities/{identity}", tags=["galleries"])
    async def erase(gallery: str, identity: str, key: Key = caller("erase")) -> dict:
        """Erase every trace of an identity: rows, vectors, index entries (audited with this key)."""
        g = galleries.get(gallery, key)
        return {"identity": identity, "erased_faces": await work(g.erase, identity)}

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = PROBLEM_SCHEMA
            components["UrlImage"] = UrlImage.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def warm_up() -> None:
    import numpy as np

    prosopo_api.represent(np.zeros((64, 64, 3), np.uint8), enforce_detection=False)


def spoof_check(img, *, detector: str, min_face_size: float, max_faces: int | None, threshold: float | None,
                auto_rotate: bool = False):
    from ..pipeline import locate

    return locate(img, detector, align=False, min_face_size=min_face_size, max_faces=max_faces, empty_ok=True,
                  auto_rotate=auto_rotate, anti_spoofing=True, spoof_threshold=threshold).faces


def quiet_analyze(img, **options):
    """analyze without the race warning: the web API documents it instead."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return prosopo_api.analyze(img, **options)


class GalleryPool:
    """Open galleries, one per name, shared by the requests of a worker; each
    request acts through a view that records its key in the audit log."""

    def __init__(self, root: Path):
        self.root = root
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str, key: Key, create: bool = False):
        from ..gallery import Gallery

        with self._lock:
            if name not in self._open:
                location = self.root / name
                if not create and not (location / "gallery.db").is_file():
                    raise Problem(404, "not_found", f"no gallery named {name!r}")
                self._open[name] = Gallery.open(location, create=create, actor="server")
            return self._open[name].acting_as(f"key:{key.id} ({key.name})")

    def close(self) -> None:
        with self._lock:
            for g in self._open.values():
                g.close()
            self._open.clear()


SETTINGS_ENV = "PROSOPO_SERVER_SETTINGS"


def from_environment() -> FastAPI:
    """The app for each uvicorn worker, from the settings ``prosopo serve``
    put in the environment."""
    import json
    import os

    raw = json.loads(os.environ[SETTINGS_ENV])
    raw["data"] = Path(raw["data"])
    return create_app(Settings(**raw))
