"""Live camera over a WebSocket: ``/v1/live`` (tracks, scope ``detect``)
and ``/v1/galleries/{gallery}/live`` (tracks named from the gallery, scope
``identify``). The protocol, limits and close codes are in docs/service.md.

The key comes in the first message, not in the URL (which ends up in logs)
nor in a header (which browsers cannot set on a WebSocket). Every frame the
client sends gets exactly one answer with its ``seq``: a ``result``, a
``dropped`` (over the session's frame rate, over the key's rate, or
replaced by a newer frame while the server was busy) or an ``error`` (a
problem document in its ``error`` field). On ``{"type": "stop"}`` the frames
already received are answered (for at most ``--timeout`` seconds), then the
socket is closed with 1000. The idle timeout counts only the time when none
of the client's frames is waiting or being worked on. A problem that ends the session
is sent as an ``error`` message without ``seq``, then the
socket is closed with code 4000 + the HTTP status the same problem gets
and the problem's ``code`` as the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from ..errors import ImageError, ProsopoError
from .keys import Key
from .limits import RateLimiter
from .live import LiveSession, Start
from .problems import Problem, document, from_prosopo
from .service import Service

log = logging.getLogger("prosopo.server")
router = APIRouter()
HELLO_TIMEOUT = 10.0  # seconds to send the start message
KEY_RECHECK = 5.0     # seconds between checks that the key was not revoked meanwhile
FPS_BURST = 2         # frames a session may send at once within its frame rate


@router.websocket("/v1/live")
async def live(websocket: WebSocket) -> None:
    await session(websocket, None)


@router.websocket("/v1/galleries/{gallery}/live")
async def live_gallery(websocket: WebSocket, gallery: str) -> None:
    await session(websocket, gallery)


class Gone(WebSocketDisconnect):
    """A send that failed because the client left or the session is stopping: not an error."""


class Channel:
    """The socket's sending side: one message at a time (the frame worker
    and the receiver both answer), each within ``timeout`` seconds, so a
    client that stops reading cannot hold its session for ever."""

    def __init__(self, websocket: WebSocket, timeout: float):
        self.websocket, self.timeout = websocket, timeout
        self.stopping = False  # the client sent stop: the socket may close under a send
        self._lock = asyncio.Lock()

    def open(self) -> bool:
        ws = self.websocket
        return ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED

    async def send(self, message: dict[str, Any]) -> None:
        """Send, or :class:`Gone` if the session is stopping or the socket
        no longer open (the client left: nothing to report)."""
        async with self._lock:
            try:
                await asyncio.wait_for(self.websocket.send_text(json.dumps(message, separators=(",", ":"))),
                                       self.timeout)
            except TimeoutError:
                if self.stopping:
                    raise Gone(1000) from None
                raise Problem(408, "idle", f"the client read nothing for {self.timeout:g} s") from None
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                if self.stopping or not self.open():
                    raise Gone(getattr(exc, "code", 1006)) from None
                raise

    async def refuse(self, problem: Problem) -> None:
        """The problem as an ``error`` message, then the close; nothing if the client is gone."""
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        try:
            await self.send({"type": "error", "error": document(problem.status, problem.code, problem.detail)})
            await self.websocket.close(4000 + problem.status, problem.code)
        except (Problem, WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client left first, or reads nothing


async def session(websocket: WebSocket, gallery: str | None) -> None:
    s: Service = websocket.app.state.service
    await websocket.accept()
    channel = Channel(websocket, s.settings.live_idle)
    try:
        start = await _start(websocket)
        key = await s.key(start.key)
        websocket.state.key_id = key.id  # for the access log
        await s.admit(key, "identify" if gallery else "detect", gallery)
        if not s.live.enter():
            raise Problem(503, "busy", f"this server already runs {s.live.limit} live sessions; try again later")
        try:
            g = await s.gallery(gallery, key) if gallery else None
            live = await s.work.run(LiveSession, g, start, s.settings)
            try:
                await channel.send({"type": "ready", "gallery": gallery, "limits": {
                    "max_fps": s.settings.live_fps, "max_bytes": s.settings.live_max_bytes,
                    "max_pixels": s.settings.live_max_pixels, "idle_seconds": s.settings.live_idle}})
                await _run(websocket, channel, s, live, key, start.key)
            finally:
                live.close()
        finally:
            s.live.leave()
    except Problem as problem:
        await channel.refuse(problem)
    except ProsopoError as exc:
        await channel.refuse(from_prosopo(exc))
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("unexpected error in a live session on %s", websocket.url.path)
        await channel.refuse(Problem(500, "internal_error", "the server met an unexpected error; it has been logged"))


async def _start(websocket: WebSocket) -> Start:
    try:
        message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT)
    except TimeoutError:
        raise Problem(408, "idle", f"send the start message within {HELLO_TIMEOUT:g} s") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise Problem(400, "bad_message", 'the first message must be text: {"type": "start", "key": ...}')
    try:
        return Start.model_validate_json(text)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise Problem(400, "bad_message", "the message is not valid JSON") from None
        parts = [f"{'.'.join(str(x) for x in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors()[:5]]
        raise Problem(422, "invalid_request", "; ".join(parts)) from None


async def _run(websocket: WebSocket, channel: Channel, s: Service, live: LiveSession, key: Key,
               token: str) -> None:
    """Receive frames and work on the newest one, until the client stops or a problem ends the session."""
    settings = s.settings
    waiting: list[tuple[int, bytes, float]] = []  # at most one frame: the newest not yet started
    arrived = asyncio.Event()
    idle = Idle(settings.live_idle)

    async def work() -> None:
        while True:
            await arrived.wait()
            arrived.clear()
            seq, data, at = waiting.pop()
            idle.working = True  # before any await: the frame is never out of sight of the idle timer
            try:
                try:
                    reply = await s.work.run(live.step, data, at)
                except ImageError as exc:  # this frame only; the session goes on
                    p = from_prosopo(exc)
                    reply = {"type": "error", "error": document(p.status, p.code, p.detail)}
                await channel.send({**reply, "seq": seq})
            finally:
                idle.working = False
                idle.heard(bool(waiting))

    async def receive() -> None:
        fps = RateLimiter(settings.live_fps, FPS_BURST)
        seq, checked = 0, time.monotonic()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            idle.heard(bool(waiting) or idle.working)
            data = message.get("bytes")
            if data is None:
                if _stop(message.get("text") or ""):
                    await _close(channel, idle, settings.timeout)
                    return
                raise Problem(400, "bad_message", 'send frames as binary messages, or {"type": "stop"} as text')
            seq += 1
            now = time.monotonic()
            if now - checked > KEY_RECHECK:
                await s.key(token)  # a key revoked meanwhile ends the session
                checked = now
            if len(data) > settings.live_max_bytes:
                await channel.send({"type": "error", "seq": seq, "error": document(
                    413, "too_large", f"the frame is larger than {settings.live_max_bytes} bytes")})
            elif fps.take(""):
                await channel.send({"type": "dropped", "seq": seq, "reason": "max_fps"})
            elif await s.take(key):
                await channel.send({"type": "dropped", "seq": seq, "reason": "rate_limited"})
            else:  # replaced before any await, so the worker never finds the slot empty
                replaced = waiting[0][0] if waiting else None
                waiting[:] = [(seq, data, now)]
                idle.heard(True)
                arrived.set()
                if replaced is not None:  # the server is behind: the older frame is not worth doing any more
                    await channel.send({"type": "dropped", "seq": replaced, "reason": "behind"})

    receiver = asyncio.create_task(receive())
    tasks = [asyncio.create_task(work()), receiver, asyncio.create_task(idle.watch(channel))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if receiver in done and receiver.exception() is None:
        return  # the client stopped or left: whatever the worker met since does not matter
    for task in done:
        task.result()  # a problem in any ends the session with its close code


class Idle:
    """The session's idle timer: it runs only while none of the client's
    frames is waiting or being worked on (time the server spends on the
    client's frame is not the client's silence), and stops at stop."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.since = time.monotonic()  # the last message, or the last frame answered
        self.busy = False
        self.working = False
        self.changed = asyncio.Event()

    def heard(self, busy: bool) -> None:
        """A message came, or a frame was answered; ``busy``: a frame is still in hand."""
        self.busy = busy or self.working
        self.since = time.monotonic()
        self.changed.set()

    async def drained(self, timeout: float) -> None:
        """Until no frame is in hand, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.busy and (left := deadline - time.monotonic()) > 0:
            self.changed.clear()
            await self._changed(left)

    async def _changed(self, timeout: float | None) -> None:
        """Until :attr:`changed` is set or ``timeout`` passes. Not with
        ``wait_for``: on Python 3.11 it loses a cancel that comes as the
        event is set, and the session would never end."""
        waiter = asyncio.ensure_future(self.changed.wait())
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            waiter.cancel()

    async def watch(self, channel: Channel) -> None:
        while True:
            self.changed.clear()
            if self.busy or channel.stopping:
                await self._changed(None)
                continue
            left = self.since + self.seconds - time.monotonic()
            if left <= 0:
                raise Problem(408, "idle", f"no frame for {self.seconds:g} s")
            await self._changed(left)


async def _close(channel: Channel, idle: Idle, timeout: float) -> None:
    """The client sent stop: its frames already received are answered
    (for at most ``timeout`` seconds), then the close 1000."""
    channel.stopping = True
    idle.changed.set()
    await idle.drained(timeout)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await channel.websocket.close(1000)


def _stop(text: str) -> bool:
    try:
        return json.loads(text) == {"type": "stop"}
    except ValueError:
        return False
