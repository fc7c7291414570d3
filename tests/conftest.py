"""Shared fixtures. Face photos are read from ``../shared/data`` (override
with ``PROSOPO_TEST_DATA``); tests that need them skip when it is absent,
and fail instead under ``CI=true``, where a silent skip would hide them."""

from __future__ import annotations

import os
from pathlib import Path

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
