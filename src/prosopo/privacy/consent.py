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
import math
import numbers
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, overload

from ..errors import ParameterError


def now() -> datetime:
    return datetime.now(UTC)


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: None) -> None: ...
@overload
def iso(moment: datetime | None) -> str | None: ...
def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


# durations such as "365d", "12h", "30m", "2w" or "1w 3d" (the API docs offer "365d")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"\s*(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
ALLOWED = ("a datetime, a date, an ISO 8601 string, a timedelta, a number of days, or a duration such as "
           "'365d', '12h', '30m' or '2w' (s, m, h, d, w), between the years 1 and 9999")


def _bad(value: Any, why: str = "") -> ParameterError:
    return ParameterError(f"expires={value!r} is not usable{': ' + why if why else ''}; give {ALLOWED}")


def parse_duration(text: str) -> timedelta | None:
    """``"365d"``, ``"12h"``, ``"30m"``, ``"2w"``, ``"1w 3d"`` as a timedelta;
    None if ``text`` is not written that way."""
    if not _DURATION.fullmatch(text):
        return None
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def parse_expiry(value: Any) -> datetime | None:
    """``expires=`` as a datetime, a date, an ISO 8601 string, a duration
    string (``"365d"``, ``"12h"``, ``"30m"``, ``"2w"``), a timedelta from
    now, or a number of days from now, as an aware UTC datetime.

    Raises :class:`~prosopo.ParameterError` (naming the value and what is
    allowed) for anything else, and for a moment outside the years 1-9999
    (UTC) or a number that is not finite."""
    if value is None:
        return None
    try:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
        elif isinstance(value, timedelta):
            moment = now() + value
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            days = float(value)
            if not math.isfinite(days):
                raise _bad(value, "the number of days must be finite")
            moment = now() + timedelta(days=days)
        elif isinstance(value, str):
            duration = parse_duration(value.strip().lower())
            if duration is not None:
                moment = now() + duration
            else:
                try:
                    parsed = datetime.fromisoformat(value.strip())
                except ValueError:
                    raise _bad(value) from None
                moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        else:
            raise _bad(value)
        return moment.astimezone(UTC)  # may overflow at the ends of the calendar
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, ParameterError):
            raise
        raise _bad(value, "it lies outside the years 1-9999") from None


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
