"""The web service, run as a real server process on loopback, on real faces."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytest.importorskip("fastapi")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prosopo.cli", *args], capture_output=True, text=True, timeout=120,
                          check=False,
                          stdin=subprocess.DEVNULL)


class Server:
    """``prosopo serve`` on a free loopback port, its state under ``data``
    (or, with ``data`` None, where ``flags`` say: ``--db URL``)."""

    def __init__(self, data: Path | None, *flags: str, env: dict[str, str] | None = None):
        self.data, self.port = data, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tempfile.NamedTemporaryFile("w+", prefix="prosopo-serve-", suffix=".log")  # noqa: SIM115
        place = ["--data", str(data)] if data is not None else []
        self.proc = subprocess.Popen([sys.executable, "-m", "prosopo.cli", "serve", "--port", str(self.port),
                                      *place, *flags], stdin=subprocess.DEVNULL,
                                     stdout=self.output, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log()}")

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far (its log)."""
        with open(self.output.name) as f:
            return f.read()

    def key(self, name: str, *options: str) -> str:
        out = cli("keys", "create", name, "--data", str(self.data), "--json", *options)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["token"]

    def post(self, path: str, key: str | None = None, headers: dict | None = None, **kwargs) -> httpx.Response:
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.post(self.url + path, headers={**auth, **(headers or {})}, timeout=120, **kwargs)

    def get(self, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.url + path, headers=headers, timeout=120, **kwargs)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def is_problem(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    if code:
        assert body["code"] == code, body
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def admin(server) -> str:
    return server.key("tests")


@pytest.fixture(scope="module")
def photos(identification) -> dict[str, list[bytes]]:
    return {name: [p.read_bytes() for p in paths] for name, paths in list(identification.items())[:3]}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_health_needs_no_key(server):
    assert server.get("/health").json()["status"] == "ok"


def test_auth_is_required_and_enforced(server, admin, photos):
    face = b64(next(iter(photos.values()))[0])
    is_problem(server.post("/v1/detect", json={"img": face}), 401, "no_key")
    is_problem(server.post("/v1/detect", "pk_nothere_wrong", json={"img": face}), 401, "bad_key")
    verify_only = server.key("verifier", "--scope", "verify")
    is_problem(server.post("/v1/analyze", verify_only, json={"img": face}), 403, "scope")
    is_problem(server.post("/v1/galleries/shop/identify", verify_only, json={"img": face}), 403, "scope")
    one_gallery = server.key("shop-only", "--gallery", "shop")
    is_problem(server.get("/v1/galleries/other/stats", one_gallery), 403, "gallery")
    revoked = server.key("leaver")
    assert server.post("/v1/detect", revoked, json={"img": face}).status_code == 200
    assert cli("keys", "revoke", "leaver", "--data", str(server.data)).returncode == 0
    is_problem(server.post("/v1/detect", revoked, json={"img": face}), 401, "bad_key")
    listed = json.loads(cli("keys", "list", "--data", str(server.data), "--json").stdout)
    assert all("token" not in k and "digest" not in k for k in listed)
    stored = b"".join(p.read_bytes() for p in server.data.glob("keys.db*"))
    assert revoked.split("_", 2)[2].encode() not in stored  # only hashes are kept


def test_faces_endpoints(server, admin, photos):
    (a1, a2, *_), (b1, *_) = list(photos.values())[:2]
    detected = server.post("/v1/detect", admin, json={"img": b64(a1)}).json()["faces"]
    assert len(detected) >= 1 and len(detected[0]["landmarks"]) == 5
    rep = server.post("/v1/represent", admin, files={"img": a1}).json()["faces"][0]
    assert len(rep["embedding"]) == 512  # the default recognizer, arcface-mbf
    same = server.post("/v1/verify", admin, files={"img1": a1, "img2": a2}).json()
    assert same["verified"] is True
    different = server.post("/v1/verify", admin, json={"img1": b64(a1), "img2": "data:image/jpeg;base64," + b64(b1)})
    assert different.json()["verified"] is False
    turned = Image.open(io.BytesIO(a1)).transpose(Image.Transpose.ROTATE_90)  # no EXIF tag says so
    data = io.BytesIO()
    turned.save(data, "PNG")
    found = server.post("/v1/verify", admin, json={"img1": b64(data.getvalue()), "img2": b64(a2),
                                                   "auto_rotate": True}).json()
    assert found["verified"] is True, found
    analysis = server.post("/v1/analyze", admin, json={"img": b64(a1)}).json()["faces"][0]
    assert {"age", "dominant_gender", "dominant_emotion"} <= set(analysis) and "race" not in analysis
    with_race = server.post("/v1/analyze", admin, data={"actions": "age,race"}, files={"img": a1}).json()
    assert "race" in with_race["faces"][0] and "emotion" not in with_race["faces"][0]


def test_gallery_lifecycle_is_audited_with_the_key(server, admin, photos):
    names = list(photos)
    for name in names[:2]:
        r = server.post("/v1/galleries/team/enroll", admin, data={"identity": name, "legal_basis": "consent"},
                        files={"img": photos[name][0]})
        assert r.status_code == 200, r.text
    who = server.post("/v1/galleries/team/identify", admin, files={"img": photos[names[0]][1]}).json()["faces"]
    assert who[0]["identity"] == names[0]
    stranger = server.post("/v1/galleries/team/identify", admin, files={"img": photos[names[2]][1]}).json()
    assert stranger["faces"][0]["known"] is False
    found = server.post("/v1/galleries/team/search", admin, json={"img": b64(photos[names[1]][1]), "k": 2}).json()
    assert found["faces"][0]["matches"][0]["identity"] == names[1]
    listed = server.get("/v1/galleries/team/identities", admin).json()["identities"]
    assert sorted(i["name"] for i in listed) == sorted(names[:2])
    assert server.get("/v1/galleries/team/stats", admin).json()["identities"] == 2
    erased = httpx.delete(f"{server.url}/v1/galleries/team/identities/{names[0]}",
                          headers={"Authorization": f"Bearer {admin}"}, timeout=60)
    assert erased.status_code == 200 and erased.json()["erased_faces"] == 1
    assert len(server.get("/v1/galleries/team/identities", admin).json()["identities"]) == 1
    audit = server.get("/v1/galleries/team/audit?verify=true", admin).json()
    assert audit["verify"]["ok"] is True
    key_id = admin.split("_")[1]
    actions = {e["action"] for e in audit["entries"] if e["actor"].startswith(f"key:{key_id}")}
    assert {"enroll", "identify", "search", "erase"} <= actions
    is_problem(server.get("/v1/galleries/nosuch/stats", admin), 404, "not_found")
    is_problem(server.get("/v1/galleries/bad%20name/stats", admin), 422)
    # a name that holds "/" can be erased as it was enrolled (sent as %2F)
    r = server.post("/v1/galleries/team/enroll", admin, data={"identity": "Dept/Alice Smith", "legal_basis": "consent"},
                    files={"img": photos[names[2]][0]})
    assert r.status_code == 200, r.text
    erased = httpx.delete(f"{server.url}/v1/galleries/team/identities/Dept%2FAlice%20Smith",
                          headers={"Authorization": f"Bearer {admin}"}, timeout=60)
    assert erased.status_code == 200 and erased.json() == {"identity": "Dept/Alice Smith", "erased_faces": 1}


def test_bad_inputs_are_4xx_problems(server, admin, photos):
    a1 = next(iter(photos.values()))[0]
    is_problem(server.post("/v1/detect", admin, files={"img": b"not an image"}), 400, "bad_image")
    is_problem(server.post("/v1/detect", admin, files={"img": a1[: len(a1) // 3]}), 400, "bad_image")
    is_problem(server.post("/v1/detect", admin, json={"img": "%%% not base64"}), 400, "bad_image")
    is_problem(server.post("/v1/detect", admin, json={"img": "/etc/passwd"}), 400, "bad_image")
    is_problem(server.post("/v1/detect", admin, content=b"{not json", headers={"content-type": "application/json"}),
               400, "bad_json")
    is_problem(server.post("/v1/detect", admin, json={"img": b64(a1), "max_faces": "many"}), 422, "invalid_request")
    is_problem(server.post("/v1/detect", admin, json={"img": b64(a1), "surprise": 1}), 422, "invalid_request")
    is_problem(server.post("/v1/detect", admin, json=["img"]), 422)
    is_problem(server.post("/v1/detect", admin, content=b"img", headers={"content-type": "text/plain"}), 415)
    is_problem(server.post("/v1/verify", admin, json={"img1": b64(a1)}), 422, "invalid_request")
    is_problem(server.get("/v1/nothing", admin), 404)
    is_problem(httpx.put(server.url + "/v1/detect", timeout=10), 405)


def test_booleans_as_strings(server, admin, photos):
    import cv2
    import numpy as np

    blank = cv2.imencode(".png", np.full((120, 120, 3), 200, np.uint8))[1].tobytes()
    a1 = next(iter(photos.values()))[0]
    is_problem(server.post("/v1/verify", admin, data={"enforce_detection": "true"},
                           files={"img1": blank, "img2": a1}), 422, "no_face")
    relaxed = server.post("/v1/verify", admin, data={"enforce_detection": "false"}, files={"img1": blank, "img2": a1})
    assert relaxed.status_code == 200 and relaxed.json()["verified"] is False
    is_problem(server.post("/v1/verify", admin, data={"enforce_detection": "maybe"},
                           files={"img1": blank, "img2": a1}), 422, "invalid_request")


def test_url_fetching_is_off_by_default(server, admin):
    is_problem(server.post("/v1/detect", admin, json={"img": {"url": "https://example.com/face.jpg"}}), 403,
               "urls_off")


def test_url_fetching_refuses_private_addresses(tmp_path, photos):
    s = Server(tmp_path, "--allow-urls")
    try:
        key = s.key("urls")
        for url in (f"{s.url}/health", "http://10.1.2.3/a.jpg", "http://169.254.169.254/latest/meta-data",
                    "http://[::1]/a.jpg", "http://localhost/a.jpg"):
            is_problem(s.post("/v1/detect", key, json={"img": {"url": url}}), 403, "url_refused")
        for url in ("file:///etc/passwd", "ftp://example.com/a.jpg", "gopher://x"):
            is_problem(s.post("/v1/detect", key, json={"img": {"url": url}}), 400, "bad_url")
    finally:
        s.stop()


def test_limits_and_rate(tmp_path, photos):
    s = Server(tmp_path, "--max-body-mb", "0.5", "--rate", "1")
    try:
        key = s.key("small")
        big = b"\xff" * (600 * 1024)
        is_problem(s.post("/v1/detect", key, files={"img": big}), 413, "too_large")
        statuses = [s.post("/v1/detect", key, files={"img": b"x"}).status_code for _ in range(4)]
        assert 429 in statuses
        limited = s.post("/v1/detect", key, files={"img": b"x"})
        if limited.status_code == 429:
            assert int(limited.headers["retry-after"]) >= 1
    finally:
        s.stop()


def test_no_auth_only_on_loopback(tmp_path):
    out = cli("serve", "--no-auth", "--host", "0.0.0.0", "--data", str(tmp_path))
    assert out.returncode == 2 and "loopback" in out.stderr


def test_concurrent_requests_agree(server, admin, photos):
    (a1, a2, *_), (b1, *_) = list(photos.values())[:2]
    pairs = [(a1, a2), (a1, b1)] * 8

    def ask(pair):
        return server.post("/v1/verify", admin, files={"img1": pair[0], "img2": pair[1]}).json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, pairs))
    for pair, r in zip(pairs, results):
        assert r["verified"] is (pair[1] is a2)
    distances = {round(r["distance"], 5) for r, p in zip(results, pairs) if p[1] is a2}
    assert len(distances) == 1


def test_openapi_document(server):
    doc = server.get("/openapi.json").json()
    assert {"/v1/verify", "/v1/analyze", "/v1/galleries/{gallery}/identify"} <= set(doc["paths"])
    body = doc["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
