"""The endpoints that look at faces without a gallery: detect, represent,
verify, analyze, spoof."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from .. import api
from ..defaults import DEFAULT_ACTIONS
from .bodies import AnalyzeBody, DetectBody, RepresentBody, SpoofBody, VerifyBody, body_doc
from .keys import Key
from .service import caller, service

router = APIRouter(prefix="/v1", tags=["faces"])


@router.post("/detect", openapi_extra=body_doc(DetectBody))
async def detect(request: Request, key: Key = caller("detect")) -> dict[str, Any]:
    """Faces in the image: boxes, scores, landmarks."""
    s = service(request)
    b = await s.parse(request, DetectBody)
    faces = await s.work.run(api.detect, b.img, detector=b.detector, min_face_size=b.min_face_size,
                             max_faces=b.max_faces, auto_rotate=b.auto_rotate)
    return {"faces": [f.to_dict() for f in faces]}


@router.post("/represent", openapi_extra=body_doc(RepresentBody))
async def represent(request: Request, key: Key = caller("represent")) -> dict[str, Any]:
    """One embedding per face."""
    s = service(request)
    b = await s.parse(request, RepresentBody)
    reps = await s.work.run(api.represent, b.img, model=b.model, detector=b.detector, min_face_size=b.min_face_size,
                            max_faces=b.max_faces, enforce_detection=b.enforce_detection,
                            anti_spoofing=b.anti_spoofing, auto_rotate=b.auto_rotate)
    return {"faces": [r.to_dict() for r in reps]}


@router.post("/verify", openapi_extra=body_doc(VerifyBody))
async def verify(request: Request, key: Key = caller("verify")) -> dict[str, Any]:
    """Do the two photos show the same person?"""
    s = service(request)
    b = await s.parse(request, VerifyBody)
    result = await s.work.run(api.verify, b.img1, b.img2, model=b.model, detector=b.detector, metric=b.metric,
                              threshold=b.threshold, enforce_detection=b.enforce_detection,
                              anti_spoofing=b.anti_spoofing, auto_rotate=b.auto_rotate)
    return result.to_dict()


@router.post("/analyze", openapi_extra=body_doc(AnalyzeBody))
async def analyze(request: Request, key: Key = caller("analyze")) -> dict[str, Any]:
    """Age, gender and emotion of each face; race only when listed in actions."""
    s = service(request)
    b = await s.parse(request, AnalyzeBody)
    results = await s.work.run(quiet_analyze, b.img, actions=b.actions or DEFAULT_ACTIONS,
                               detector=b.detector, min_face_size=b.min_face_size, max_faces=b.max_faces,
                               enforce_detection=b.enforce_detection, anti_spoofing=b.anti_spoofing,
                               auto_rotate=b.auto_rotate)
    return {"faces": [r.to_dict() for r in results]}


@router.post("/spoof", openapi_extra=body_doc(SpoofBody))
async def spoof(request: Request, key: Key = caller("detect")) -> dict[str, Any]:
    """Is each face live, or a photo of one? (needs the MiniFASNet files on the server: 503 without them,
    whatever the image; 422 no_face for a photo without a face unless enforce_detection is false)"""
    s = service(request)
    b = await s.parse(request, SpoofBody)
    faces = await s.work.run(api.check_liveness, b.img, detector=b.detector, min_face_size=b.min_face_size,
                             max_faces=b.max_faces, threshold=b.threshold, auto_rotate=b.auto_rotate,
                             enforce_detection=b.enforce_detection)
    return {"faces": [f.to_dict() for f in faces]}


def quiet_analyze(img: Any, **options: Any) -> Any:
    """analyze without the race warning: the web API documents it instead."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return api.analyze(img, **options)
