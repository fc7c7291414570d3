"""Request bodies: the fields each endpoint takes, as JSON or as a
multipart form, and their OpenAPI description."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..attributes import Action
from ..defaults import DEFAULT_ACTIONS, DEFAULT_DETECTOR, DEFAULT_MODEL
from ..metrics import DEFAULT_METRIC, Metric


class UrlImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL of the image; only when the server runs with --allow-urls")


Image = str | UrlImage
IMAGE_DOC = "base64 string or data URI (JSON), or a file part (multipart); {\"url\": ...} if the server allows it"


class Body(BaseModel):
    """NaN and infinities (JSON's non-standard literals) are refused in every
    number field."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
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
    enforce_detection: bool = Field(True, description="false: a photo without a face is checked whole")


class RepresentBody(DetectBody):
    model: str = DEFAULT_MODEL
    enforce_detection: bool = True
    anti_spoofing: Spoofing = Field(False, description=SPOOF_DOC)


class AnalyzeBody(DetectBody):
    actions: list[Action] = list(DEFAULT_ACTIONS)
    enforce_detection: bool = True
    anti_spoofing: Spoofing = Field(False, description=SPOOF_DOC)


class VerifyBody(Body):
    images = ("img1", "img2")
    img1: Image = Field(description=IMAGE_DOC)
    img2: Image = Field(description=IMAGE_DOC)
    model: str = DEFAULT_MODEL
    detector: str = DEFAULT_DETECTOR
    metric: Metric = DEFAULT_METRIC
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

    @field_validator("expires")
    @classmethod
    def _expires_in_range(cls, value: str | None) -> str | None:
        """An ISO date or datetime must exist in UTC too (year 1 to 9999);
        other forms are the gallery's to judge."""
        if value is None:
            return value
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return value
        try:
            (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("expires is out of range: in UTC it must fall between the years 1 and 9999") from None
        return value


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


def _schema(model: type[Body], multipart: bool) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    props = schema.get("properties", {})
    if multipart:
        for name in model.images:
            props[name] = {"type": "string", "format": "binary", "description": "the image file"}
    return schema


def body_doc(model: type[Body]) -> dict[str, Any]:
    """OpenAPI requestBody: the same fields as JSON or as a multipart form."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": _schema(model, False)},
        "multipart/form-data": {"schema": _schema(model, True)},
    }}}
