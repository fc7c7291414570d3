"""Anti-spoofing with the user-supplied MiniFASNet files, on NUAA printed-photo
attacks (../shared/data/nuaa-mini)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from test_cli import run

import prosopo
from prosopo import liveness

MODELS = Path(__file__).resolve().parents[1] / ".." / "shared" / "models" / "minifasnet"


@pytest.fixture(scope="module")
def model_home(tmp_path_factory):
    if not MODELS.is_dir():
        pytest.skip(f"the MiniFASNet files are absent ({MODELS}; see ../shared/models/README.md)")
    home = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROSOPO_MODELS", str(home))
        liveness.add(MODELS)
        yield home


@pytest.fixture(scope="module")
def nuaa(model_home) -> Path:
    from conftest import data_dir

    return data_dir("nuaa-mini")


def test_models_are_added_only_with_the_right_hashes(model_home, tmp_path, monkeypatch):
    assert sorted(p.name for p in (model_home / "minifasnet").iterdir()) == sorted(liveness.FILES)
    assert set(liveness.installed()) == set(liveness.FILES)
    bad = tmp_path / "bad"
    shutil.copytree(MODELS, bad)
    with open(bad / "2.7_80x80_MiniFASNetV2.onnx", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setenv("PROSOPO_MODELS", str(tmp_path / "elsewhere"))
    with pytest.raises(prosopo.ModelError, match="SHA-256"):
        liveness.add(bad)
    assert not (tmp_path / "elsewhere" / "minifasnet").exists()


def test_missing_models_give_a_clear_error(tmp_path, monkeypatch):
    """The error says where files with the pinned hashes are published (not
    Minivision's repository, which holds only PyTorch .pth files)."""
    monkeypatch.setenv("PROSOPO_MODELS", str(tmp_path))
    with pytest.raises(prosopo.ModelError, match="prosopo models add minifasnet") as err:
        liveness.installed()
    message = str(err.value)
    assert all(name in message for name in liveness.FILES)
    assert "github.com/marcos4758/Silent-Face-Anti-Spoofing-Tests/tree/1557f99" in message
    assert "resources/anti_spoof_models" in message and "minivision-ai/" not in message
    assert str(tmp_path / "minifasnet") in message


def test_catalog_lists_minifasnet_installed_or_not(model_home, tmp_path, monkeypatch):
    from prosopo.catalog import catalog

    def row():
        return next(r for r in catalog() if r["name"] == "minifasnet")

    assert row()["installed"] is True and set(row()["files"]) == set(liveness.FILES)
    assert row()["location"] == str(model_home / "minifasnet") and row()["commercial_use"] is True
    monkeypatch.setenv("PROSOPO_MODELS", str(tmp_path))
    assert row()["installed"] is False and row()["location"] == str(tmp_path / "minifasnet")


def test_live_and_printed_photos(nuaa):
    for kind, expected in (("live", True), ("spoof", False)):
        for photo in sorted((nuaa / kind).glob("*.jpg"))[::12]:  # 10 of each, all subjects
            face = prosopo.extract_faces(photo, anti_spoofing=True, max_faces=1)[0].face
            assert face.is_real is expected, (photo.name, face.spoof_score)
            assert 0 <= face.spoof_score <= 1


def test_report_or_reject(nuaa):
    spoof = next((nuaa / "spoof").glob("*.jpg"))
    live = next((nuaa / "live").glob("*.jpg"))
    reported = prosopo.represent(spoof, anti_spoofing="report")[0]
    assert reported.face.is_real is False and "spoof_score" in reported.to_dict()
    with pytest.raises(prosopo.SpoofDetected, match="face 0"):
        prosopo.represent(spoof, anti_spoofing="reject")
    assert prosopo.analyze(live, anti_spoofing="reject", actions="age")[0].face.is_real is True
    checked = prosopo.verify(live, spoof, anti_spoofing=True)
    assert checked.face1.is_real is True and checked.face2.is_real is False
    plain = prosopo.detect(spoof)[0]
    assert plain.is_real is None and "spoof_score" not in plain.to_dict()
    for bad in ("maybe", 1, "true"):
        with pytest.raises(prosopo.ParameterError):
            prosopo.extract_faces(live, anti_spoofing=bad)


def test_cli_spoof(nuaa, model_home, monkeypatch):
    live = next((nuaa / "live").glob("*.jpg"))
    spoof = next((nuaa / "spoof").glob("*.jpg"))
    monkeypatch.setenv("PROSOPO_MODELS", str(model_home))
    ok = run("spoof", str(live), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)[0]["is_real"] is True
    caught = run("spoof", str(spoof))
    assert caught.returncode == 1 and "SPOOF" in caught.stdout
    monkeypatch.setenv("PROSOPO_MODELS", str(model_home / "empty"))
    missing = run("spoof", str(live))
    assert missing.returncode == 5 and "models add minifasnet" in missing.stderr
    added = run("models", "add", "minifasnet", str(MODELS))
    assert added.returncode == 0 and (model_home / "empty" / "minifasnet").is_dir()


def test_server_spoof(nuaa, model_home, tmp_path):
    from test_server import Server, is_problem

    server = Server(tmp_path, env={"PROSOPO_MODELS": str(model_home)})
    try:
        key = server.key("spoof")
        live = next((nuaa / "live").glob("*.jpg")).read_bytes()
        spoof = next((nuaa / "spoof").glob("*.jpg")).read_bytes()
        faces = server.post("/v1/spoof", key, files={"img": spoof}).json()["faces"]
        assert faces[0]["is_real"] is False
        ok = server.post("/v1/analyze", key, data={"anti_spoofing": "reject", "actions": "age"}, files={"img": live})
        assert ok.status_code == 200 and ok.json()["faces"][0]["is_real"] is True
        is_problem(server.post("/v1/represent", key, data={"anti_spoofing": "reject"}, files={"img": spoof}),
                   422, "spoof")
        # a photo without a face: the same answer as `prosopo spoof` (exit 4 / --no-enforce), not an empty list
        blank = io.BytesIO()
        Image.new("RGB", (120, 120), (90, 90, 90)).save(blank, "PNG")
        body = is_problem(server.post("/v1/spoof", key, files={"img": blank.getvalue()}), 422, "no_face")
        assert '"enforce_detection": false' in body["detail"]
        whole = server.post("/v1/spoof", key, data={"enforce_detection": "false"}, files={"img": blank.getvalue()})
        assert whole.status_code == 200
        assert [f["box"] for f in whole.json()["faces"]] == [{"x": 0, "y": 0, "w": 120, "h": 120}]
    finally:
        server.stop()


def test_gallery_identify_and_find_check_the_probe(nuaa, tmp_path):
    live = sorted((nuaa / "live").glob("0001_*.jpg"))
    spoof = sorted((nuaa / "spoof").glob("0001_*.jpg"))
    with prosopo.Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll("subject 1", live[0])
        who = gallery.identify(live[1], anti_spoofing=True)[0]
        assert who.face.is_real is True and who.identity == "subject 1"
        with pytest.raises(prosopo.SpoofDetected):
            gallery.identify(spoof[0], anti_spoofing="reject")
    folder = tmp_path / "photos" / "subject 1"
    folder.mkdir(parents=True)
    shutil.copy(live[0], folder / "a.jpg")
    found = prosopo.find(spoof[0], db=tmp_path / "photos", anti_spoofing=True)
    assert found[0].face.is_real is False
