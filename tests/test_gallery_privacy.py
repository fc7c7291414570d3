"""Consent expiry parsing and audit-log verification on tampered rows
(issue 17, defects 3, 6 and 11). Fast: precomputed embeddings, no model runs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from prosopo import Gallery, ParameterError
from prosopo.defaults import DEFAULT_MODEL
from prosopo.embed import RECOGNIZERS
from prosopo.privacy.consent import parse_expiry

DIM = RECOGNIZERS.backend_class(DEFAULT_MODEL).dim


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


OUT_OF_RANGE = ["9999-12-31T23:59:59-01:00", 1e10, float("nan"), float("inf"), -1e10,
                "0001-01-01T00:00:00+01:00", timedelta(days=999999999), np.float64("nan"), "1e400d", "soon"]


@pytest.mark.parametrize("expires", OUT_OF_RANGE, ids=repr)
def test_out_of_range_expiry_is_a_parameter_error(tmp_path, expires):
    with Gallery.open(tmp_path / "g") as gallery:
        with pytest.raises(ParameterError) as caught:
            gallery.enroll_embeddings("someone", _vectors(1), expires=expires)
        message = str(caught.value)
        assert repr(expires) in message and "'365d'" in message and "ISO 8601" in message
        assert len(gallery) == 0 and gallery.verify_audit().ok  # nothing stored
        with pytest.raises(ParameterError):
            gallery.sync_folder(tmp_path, expires=expires)


@pytest.mark.parametrize(("text", "delta"), [
    ("365d", timedelta(days=365)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)),
    ("2w", timedelta(weeks=2)), ("90s", timedelta(seconds=90)), (" 1w 3d ", timedelta(days=10)),
    ("1.5D", timedelta(days=1.5)),
])
def test_durations_are_accepted(tmp_path, text, delta):
    before = datetime.now(UTC)
    moment = parse_expiry(text)
    assert moment is not None and before + delta <= moment <= datetime.now(UTC) + delta
    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll_embeddings("someone", _vectors(1), expires=text)
        stored = gallery.identity("someone").consent.expires_at
        assert stored is not None and abs(stored - moment) < timedelta(seconds=5)


def test_edges_of_the_calendar_that_fit_are_kept():
    assert parse_expiry("9999-12-31T23:59:59+00:00") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_expiry("0001-01-01T01:00:00+01:00") == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_expiry("2027-12-31") == datetime(2027, 12, 31, tzinfo=UTC)
    assert parse_expiry(None) is None
    for bad in (True, "365", "d", "365 days ago", b"365d", [365]):
        with pytest.raises(ParameterError):
            parse_expiry(bad)


TAMPERING = [
    "UPDATE audit SET detail = 5 WHERE seq = 2",
    "UPDATE audit SET detail = x'00ff' WHERE seq = 2",
    "UPDATE audit SET detail = 'not json {' WHERE seq = 2",
    "UPDATE audit SET count = 'many' WHERE seq = 2",
    "UPDATE audit SET count = 2.5 WHERE seq = 2",
    "UPDATE audit SET at = 12 WHERE seq = 1",
    "UPDATE audit SET at = x'01' WHERE seq = 1",
    "UPDATE audit SET action = x'00' WHERE seq = 2",
    "UPDATE audit SET hash = x'00' WHERE seq = 2",
    "UPDATE audit SET prev = 7 WHERE seq = 3",
    "UPDATE audit SET subject = x'0102' WHERE seq = 1",
    "UPDATE audit SET actor = 3.5 WHERE seq = 3",
]


@pytest.mark.parametrize("sql", TAMPERING)
def test_tampered_column_types_are_reported_not_raised(tmp_path, sql):
    root = tmp_path / "g"
    with Gallery.open(root) as gallery:
        for i in range(3):
            gallery.enroll_embeddings(f"p{i}", _vectors(1, i))
        assert gallery.verify_audit().ok
    conn = sqlite3.connect(root / "gallery.db")
    with conn:
        conn.execute(sql)
    conn.close()
    with Gallery.open(root) as gallery:
        report = gallery.verify_audit()
        assert not report.ok and report.problems
        assert "modified" in " ".join(report.problems) or "does not follow" in " ".join(report.problems)
        assert len(gallery.audit()) == 3  # listing the log does not raise either
        gallery.enroll_embeddings("later", _vectors(1, 9))  # the log goes on; the damage stays reported
        assert not gallery.verify_audit().ok and gallery.verify_audit().entries == 4
