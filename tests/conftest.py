"""Shared fixtures. Face photos are read from ``../shared/data`` (override
with ``PROSOPO_TEST_DATA``); tests that need them skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("PROSOPO_TEST_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def data_dir(name: str) -> Path:
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"face data {path} is absent (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def lfw() -> Path:
    return data_dir("lfw-mini")


@pytest.fixture(scope="session")
def wider() -> Path:
    return data_dir("wider-mini")


@pytest.fixture(scope="session")
def lfw_pairs(lfw):
    from prosopo.evaluate import read_pairs

    return read_pairs(lfw / "pairs.txt")
