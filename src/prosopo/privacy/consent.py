"""What is recorded about each enrolled identity: who enrolled it, when, for
what purpose, on what legal basis or consent reference, and until when.

A gallery of faces is biometric data (GDPR Art. 9 and similar laws); these
records let the controller answer "why do you hold my face, and since when",
and let :meth:`prosopo.Gallery.purge` remove what has expired.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import ParameterError


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def parse_expiry(value: Any) -> datetime | None:
    """``expires=`` as a datetime, a date, an ISO 8601 string, a timedelta
    from now, or a number of days from now."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, timedelta):
        return now() + value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return now() + timedelta(days=float(value))
    if isinstance(value, str):
        try:
            return parse_expiry(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise ParameterError(f"expires must be a datetime, a date, an ISO 8601 string, a timedelta or a number of "
                         f"days, got {value!r}")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class Consent:
    """The record kept with an identity. ``legal_basis`` is free text such as
    ``"consent"`` or ``"contract"`` (GDPR Art. 6/9); ``consent_ref`` points to
    the signed form or the consent event in your own records."""

    enrolled_by: str
    purpose: str
    legal_basis: str
    consent_ref: str | None = None
    enrolled_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, moment: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (moment or now())

    def to_dict(self) -> dict[str, Any]:
        return {
            "enrolled_by": self.enrolled_by,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "consent_ref": self.consent_ref,
            "enrolled_at": iso(self.enrolled_at),
            "expires_at": iso(self.expires_at),
        }


def pseudonym(secret: bytes, identity: str) -> str:
    """A keyed hash of an identity name, used in the audit log so that the log
    itself does not list who is enrolled; whoever holds the store can still
    check whether a given name appears in it."""
    return hmac.new(secret, identity.encode("utf-8"), hashlib.sha256).hexdigest()[:24]
