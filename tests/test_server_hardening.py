"""Regression tests for the service's defects of issue 17: deeply nested
JSON, out-of-range expiry dates, malformed and disguised private image URLs,
server paths in answers, the work bound under --timeout, /v1/spoof without
its model files, ``null`` for strangers, the access log, and ``prosopo keys``
without the web stack. Against real ``prosopo serve`` processes."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytest.importorskip("fastapi")

from test_server import Server, b64, is_problem

MARKER = "Zq7marker"  # in the data folder's path: no answer may contain it


@pytest.fixture(scope="module")
def photos(identification) -> dict[str, list[bytes]]:
    return {name: [p.read_bytes() for p in paths] for name, paths in list(identification.items())[:3]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server with URLs on, its data under a marked path, no MiniFASNet files."""
    root = tmp_path_factory.mktemp("srv") / f"{MARKER} data"
    no_models = root / "models"
    no_models.mkdir(parents=True)
    s = Server(root / "service", "--allow-urls", env={"PROSOPO_MODELS": str(no_models)})
    s.token = s.key("admin")
    yield s
    s.stop()


def blank_png(size: int = 160) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 190, 180)).save(out, "PNG")
    return out.getvalue()


def keeps_connection(r: httpx.Response) -> None:
    assert "close" not in r.headers.get("connection", "").lower(), "the server dropped the keep-alive connection"


# -- defect 2: deeply nested JSON ------------------------------------------------

def test_deeply_nested_json_is_a_400_problem(served):
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.token}"}, timeout=60) as c:
        for depth in (1_000, 5_000, 100_000):
            body = '{"img1": ' + "[" * depth + "]" * depth + ', "img2": "x"}'
            r = c.post("/v1/verify", content=body, headers={"content-type": "application/json"})
            is_problem(r, 400, "bad_json")
            keeps_connection(r)
            assert c.get("/health").status_code == 200  # the same connection still works
    assert "Traceback" not in served.log() and "RecursionError" not in served.log()


def test_nan_and_infinity_literals_are_refused(served, photos):
    face = b64(next(iter(photos.values()))[0])
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"img": "{face}", "min_face_size": {literal}}}'
        r = served.post("/v1/detect", served.token, content=body, headers={"content-type": "application/json"})
        is_problem(r, 422, "invalid_request")


# -- defect 3: expires out of range -------------------------------------------------

def test_out_of_range_expiry_is_422_and_the_connection_lives_on(served, photos):
    name, (face, *_) = next(iter(photos.items()))
    as_json = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", 1e10, -1e10, "1e10", "nan", "inf"]
    as_literal = ["NaN", "Infinity", "-Infinity", "1e10"]  # raw JSON numbers, NaN/Infinity as Python writes them
    as_form = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "1e10", "-1e10", "nan", "inf", "NaN"]
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.token}"}, timeout=120) as c:
        answers = []
        for value in as_json:
            answers.append(c.post("/v1/galleries/expiry/enroll",
                                  json={"identity": name, "img": b64(face), "expires": value}))
        for literal in as_literal:
            body = f'{{"identity": "{name}", "img": "{b64(face)}", "expires": {literal}}}'
            answers.append(c.post("/v1/galleries/expiry/enroll", content=body,
                                  headers={"content-type": "application/json"}))
        for value in as_form:
            answers.append(c.post("/v1/galleries/expiry/enroll", data={"identity": name, "expires": value},
                                  files={"img": face}))
        for r in answers:
            is_problem(r, 422)
            keeps_connection(r)
        assert c.get("/v1/galleries/expiry/identities").json()["identities"] == []
        ok = c.post("/v1/galleries/expiry/enroll", json={"identity": name, "img": b64(face),
                                                         "expires": "2099-01-01"})
        assert ok.status_code == 200, ok.text
    assert "Traceback" not in served.log()


# -- defects 4 and 7: image URLs ------------------------------------------------------

@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808",           # NAT64 (well-known and local-use)
    "2002:7f00:1::", "2002:a9fe:a9fe::", "2002:a00:1::1",                   # 6to4
    "::127.0.0.1", "::10.0.0.1",                                            # IPv4-compatible
    "::ffff:127.0.0.1", "::ffff:0:7f00:1", "::ffff:0:a00:1",                # IPv4-mapped, IPv4-translated
    "2001:0:4136:e378:8000:63bf:80ff:fffe",                                 # Teredo, client 127.0.0.1
    "2001:0:a00:1:8000:63bf:f7f7:f7f7",                                     # Teredo, server 10.0.0.1
    "fec0::1", "fed0::1:2",                                                 # site-local
    "::1", "fe80::1", "fc00::1", "ff02::1", "127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "224.0.0.1",
])
def test_private_addresses_in_every_form_are_refused(address):
    from prosopo.server.inputs import _public

    assert not _public(address)


@pytest.mark.parametrize("address", [
    "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8",
    "::ffff:0:808:808", "::8.8.8.8",
])
def test_public_addresses_are_still_allowed(address):
    from prosopo.server.inputs import _public

    assert _public(address)


def test_urls_to_disguised_private_addresses_are_refused(served):
    for host in ("[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[2002:a9fe:a9fe::]", "[::127.0.0.1]",
                 "[::ffff:0:7f00:1]", "[fec0::1]"):
        r = served.post("/v1/detect", served.token, json={"img": {"url": f"http://{host}/a.jpg"}})
        is_problem(r, 403, "url_refused")


def test_malformed_urls_are_400(served):
    for url in ("http://example.com:99999/a.jpg", "http://[::1/a.jpg", "http://[::1]:-5/a.jpg",
                "http://exa mple.com/a.jpg", "http://example.com/a\x00.jpg", "http://[zz::1]/a.jpg",
                "http://" + "a" * 300 + ".com/a.jpg"):
        r = served.post("/v1/detect", served.token, json={"img": {"url": url}})
        is_problem(r, 400, "bad_url")
    assert "Traceback" not in served.log()


# -- defect 10: no server path in any answer -------------------------------------------

def test_no_answer_names_a_server_path(served, photos):
    names = list(photos)
    face = photos[names[0]][0]
    broken = served.data / "galleries" / "broken"
    broken.mkdir(parents=True)
    (broken / "gallery.db").write_bytes(b"not a database " * 1000)
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.token}"}, timeout=120) as c:
        answers = [
            c.get("/health"), c.get("/ready"), c.get("/openapi.json"), c.get("/"),
            c.post("/v1/spoof", files={"img": face}),                        # 503: no model files
            c.post("/v1/represent", data={"anti_spoofing": "true"}, files={"img": face}),  # 503 too
            c.get("/v1/galleries/broken/stats"),                             # 409: damaged store
            c.post("/v1/galleries/broken/enroll", data={"identity": "x"}, files={"img": face}),
            c.post("/v1/detect", files={"img": b"not an image"}),
            c.post("/v1/galleries/paths/enroll", data={"identity": names[0]}, files={"img": face}),
            c.get("/v1/galleries/paths/stats"), c.get("/v1/galleries/paths/identities"),
            c.get("/v1/galleries/paths/audit?verify=true"),
            c.post("/v1/galleries/paths/identify", files={"img": photos[names[1]][0]}),
            c.get("/v1/galleries/nosuch/stats"), c.get("/static/..%2Fapp.py"),
        ]
    statuses = [r.status_code for r in answers]
    assert statuses[4] == 503 and statuses[5] == 503 and statuses[6] == 409 and statuses[7] == 409, statuses
    assert "location" not in answers[10].json() and answers[10].json()["identities"] == 1
    for r in answers:
        assert MARKER not in r.text and str(served.data) not in r.text, (r.request.url, r.text)
        assert not re.search(r"/(home|root|tmp|usr|var|etc)/", r.text), (r.request.url, r.text)


# -- defect 14: /v1/spoof without its model files ---------------------------------------

def test_spoof_without_models_is_503_whatever_the_image(served, photos):
    face = next(iter(photos.values()))[0]
    for image in (blank_png(), face):
        body = is_problem(served.post("/v1/spoof", served.token, files={"img": image}), 503, "model_error")
        assert "models add minifasnet" in body["detail"]


# -- null, not "unknown" ------------------------------------------------------------------

def test_strangers_have_a_null_identity(served, photos):
    (known, (k1, k2, *_)), (_, (stranger, *_)) = list(photos.items())[:2]
    assert served.post("/v1/galleries/nulls/enroll", served.token, data={"identity": known},
                       files={"img": k1}).status_code == 200
    faces = served.post("/v1/galleries/nulls/identify", served.token, files={"img": stranger}).json()["faces"]
    assert faces[0]["known"] is False and faces[0]["identity"] is None
    faces = served.post("/v1/galleries/nulls/identify", served.token, files={"img": k2}).json()["faces"]
    assert faces[0]["known"] is True and faces[0]["identity"] == known


# -- the access log -------------------------------------------------------------------------

def test_one_access_log_line_per_request(served, photos):
    name, (face, *_) = next(iter(photos.items()))
    key_id = served.token.split("_")[1]
    served.post("/v1/detect", served.token, json={"img": b64(face)})
    served.post("/v1/galleries/logged/enroll", served.token, data={"identity": name}, files={"img": face})
    served.get("/v1/galleries/logged/stats", served.token)
    httpx.delete(f"{served.url}/v1/galleries/logged/identities/{name}",
                 headers={"Authorization": f"Bearer {served.token}"}, timeout=60)
    served.post("/v1/detect", "pk_nothere_wrong", json={"img": b64(face)})
    time.sleep(0.5)
    log = served.log()
    lines = [line for line in log.splitlines() if "prosopo.server.access" in line]
    assert any(re.search(rf"POST /v1/detect 200 [\d.]+ms key={key_id}$", line) for line in lines), lines[-5:]
    assert any(re.search(r"POST /v1/detect 401 [\d.]+ms key=-$", line) for line in lines), lines[-5:]
    assert any("GET /v1/galleries/{gallery}/stats 200" in line for line in lines)
    assert any("DELETE /v1/galleries/{gallery}/identities/{identity} 200" in line for line in lines)
    assert b64(face)[:40] not in log and name not in log  # no image, no person's name


# -- defect 13: --timeout bounds the work truthfully ------------------------------------------

def test_work_limiter_never_runs_more_than_its_limit():
    from prosopo.server.problems import Problem
    from prosopo.server.work import WorkLimiter

    running = 0
    peak = 0
    lock = threading.Lock()

    def slow() -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        return "done"

    limiter = WorkLimiter(2, timeout=0.05)

    async def many() -> list:
        return await asyncio.gather(*(limiter.run(slow) for _ in range(8)), return_exceptions=True)

    results = asyncio.run(many())
    assert all(isinstance(r, Problem) and r.status == 504 for r in results)
    time.sleep(0.5)  # the two started jobs finish in their threads
    assert peak <= 2 and limiter.counts()["peak"] <= 2 and limiter.counts()["running"] == 0

    patient = WorkLimiter(2, timeout=5)

    async def then() -> list:
        return await asyncio.gather(*(patient.run(slow) for _ in range(4)))

    assert asyncio.run(then()) == ["done"] * 4 and patient.counts()["peak"] == 2
    limiter.close()
    patient.close()


def test_timed_out_requests_keep_their_slots(tmp_path, photos):
    face = Image.open(io.BytesIO(next(iter(photos.values()))[0])).resize((2400, 2400))
    big = io.BytesIO()
    face.save(big, "PNG")
    s = Server(tmp_path, "--timeout", "0.05")
    try:
        key = s.key("slow")

        def ask(_: int) -> int:
            return s.post("/v1/analyze", key, files={"img": big.getvalue()}).status_code

        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(ask, range(12)))
        assert statuses.count(504) >= 8, statuses
        assert s.get("/health").json()["work"]["running"] >= 1  # timed out, still working
        deadline = time.time() + 120
        while (work := s.get("/health").json()["work"])["running"] and time.time() < deadline:
            time.sleep(0.2)
        assert work["running"] == 0 and 1 <= work["peak"] <= work["limit"] == 4, work
    finally:
        s.stop()


# -- prosopo keys without the [server] extra -----------------------------------------------

BLOCKED = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("fastapi", "anyio", "starlette", "uvicorn"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
sys.argv = ["prosopo", *sys.argv[1:]]
from prosopo.cli import main
main()
"""


def test_keys_work_without_the_web_stack(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", BLOCKED, *args], capture_output=True, text=True, timeout=120,
                              check=False, stdin=subprocess.DEVNULL)

    made = run("keys", "create", "ci", "--data", str(tmp_path), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["token"].startswith("pk_")
    listed = run("keys", "list", "--data", str(tmp_path), "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["name"] == "ci", listed.stderr
    assert run("keys", "revoke", "ci", "--data", str(tmp_path)).returncode == 0
    served = run("serve", "--data", str(tmp_path), "--port", "1")
    assert served.returncode != 0 and "Traceback" not in served.stderr
    assert "pip install 'prosopo[server]'" in served.stderr and "'.[server]'" in served.stderr


def test_server_package_imports_lazily():
    code = "import sys, prosopo.server.keys; print('fastapi' in sys.modules, 'anyio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_settings_document_the_timeout_bound():
    from prosopo.cli.server import serve
    from prosopo.server import Settings

    assert "keeps its slot" in (Settings.__doc__ or "")
    assert Path(sys.modules[serve.__module__].__file__ or "").read_text().count("at most 4 jobs run at once") == 1


# -- defect 9: a gallery name with a trailing newline ---------------------------------

def test_gallery_name_with_a_trailing_newline_is_refused(served, photos):
    face = next(iter(photos.values()))[0]
    for name in ("staff%0A", "staff%0D%0A", "staff%00", "%0Astaff"):
        r = served.post(f"/v1/galleries/{name}/enroll", served.token, data={"identity": "a", "legal_basis": "consent"},
                        files={"img": face})
        is_problem(r, 422, "bad_parameter")
    assert not [p for p in served.data.rglob("*") if "\n" in p.name or "\r" in p.name]


def test_registered_folders_with_spaces_are_hidden_whole(tmp_path):
    from prosopo.server import problems

    models = tmp_path / "a b" / "models"
    problems.hide_paths(models)
    hidden = problems.redact(f"the MiniFASNet files are missing from {models}/minifasnet; see prosopo models")
    assert "a b" not in hidden and "models/minifasnet" not in hidden and hidden.endswith("; see prosopo models")
