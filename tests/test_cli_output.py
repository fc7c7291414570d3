"""The command line as a newcomer meets it (a subprocess, real faces):
output paths that cannot be written, the version, piped output, box
coordinates, hints spelled as flags, help lists from the registries, and the
spoof command without its model files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cli import run

MINIFASNET = Path(__file__).resolve().parents[1] / ".." / "shared" / "models" / "minifasnet"


@pytest.fixture(scope="module")
def face(lfw) -> str:
    return str(lfw / "images" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg")


@pytest.fixture(scope="module")
def blank(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("blank") / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 90, np.uint8)).save(path)
    return str(path)


def clean_failure(res, code: int, *words: str) -> None:
    """Exit ``code`` with one line on stderr naming ``words``, no traceback."""
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert all(w in lines[0] for w in words), lines[0]


# -- defect 12: every output path fails cleanly ------------------------------------------------------------------


def test_represent_output_that_cannot_be_written(face, tmp_path):
    clean_failure(run("represent", face, "-o", str(tmp_path / "no" / "such" / "emb.npy")), 2, "cannot write",
                  "emb.npy")
    clean_failure(run("represent", face, "-o", str(tmp_path)), 2, "cannot write")  # a folder in the way
    (tmp_path / "file").write_text("x")
    clean_failure(run("represent", face, "-o", str(tmp_path / "file" / "emb.npy")), 2, "cannot write")
    # --json reports it as JSON on stdout, like every other error
    res = run("represent", face, "--json", "-o", str(tmp_path / "no" / "emb.npy"))
    assert res.returncode == 2 and json.loads(res.stdout)["error"] == "bad_parameter"


def test_represent_output_is_written_where_named(face, tmp_path):
    out = tmp_path / "embedding"  # no .npy: written as named, not as embedding.npy
    res = run("represent", face, "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert np.load(out).shape == (1, 512) and f"to {out}" in res.stdout


@pytest.mark.parametrize("command", ["detect", "analyze"])
def test_draw_output_that_cannot_be_written(command, face, tmp_path):
    clean_failure(run(command, face, "--draw", str(tmp_path / "no" / "drawn.jpg")), 2, "cannot write", "no such folder")
    clean_failure(run(command, face, "--draw", str(tmp_path)), 2, "cannot write")
    clean_failure(run(command, face, "--draw", str(tmp_path / "drawn.txt")), 2, "unsupported image extension")
    assert not list(tmp_path.iterdir())


def test_evaluate_outputs_that_cannot_be_written(lfw, tmp_path):
    (tmp_path / "file").write_text("x")
    args = ("evaluate", "lfw", "--images", str(lfw / "images"), "--pairs", str(lfw / "pairs.txt"))
    # refused before any image is embedded (the ROC is drawn at the end of the work)
    clean_failure(run(*args, "--roc", str(tmp_path / "no" / "roc.png")), 2, "cannot write", "roc.png")
    clean_failure(run(*args, "--roc", str(tmp_path / "roc.pdf")), 2, "unsupported image extension")
    clean_failure(run(*args, "--cache", str(tmp_path / "file" / "cache")), 2, "cache")


def test_keygen_output_that_cannot_be_written(tmp_path):
    clean_failure(run("gallery", "keygen", "-o", str(tmp_path / "no" / "key")), 2, "cannot write")
    key = tmp_path / "key"
    assert run("gallery", "keygen", "-o", str(key)).returncode == 0 and key.stat().st_mode & 0o777 == 0o600
    clean_failure(run("gallery", "keygen", "-o", str(key)), 2, "exists")


def test_a_folder_the_system_refuses_is_one_line(tmp_path):
    # the last line of defence (cli.main): an OSError no command expected
    (tmp_path / "file").write_text("x")
    clean_failure(run("keys", "create", "bob", "--data", str(tmp_path / "file" / "data")), 2, "Not a directory")


def test_gallery_store_the_system_refuses(lfw, tmp_path):
    (tmp_path / "file").write_text("x")
    photos = tmp_path / "people" / "Abel_Pacheco"
    photos.mkdir(parents=True)
    photos.joinpath("a.jpg").write_bytes((lfw / "images" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg").read_bytes())
    clean_failure(run("enroll", str(tmp_path / "people"), "--db", str(tmp_path / "file" / "store")), 7,
                  "gallery store")


# -- newcomer's stumbles ------------------------------------------------------------------------------------------


def test_version():
    import prosopo

    res = run("--version")
    assert res.returncode == 0 and res.stdout == f"prosopo {prosopo.__version__}\n"


def test_piped_find_starts_with_its_first_line(lfw, face, tmp_path):
    for name in ("Abel_Pacheco", "Abdel_Madi_Shabneh"):
        (tmp_path / "db" / name).mkdir(parents=True)
        src = max((lfw / "images" / name).glob("*.jpg"))
        (tmp_path / "db" / name / src.name).write_bytes(src.read_bytes())
    res = run("find", face, "--db", str(tmp_path / "db"))  # stdout and stderr are pipes here
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("face 0 at x="), repr(res.stdout[:40])
    assert "Abel_Pacheco" in res.stdout and res.stderr == ""


def test_box_text_never_prints_negative_zero():
    from prosopo.types import Box

    assert Box(-0.3, -0.49, 50.4, 60.6).text() == "x=0 y=0 w=50 h=61"
    assert Box(-3.2, 7.5, 10, 10).text() == "x=-3 y=8 w=10 h=10"
    assert Box(-0.004, -0.001, 5, 5).to_dict() == {"x": 0.0, "y": 0.0, "w": 5.0, "h": 5.0}
    assert "-0" not in str(Box(-0.004, 0, 5, 5).to_dict())


def test_a_face_past_the_left_edge_prints_x_0(lfw, tmp_path):
    import prosopo

    photo = np.asarray(Image.open(lfw / "images" / "Abdel_Madi_Shabneh" / "Abdel_Madi_Shabneh_0001.jpg"))
    for cut in range(80, 112):  # cut the photo through the face until its box starts just left of the image
        crop = np.ascontiguousarray(photo[:, cut:])
        faces = prosopo.detect(crop)
        if faces and -0.5 < faces[0].box.x < 0:
            break
    else:
        pytest.fail("no cut of the photo gives a face box starting within half a pixel left of the image")
    path = tmp_path / "cut.png"
    Image.fromarray(crop).save(path)
    for command in ("detect", "represent"):
        res = run(command, str(path))
        assert res.returncode == 0, res.stderr
        assert "x=-0" not in res.stdout and "face 0: x=0 " in res.stdout, res.stdout


def test_detect_numbers_faces_as_the_drawing_does(wider, tmp_path):
    photo = wider / "images" / "20--Family_Group" / "20_Family_Group_Family_Group_20_9.jpg"
    out = tmp_path / "family.jpg"
    res = run("detect", str(photo), "--draw", str(out))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    count = int(lines[0].split()[0])
    assert count >= 8 and [ln.split(":")[0] for ln in lines[1:count + 1]] == [f"face {i}" for i in range(count)]
    assert lines[-1] == f"drawn to {out}"
    assert np.asarray(Image.open(out)).shape == np.asarray(Image.open(photo)).shape


# -- hints name the CLI's flags, not Python arguments ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["verify", "represent", "analyze"])
def test_no_face_hint_names_the_flag(command, face, blank):
    args = (command, face, blank) if command == "verify" else (command, blank)
    res = run(*args)
    clean_failure(res, 4, "no face", "--no-enforce", "--auto-rotate")
    assert "enforce_detection" not in res.stderr and "auto_rotate" not in res.stderr
    message = json.loads(run(*args, "--json").stdout)["message"]
    assert "--no-enforce" in message and "enforce_detection=False" not in message


# -- defect 8 on the command line --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", " Infinity "])
def test_non_finite_threshold_is_refused(value, face):
    clean_failure(run("verify", face, face, "--threshold", value), 2, "threshold")


# -- one source for every list -----------------------------------------------------------------------------------


def test_help_lists_come_from_the_registries():
    from prosopo.attributes import ACTIONS
    from prosopo.detectors import DETECTORS
    from prosopo.embed import RECOGNIZERS
    from prosopo.metrics import METRICS

    env = {**os.environ, "COLUMNS": "400", "TERMINAL_WIDTH": "400"}  # one option per line, no wrapping
    import subprocess
    import sys

    def help_of(*command: str) -> str:
        return subprocess.run([sys.executable, "-m", "prosopo.cli", *command, "--help"], capture_output=True,
                              text=True, env=env, timeout=120, check=True).stdout

    verify = help_of("verify")
    assert "arcface-mbf+sface" in verify
    assert all(name in verify for name in RECOGNIZERS.names() + DETECTORS.names() + list(METRICS))
    evaluate = help_of("evaluate", "lfw")
    assert all(name in evaluate for name in RECOGNIZERS.names() + list(METRICS))
    assert all(name in help_of("analyze") for name in ACTIONS)


# -- defect 14: spoof without the model files, and on face-less photos ------------------------------------------


def test_spoof_without_model_files_is_exit_5_whatever_the_photo(face, blank, tmp_path):
    env = {**os.environ, "PROSOPO_MODELS": str(tmp_path)}  # an empty model folder
    import subprocess
    import sys

    for photo in (blank, face):
        for extra in ((), ("--no-enforce",)):
            res = subprocess.run([sys.executable, "-m", "prosopo.cli", "spoof", photo, *extra], capture_output=True,
                                 text=True, env=env, timeout=300, check=False)
            clean_failure(res, 5, "MiniFASNet")


def test_check_liveness_without_model_files_raises_model_error(tmp_path):
    import subprocess
    import sys

    code = ("import numpy as np, prosopo, prosopo.api as api\n"
            "try:\n    api.check_liveness(np.full((64, 64, 3), 90, np.uint8))\n"
            "except prosopo.ModelError as e:\n    print('ModelError')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "PROSOPO_MODELS": str(tmp_path)})
    assert res.stdout.strip() == "ModelError", res.stdout + res.stderr


def test_spoof_on_a_photo_without_a_face(blank, face, tmp_path):
    if not MINIFASNET.is_dir():
        pytest.skip(f"the MiniFASNet files are absent ({MINIFASNET})")
    import shutil
    import subprocess
    import sys

    shutil.copytree(MINIFASNET, tmp_path / "minifasnet")
    env = {**os.environ, "PROSOPO_MODELS": str(tmp_path)}

    def spoof(*args: str):
        return subprocess.run([sys.executable, "-m", "prosopo.cli", "spoof", *args], capture_output=True, text=True,
                              env=env, timeout=300, check=False)

    clean_failure(spoof(blank), 4, "no face", "--no-enforce")
    whole = spoof(blank, "--no-enforce", "--json")
    assert whole.returncode in (0, 1), whole.stderr
    (checked,) = json.loads(whole.stdout)
    assert checked["box"] == {"x": 0, "y": 0, "w": 120, "h": 120} and 0 <= checked["spoof_score"] <= 1
    live = spoof(face, "--json")
    assert live.returncode == 0 and json.loads(live.stdout)[0]["is_real"] is True
    for bad in ("nan", "2", "-0.1"):
        clean_failure(spoof(face, "--threshold", bad), 2, "threshold")
