"""``prosopo serve`` and ``prosopo keys``: the web service and its API keys."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..errors import ModelError, ParameterError, ProsopoError
from ..server.settings import Settings
from .common import Json, _emit, _fail

if TYPE_CHECKING:
    from ..server.keys import KeyStore

keys_app = typer.Typer(help="Create, list and revoke the web service's API keys.", no_args_is_help=True)
Data = Annotated[Path | None, typer.Option(
    help="Where the service keeps its keys and galleries (default: $PROSOPO_DATA, else ~/.local/share/prosopo).")]
Db = Annotated[str | None, typer.Option(
    help="Keep the keys, rate limits and galleries in this PostgreSQL database instead of a data folder "
         "(postgresql://USER@HOST[:PORT]/DATABASE; the password from $PGPASSWORD or ~/.pgpass): every server "
         "given the same database serves as one.")]


def data_dir(data: Path | None) -> Path:
    from ..models import user_dir

    return data.expanduser() if data is not None else user_dir("data")


def _one_place(data: Path | None, db: str | None) -> None:
    if data is not None and db is not None:
        raise ParameterError("give --data or --db, not both: the service keeps its keys and galleries in one place")


@contextmanager
def key_store(data: Path | None, db: str | None) -> Iterator[KeyStore]:
    """The API keys of the service at ``data`` or ``db``."""
    _one_place(data, db)
    if db is None:
        from ..server.keys_sqlite import SQLiteKeyStore

        yield SQLiteKeyStore(data_dir(data) / "keys.db")
        return
    from ..server.database import Database
    from ..server.keys_postgres import PostgresKeyStore

    database = Database(db)
    try:
        yield PostgresKeyStore(database)
    finally:
        database.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LIVE_MAX_FRAME_MB = 16  # uvicorn closes WebSocket messages over 16 MiB itself (1009)


def _live_problems(sessions: int, fps: float, idle: float, frame_mb: float, pixels: int) -> list[str]:
    """What is wrong with the live camera options, each naming its value and the allowed ones."""
    problems = []
    if sessions < 1:
        problems.append(f"--live-sessions must be at least 1, not {sessions}")
    if not (math.isfinite(fps) and fps > 0):
        problems.append(f"--live-fps must be a positive number of frames per second, not {fps:g}")
    if not (math.isfinite(idle) and idle > 0):
        problems.append(f"--live-idle must be a positive number of seconds, not {idle:g}")
    if not 2**-20 <= frame_mb <= LIVE_MAX_FRAME_MB:
        problems.append(f"--live-max-frame-mb must be from 1 byte (2**-20) to {LIVE_MAX_FRAME_MB} (MiB), "
                        f"not {frame_mb:g}")
    if pixels < 16 * 16:
        problems.append(f"--live-max-pixels must be at least 256 (16x16, the smallest image read), not {pixels}")
    return problems


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the models once).")] = 1,
    data: Data = None,
    db: Db = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="No API keys: only for development on loopback.")] = False,
    allow_urls: Annotated[bool, typer.Option(help="Fetch images from public http(s) URLs.")] = False,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB.")] = 25,
    rate: Annotated[float, typer.Option(help="Requests per second per key, sustained (0: no limit).")] = 50,
    timeout: Annotated[float, typer.Option(
        help="Seconds a request may wait for and run its work, then 504. A timed-out job cannot be stopped: it "
             "keeps its slot until it ends, so at most 4 jobs run at once per worker.")] = 30,
    gallery_model: Annotated[str, typer.Option(
        help="Recognizer of the galleries created from now on (existing ones keep theirs); sface for commercial "
             "use.")] = DEFAULT_MODEL,
    gallery_detector: Annotated[str, typer.Option(
        help="Detector of the galleries created from now on; yunet for commercial use.")] = DEFAULT_DETECTOR,
    live_sessions: Annotated[int, typer.Option(
        help="Live camera sessions open at once per worker; more are refused (close code 4503).",
    )] = Settings.live_sessions,
    live_fps: Annotated[float, typer.Option(
        help="Frames per second a live session may send; more are answered dropped. The tracker sizes its memory "
             "in frames from it, so keep it near the cameras' real rate.")] = Settings.live_fps,
    live_idle: Annotated[float, typer.Option(
        help="Seconds a live session may go with no frame of the client's in hand (time spent on its frames does "
             "not count) or without reading our messages before it is closed (4408).")] = Settings.live_idle,
    live_max_frame_mb: Annotated[float, typer.Option(
        help=f"Largest live frame (an encoded image), MiB; at most {LIVE_MAX_FRAME_MB}.",
    )] = Settings.live_max_bytes / 2**20,
    live_max_pixels: Annotated[int, typer.Option(
        help="Largest live frame, width x height, in pixels.")] = Settings.live_max_pixels,
) -> None:
    """Run the web service (FastAPI on uvicorn): the API under /v1, docs at /docs.

    One access-log line per request goes to stderr (method, route, status,
    duration, key id; never bodies or images). With --db, any number of
    servers share the keys, rate limits and galleries of one PostgreSQL
    database."""
    import json

    try:
        import uvicorn

        from ..server.app import SETTINGS_ENV
        from ..server.memory import limit_malloc_arenas
    except ImportError as exc:
        _fail(ModelError(f"the web service needs the [server] extra ({exc.name} is missing): "
                         "pip install 'prosopo[server]' (from a clone of the repository: pip install '.[server]')"),
              False)

    if no_auth and not _loopback(host):
        _fail(ParameterError(f"--no-auth is only allowed on a loopback address, not {host!r}: "
                             "create a key with `prosopo keys create NAME` instead"), False)
    if workers < 1:
        _fail(ParameterError("--workers must be at least 1"), False)
    try:
        _one_place(data, db)
    except ParameterError as exc:
        _fail(exc, False)
    if not timeout > 0:
        _fail(ParameterError("--timeout must be a positive number of seconds"), False)
    live_problems = _live_problems(live_sessions, live_fps, live_idle, live_max_frame_mb, live_max_pixels)
    if live_problems:
        _fail(ParameterError("; ".join(live_problems)), False)
    from ..detectors import DETECTORS
    from ..embed import RECOGNIZERS

    try:
        gallery_model, gallery_detector = RECOGNIZERS.entry(gallery_model).name, DETECTORS.entry(gallery_detector).name
    except ProsopoError as exc:
        _fail(exc, False)
    if db is None:
        folder = data_dir(data)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        place, store = f"data in {folder}", {"data": str(folder)}
    else:
        place, store = _database_place(db), {"db": db}
    settings = {**store, "auth": not no_auth, "allow_urls": allow_urls,
                "max_body": int(max_body_mb * 2**20), "rate": rate, "burst": max(1, int(rate * 2)), "timeout": timeout,
                "gallery_model": gallery_model, "gallery_detector": gallery_detector,
                "live_sessions": live_sessions, "live_fps": live_fps, "live_idle": live_idle,
                "live_max_bytes": int(live_max_frame_mb * 2**20), "live_max_pixels": live_max_pixels}
    os.environ[SETTINGS_ENV] = json.dumps(settings)
    limit_malloc_arenas()
    typer.echo(f"prosopo serving on http://{host}:{port} ({'API keys required' if not no_auth else 'NO AUTH'}; "
               f"{place})", err=True)
    uvicorn.run("prosopo.server.app:from_environment", factory=True, host=host, port=port, workers=workers,
                log_level="warning", server_header=False)


def _database_place(url: str) -> str:
    """Where the keys and galleries are, once the database at ``url`` has
    answered; else a one-line error and exit code 7 (2 for a bad URL)."""
    from ..server.database import Database

    try:
        database = Database(url)
    except ProsopoError as exc:
        _fail(exc, False)
    database.close()
    return f"keys and galleries in the {database.where}"


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what will use the key.")],
    scope: Annotated[list[str] | None, typer.Option(
        help="Allow only this (repeatable): detect, represent, verify, analyze, enroll, identify, read, erase. "
             "Default: all.")] = None,
    gallery: Annotated[list[str] | None, typer.Option(help="Allow only this gallery (repeatable).")] = None,
    data: Data = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Create a key; its token is printed once and never stored."""
    try:
        with key_store(data, db) as keys:
            key, token = keys.create(name, scope, gallery)
    except ProsopoError as exc:
        _fail(exc, json_out)
    _emit({**key.to_dict(), "token": token}, json_out,
          f"{token}\nkey {key.id} for {key.name!r}: scopes {', '.join(key.scopes)}; galleries "
          f"{', '.join(key.galleries)}\nkeep the token secret: it is shown only now")


@keys_app.command("list")
def keys_list(data: Data = None, db: Db = None, json_out: Json = False) -> None:
    """List keys (ids, names, scopes; never tokens)."""
    try:
        with key_store(data, db) as store:
            keys = store.list()
    except ProsopoError as exc:
        _fail(exc, json_out)
    lines = [f"{k.id}  {k.name:<24} {'REVOKED ' + k.revoked_at if k.revoked_at else 'active'}  "
             f"scopes={','.join(k.scopes)} galleries={','.join(k.galleries)}" for k in keys]
    _emit([k.to_dict() for k in keys], json_out, "\n".join(lines) or "no keys")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or name.")], data: Data = None, db: Db = None,
                json_out: Json = False) -> None:
    """Revoke a key at once (running servers check keys on every request)."""
    try:
        with key_store(data, db) as keys:
            done = keys.revoke(key)
    except ProsopoError as exc:
        _fail(exc, json_out)
    _emit(done.to_dict(), json_out, f"revoked {done.id} ({done.name})")
