"""The gallery endpoints: enroll, search, identify, list, stats, audit, erase.
Each acts through a view of the gallery that audits with the request's key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from .bodies import EnrollBody, IdentifyBody, SearchBody, body_doc
from .keys import Key
from .problems import Problem
from .service import caller, service

router = APIRouter(prefix="/v1/galleries/{gallery}", tags=["galleries"])


@router.post("/enroll", openapi_extra=body_doc(EnrollBody))
async def enroll(gallery: str, request: Request, key: Key = caller("enroll")) -> dict[str, Any]:
    """Add the largest face of the image to an identity (the gallery is created if new)."""
    s = service(request)
    b = await s.parse(request, EnrollBody)
    g = await s.gallery(gallery, key, create=True)
    done = await s.work.run(g.enroll, b.identity, b.img, purpose=b.purpose, legal_basis=b.legal_basis,
                            consent_ref=b.consent_ref, expires=b.expires, workers=1)
    return done.to_dict()


@router.post("/search", openapi_extra=body_doc(SearchBody))
async def search(gallery: str, request: Request, key: Key = caller("identify")) -> dict[str, Any]:
    """The k closest identities for each face (audited with this key)."""
    s = service(request)
    b = await s.parse(request, SearchBody)
    g = await s.gallery(gallery, key)
    found = await s.work.run(g.search, b.img, k=b.k, threshold=b.threshold, max_faces=b.max_faces,
                             anti_spoofing=b.anti_spoofing)
    return {"faces": found.to_dict()}


@router.post("/identify", openapi_extra=body_doc(IdentifyBody))
async def identify(gallery: str, request: Request, key: Key = caller("identify")) -> dict[str, Any]:
    """Who is each face? identity is null and known false for strangers (audited with this key)."""
    s = service(request)
    b = await s.parse(request, IdentifyBody)
    g = await s.gallery(gallery, key)
    found = await s.work.run(g.identify, b.img, threshold=b.threshold, max_faces=b.max_faces,
                             anti_spoofing=b.anti_spoofing)
    return {"faces": [r.to_dict() for r in found]}


@router.get("/identities")
async def identities(gallery: str, request: Request, key: Key = caller("read")) -> dict[str, Any]:
    """Enrolled identities with their consent records."""
    s = service(request)
    g = await s.gallery(gallery, key)
    return {"identities": [i.to_dict() for i in await s.work.run(g.identities)]}


@router.get("/stats")
async def stats(gallery: str, request: Request, key: Key = caller("read")) -> dict[str, Any]:
    """Size, model, index and encryption of the gallery."""
    s = service(request)
    g = await s.gallery(gallery, key)
    out = (await s.work.run(g.stats)).to_dict()
    out.pop("location", None)  # a path on the server, which clients have no use for
    return out


@router.get("/audit")
async def audit(gallery: str, request: Request, limit: int = 100, verify: bool = False,
                key: Key = caller("read")) -> dict[str, Any]:
    """The newest audit entries; ``verify=true`` also checks the hash chain."""
    if not 1 <= limit <= 10000:
        raise Problem(422, "bad_parameter", "limit must be between 1 and 10000")
    s = service(request)
    g = await s.gallery(gallery, key)
    out: dict[str, Any] = {"entries": [e.to_dict() for e in await s.work.run(g.audit, limit)]}
    if verify:
        out["verify"] = (await s.work.run(g.verify_audit)).to_dict()
    return out


@router.delete("/identities/{identity:path}")  # a name may hold "/" (sent as %2F)
async def erase(gallery: str, identity: str, request: Request, key: Key = caller("erase")) -> dict[str, Any]:
    """Erase every trace of an identity: rows, vectors, index entries (audited with this key)."""
    s = service(request)
    g = await s.gallery(gallery, key)
    return {"identity": identity, "erased_faces": await s.work.run(g.erase, identity)}
