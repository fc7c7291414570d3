"""The licence policy: under 'commercial', every model whose terms forbid
commercial use refuses to load, and the error names the arguments that
choose permissive models instead; `prosopo models` shows every model's
terms."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import prosopo
from prosopo import attributes, liveness
from prosopo.catalog import catalog
from prosopo.detectors import DETECTORS
from prosopo.embed import RECOGNIZERS
from prosopo.privacy.licence import licence_policy, set_licence_policy

NON_COMMERCIAL = {"scrfd", "arcface-mbf", "arcface-mbf+sface", "age-gender", "emotion", "race"}


@pytest.fixture()
def commercial(monkeypatch):
    monkeypatch.delenv("PROSOPO_LICENCE", raising=False)
    set_licence_policy("commercial")
    yield
    set_licence_policy(None)


@pytest.fixture(scope="module")
def photos(lfw, lfw_pairs):
    same = next(p for p in lfw_pairs if p.same)
    return [str(lfw / "images" / rel) for rel in (same.left, same.right)]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prosopo.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, check=False)


def test_every_model_states_its_terms():
    rows = {r["name"]: r for r in catalog()}
    assert {name for name, r in rows.items() if not r["commercial_use"]} == NON_COMMERCIAL
    for r in rows.values():
        assert r["licence"] and r["terms"] == ("permissive" if r["commercial_use"] else "non-commercial")
    for entry in DETECTORS.entries() + RECOGNIZERS.entries():
        assert isinstance(entry.commercial_use, bool) and entry.terms == rows[entry.name]["terms"]
    assert attributes.COMMERCIAL_USE is False and liveness.COMMERCIAL_USE is True


def test_defaults_are_refused_with_the_arguments_to_pass(commercial, photos):
    assert licence_policy() == "commercial"
    with pytest.raises(prosopo.ModelError) as err:
        prosopo.verify(*photos)
    assert "detector='yunet'" in str(err.value) and "model='sface'" in str(err.value)
    with pytest.raises(prosopo.ModelError, match="detector='yunet'"):
        prosopo.represent(photos[0], model="sface")  # the default detector, scrfd
    with pytest.raises(prosopo.ModelError, match="model='sface'"):
        prosopo.represent(photos[0], model="arcface-mbf+sface", detector="yunet")
    result = prosopo.verify(*photos, detector="yunet", model="sface")  # nothing switched silently
    assert result.verified and result.model == "sface" and result.detector == "yunet"


def test_attribute_heads_are_refused(commercial, photos):
    with pytest.raises(prosopo.ModelError, match="No attribute model with commercial terms"):
        prosopo.analyze(photos[0], detector="yunet", actions="age")


def test_a_model_loaded_before_the_policy_is_refused_after(monkeypatch, photos):
    monkeypatch.delenv("PROSOPO_LICENCE", raising=False)
    before = prosopo.represent(photos[0], detector="yunet")  # arcface-mbf, loaded
    assert before[0].model == "arcface-mbf"
    set_licence_policy("commercial")
    try:
        with pytest.raises(prosopo.ModelError, match="recognizer 'arcface-mbf'"):
            prosopo.represent(photos[0], detector="yunet")
    finally:
        set_licence_policy(None)
    assert prosopo.represent(photos[0], detector="yunet")[0].model == "arcface-mbf"


def test_environment_variable_and_bad_values(monkeypatch, photos):
    monkeypatch.setenv("PROSOPO_LICENCE", "Commercial")
    assert licence_policy() == "commercial"
    with pytest.raises(prosopo.ModelError, match="PROSOPO_LICENCE=commercial"):
        prosopo.represent(photos[0], detector="yunet")
    monkeypatch.setenv("PROSOPO_LICENCE", "comercial")  # a typo must not switch the policy off
    with pytest.raises(prosopo.ParameterError, match="unknown licence policy"):
        prosopo.represent(photos[0], detector="yunet", model="sface")
    with pytest.raises(prosopo.ParameterError, match="unknown licence policy"):
        set_licence_policy("free")
    monkeypatch.setenv("PROSOPO_LICENCE", "any")
    assert prosopo.represent(photos[0], detector="yunet")[0].model == "arcface-mbf"


def test_cli_honours_the_environment(photos):
    env = {"PROSOPO_LICENCE": "commercial"}
    refused = cli("verify", *photos, env=env)
    assert refused.returncode == 5, refused.stderr
    assert "yunet" in refused.stderr and "sface" in refused.stderr and "Traceback" not in refused.stderr
    ok = cli("verify", *photos, "--detector", "yunet", "--model", "sface", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["model"] == "sface"
    listed = {r["name"]: r for r in json.loads(cli("models", "--json", env=env).stdout)}
    assert {n for n, r in listed.items() if not r["allowed"]} == NON_COMMERCIAL


def test_cli_licence_option(photos, monkeypatch):
    monkeypatch.delenv("PROSOPO_LICENCE", raising=False)
    refused = cli("--licence", "commercial", "verify", *photos)
    assert refused.returncode == 5 and "--detector yunet" in refused.stderr and "--model sface" in refused.stderr
    ok = cli("--licence", "commercial", "verify", *photos, "--detector", "yunet", "--model", "sface")
    assert ok.returncode == 0, ok.stderr
    bad = cli("--licence", "comercial", "models")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_models_command_shows_terms_and_minifasnet(tmp_path):
    env = {"PROSOPO_MODELS": str(tmp_path / "models")}
    out = cli("models", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("terms: non-commercial") == len(NON_COMMERCIAL)
    assert "terms: permissive" in out.stdout
    assert "minifasnet" in out.stdout and str(tmp_path / "models" / "minifasnet") in out.stdout
    row = next(r for r in json.loads(cli("models", "--json", env=env).stdout) if r["name"] == "minifasnet")
    assert row["installed"] is False and row["kind"] == "anti-spoofing"
    assert row["location"] == str(tmp_path / "models" / "minifasnet")


def test_a_refused_model_stops_a_folder_sync_and_records_nothing(photos, tmp_path, monkeypatch):
    import shutil

    monkeypatch.delenv("PROSOPO_LICENCE", raising=False)
    folder = tmp_path / "photos" / "Some_Person"
    folder.mkdir(parents=True)
    shutil.copy(photos[0], folder / "a.jpg")
    refused = cli("enroll", str(folder.parent), "--db", str(tmp_path / "g"), "--model", "sface",
                  env={"PROSOPO_LICENCE": "commercial"})
    assert refused.returncode == 5 and "not licensed" in refused.stderr and "skipped" not in refused.stdout
    # the photo was not remembered as "skipped": the next sync, with permissive models, enrolls it
    env = {"PROSOPO_LICENCE": "commercial"}
    allowed = cli("enroll", str(folder.parent), "--db", str(tmp_path / "g"), "--model", "sface", "--detector", "yunet",
                  "--json", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["added"] == 1
    found = cli("find", photos[1], "--db", str(tmp_path / "g"), "--detector", "yunet", "--json", env=env)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["matches"][0]["identity"] == "Some_Person"


def test_a_commercial_service_runs_galleries_on_permissive_models(photos, tmp_path):
    from test_server import Server

    server = Server(tmp_path / "srv", "--gallery-model", "sface", "--gallery-detector", "yunet",
                    env={"PROSOPO_LICENCE": "commercial"})
    try:
        key = server.key("admin")
        with open(photos[0], "rb") as a, open(photos[1], "rb") as b:
            first, second = a.read(), b.read()
        enrolled = server.post("/v1/galleries/staff/enroll", key, data={"identity": "alice", "legal_basis": "consent"},
                               files={"img": first})
        assert enrolled.status_code == 200, enrolled.text
        who = server.post("/v1/galleries/staff/identify", key, files={"img": second})
        assert who.status_code == 200 and who.json()["faces"][0]["identity"] == "alice", who.text
        stats = server.get("/v1/galleries/staff/stats", key).json()
        assert (stats["model"], stats["detector"]) == ("sface", "yunet")
        refused = server.post("/v1/verify", key, files={"img1": first, "img2": second})
        assert refused.status_code == 503 and '"detector": "yunet"' in refused.json()["detail"]
    finally:
        server.stop()
    bad = cli("serve", "--gallery-model", "nope", "--port", "1")
    assert bad.returncode == 2 and "unknown model 'nope'" in bad.stderr
