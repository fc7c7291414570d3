"""The command line, run as a user runs it (a subprocess), on real faces."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prosopo.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module")
def same_and_different(lfw, lfw_pairs):
    same = next(p for p in lfw_pairs if p.same)
    diff = next(p for p in lfw_pairs if not p.same)
    def img(rel: str) -> str:
        return str(lfw / "images" / rel)

    return (img(same.left), img(same.right)), (img(diff.left), img(diff.right))


def test_verify_exit_codes_and_json(same_and_different):
    (a, b), (c, d) = same_and_different
    same = run("verify", a, b, "--json")
    assert same.returncode == 0, same.stderr
    data = json.loads(same.stdout)
    assert data["verified"] is True and data["distance"] < data["threshold"]
    diff = run("verify", c, d)
    assert diff.returncode == 1 and "different people" in diff.stdout


def test_verify_bad_input_exit_codes(tmp_path, same_and_different):
    (a, _), _ = same_and_different
    missing = run("verify", a, str(tmp_path / "nope.jpg"), "--json")
    assert missing.returncode == 3
    assert json.loads(missing.stdout)["error"] == "bad_image"
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.fromarray(np.full((100, 100, 3), 90, np.uint8)).save(blank)
    noface = run("verify", a, str(blank))
    assert noface.returncode == 4 and "no face" in noface.stderr and "Traceback" not in noface.stderr
    badmodel = run("verify", a, a, "--model", "vgg")
    assert badmodel.returncode == 2 and "sface" in badmodel.stderr


def test_represent_json_and_npy(tmp_path, same_and_different):
    (a, _), _ = same_and_different
    out = tmp_path / "emb.npy"
    res = run("represent", a, "--json", "-o", str(out))
    assert res.returncode == 0, res.stderr
    faces = json.loads(res.stdout)
    saved = np.load(out)
    assert saved.shape == (len(faces), 512)
    assert np.allclose(saved[0], faces[0]["embedding"], atol=1e-6)


def test_detect_draws(tmp_path, same_and_different):
    (a, _), _ = same_and_different
    out = tmp_path / "drawn.jpg"
    res = run("detect", a, "--draw", str(out), "--json")
    assert res.returncode == 0, res.stderr
    faces = json.loads(res.stdout)
    assert len(faces) >= 1 and len(faces[0]["landmarks"]) == 5
    from PIL import Image

    original, drawn = np.asarray(Image.open(a)), np.asarray(Image.open(out))
    assert drawn.shape == original.shape
    b = faces[0]["box"]
    edge = drawn[round(b["y"] + b["h"] / 2), round(b["x"])]  # left edge of the box: green
    assert edge[1] > 180 and edge[0] < 120 and edge[2] < 120


def test_models_lists_installed(tmp_path):
    res = run("models", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["yunet"]["installed"] and rows["sface"]["installed"] and rows["arcface-mbf"]["installed"]
    assert rows["sface"]["bytes"] > 1_000_000 and rows["sface"]["lfw_accuracy"] > 0.99
    assert rows["arcface-mbf"]["lfw_accuracy"] > rows["sface"]["lfw_accuracy"]
    assert set(rows) >= {"yunet", "scrfd", "haar", "dlib-hog", "skip", "arcface-mbf", "sface", "dlib", "sface+dlib"}
    # every model says under what terms its weights may be used
    assert rows["sface"]["licence"] == "Apache-2.0" and "non-commercial" in rows["arcface-mbf"]["licence"]
    assert all(r["licence"] for r in rows.values() if r["name"] != "skip")


def test_evaluate_lfw_subset(lfw, tmp_path):
    roc = tmp_path / "roc.png"
    res = run("evaluate", "lfw", "--images", str(lfw / "images"), "--pairs", str(lfw / "pairs.txt"),
              "--cache", str(tmp_path / "cache"), "--roc", str(roc), "--metric", "cosine", "--metric", "angular",
              "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["metric"] for r in rows] == ["cosine", "angular"]
    assert all(r["accuracy"] >= 0.99 and r["pairs"] == 600 for r in rows)
    assert roc.stat().st_size > 1000


def test_evaluate_bad_pairs_file(lfw, tmp_path):
    bad = tmp_path / "pairs.txt"
    bad.write_text("10 300\nnobody 1\n")
    res = run("evaluate", "lfw", "--images", str(lfw / "images"), "--pairs", str(bad))
    assert res.returncode == 6 and "pairs" in res.stderr


def test_help_and_no_args():
    assert run("--help").returncode == 0
    assert "verify" in run().stdout + run().stderr


def test_auto_rotate_finds_a_turned_photo(tmp_path, same_and_different):
    import cv2

    (a, b), _ = same_and_different
    turned = tmp_path / "turned.png"
    cv2.imwrite(str(turned), cv2.rotate(cv2.imread(a), cv2.ROTATE_180))
    upright = run("verify", str(turned), b, "--auto-rotate", "--json")
    assert upright.returncode == 0, upright.stdout + upright.stderr
    faces = json.loads(run("detect", str(turned), "--auto-rotate", "--json").stdout)
    eyes_y = (faces[0]["landmarks"][0][1] + faces[0]["landmarks"][1][1]) / 2
    assert eyes_y > faces[0]["landmarks"][3][1]  # upside down: the eyes are below the mouth
