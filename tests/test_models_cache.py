"""Derived model files in the cache ($PROSOPO_HOME) are SHA-256 checked on
every load: a cached file that was changed is rebuilt, never run (defect 5
of issue 17: replacing it made strangers verify as one person)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from prosopo import models

REPRESENT = """
import json, sys, warnings
import prosopo
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    a, b, c = (prosopo.represent(p, model="sface", detector="yunet", max_faces=1)[0].embedding for p in sys.argv[1:4])
print(json.dumps({"a": a.tolist(), "b": b.tolist(), "c": c.tolist(),
                  "warnings": [str(w.message) for w in caught]}))
"""


def _represent(home: Path, photos: list[str]) -> dict:
    env = {**os.environ, "PROSOPO_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", REPRESENT, *photos], capture_output=True, text=True, env=env,
                         timeout=600, check=True)
    return json.loads(out.stdout)


def _tamper(path: Path) -> None:
    """Change the bytes of the largest weight tensor in the middle of an ONNX
    file (sign flipped: same size, still a valid model)."""
    import onnx
    from onnx import numpy_helper

    data = bytearray(path.read_bytes())
    weights = max(onnx.load_from_string(bytes(data)).graph.initializer, key=lambda t: len(t.raw_data))
    raw = weights.raw_data
    start = bytes(data).find(raw)
    assert start > 0 and len(raw) > 100_000
    flipped = -numpy_helper.to_array(weights)
    data[start:start + len(raw)] = flipped.astype(flipped.dtype).tobytes()
    path.write_bytes(bytes(data))


def test_tampered_cached_model_is_rebuilt_not_run(tmp_path, lfw, lfw_pairs):
    """Build SFace's derived file in one process, change it on disk (same
    size), then load it again in a fresh process: the result must be the
    genuine model's, the file rebuilt, and a warning given."""
    same = next(p for p in lfw_pairs if p.same)
    stranger = next(p for p in lfw_pairs if not p.same and p.left.split("/")[0] != same.left.split("/")[0])
    photos = [str(lfw / "images" / rel) for rel in (same.left, same.right, stranger.right)]
    home = tmp_path / "home"
    first = _represent(home, photos)
    assert first["warnings"] == []
    cached = sorted(home.glob("face_recognition_sface_*.fast.onnx"))
    assert len(cached) == 1
    genuine = cached[0].read_bytes()
    assert (home / (cached[0].name + ".sha256")).is_file()

    _tamper(cached[0])
    assert cached[0].stat().st_size == len(genuine) and cached[0].read_bytes() != genuine

    second = _represent(home, photos)
    for key in "abc":  # the genuine model's embeddings, not the tampered one's
        assert float(np.dot(first[key], second[key])) > 0.9999, key
    a, b, c = (np.asarray(second[k]) for k in "abc")
    assert float(a @ b) > float(a @ c)  # still tells the same person from a stranger
    assert any("does not match the SHA-256" in w and "rebuilt" in w for w in second["warnings"]), second["warnings"]
    assert cached[0].read_bytes() == genuine  # rebuilt on disk

    third = _represent(home, photos)
    assert third["warnings"] == []  # the rebuilt file passes its check quietly


@pytest.fixture()
def converter(tmp_path, monkeypatch):
    """derived_file on a small source with a converter of our own."""
    monkeypatch.setenv("PROSOPO_HOME", str(tmp_path / "cache"))
    source = tmp_path / "net.onnx"
    source.write_bytes(b"source weights")
    calls = []

    def convert(path: Path) -> bytes:
        calls.append(path)
        return b"derived:" + path.read_bytes()

    def load() -> bytes:
        return models.derived_file(source, ".x.onnx", convert, code=(convert,))

    return load, calls, tmp_path / "cache"


def test_cached_file_is_checked_in_process(converter):
    load, calls, cache = converter
    assert load() == b"derived:source weights" and len(calls) == 1
    (target,) = cache.glob("net.*.x.onnx")
    record = target.with_name(target.name + ".sha256")
    assert load() == b"derived:source weights" and len(calls) == 1  # read from the cache
    target.write_bytes(b"derived:source weightZ")  # same size
    with pytest.warns(RuntimeWarning, match="does not match the SHA-256"):
        assert load() == b"derived:source weights"
    assert len(calls) == 2 and target.read_bytes() == b"derived:source weights"
    record.unlink()  # a cache written by an older prosopo: rebuilt quietly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load() == b"derived:source weights"
    assert len(calls) == 3 and record.is_file()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_cached_file_others_can_write_is_not_trusted(converter):
    load, calls, cache = converter
    load()
    (target,) = cache.glob("net.*.x.onnx")
    target.chmod(0o666)
    with pytest.warns(RuntimeWarning, match="another user"):
        assert load() == b"derived:source weights"
    assert len(calls) == 2 and target.stat().st_mode & 0o022 == 0  # rewritten privately


def test_unwritable_cache_still_gives_the_model(converter, tmp_path, monkeypatch):
    load, calls, _ = converter
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    monkeypatch.setenv("PROSOPO_HOME", str(blocker / "cache"))
    assert load() == b"derived:source weights" and load() == b"derived:source weights"
    assert len(calls) == 2  # rebuilt per call, nothing written
