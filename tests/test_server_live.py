"""The live camera WebSocket (/v1/live, /v1/galleries/{g}/live) against a
real server process: frames of the synthetic clip (LFW faces moving on a
background) tracked and named; keys, scopes, revocation, bad messages,
limits and the audit log."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
client = pytest.importorskip("websockets.sync.client", reason="websockets (the [server] extra) is not installed")
from test_server import Server, cli
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.uri import parse_uri

from prosopo.streams.synthetic import synthetic_clip


@pytest.fixture(scope="module")
def clip(identification):
    names = sorted(identification)[:4]
    return synthetic_clip([(name, identification[name][0]) for name in names])


@pytest.fixture(scope="module")
def jpegs(clip) -> list[bytes]:
    return [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in clip.frames]


@pytest.fixture(scope="module")
def server(tmp_path_factory, identification, clip):
    """A server whose gallery "staff" holds the clip's first three people
    (from other photos of them); the fourth is a stranger."""
    s = Server(tmp_path_factory.mktemp("live"))
    s.admin = s.key("admin")
    for name in clip.people[:3]:
        r = s.post("/v1/galleries/staff/enroll", s.admin, data={"identity": name, "legal_basis": "consent"},
                   files={"img": identification[name][1].read_bytes()})
        assert r.status_code == 200, r.text
    yield s
    s.stop()


@contextlib.contextmanager
def connect(server: Server, path: str, key: str | None = None, **options) -> Iterator[client.ClientConnection]:
    """A connection, started with ``key`` unless it is None."""
    with client.connect(server.url.replace("http://", "ws://") + path, open_timeout=30) as ws:
        if key is not None:
            ws.send(json.dumps({"type": "start", "key": key, **options}))
        yield ws


def ready(ws) -> dict:
    message = json.loads(ws.recv(timeout=60))
    assert message["type"] == "ready", message
    return message


def problem(message: dict, status: int, code: str) -> dict:
    assert message["type"] == "error", message
    error = message["error"]
    assert (error["status"], error["code"]) == (status, code), message
    assert error["title"] and error["detail"] and "Traceback" not in error["detail"]
    return error


def refused(ws, close: int, code: str) -> dict:
    """The error before the close, checked against the close code (4000 + status) and reason (the code)."""
    error = problem(json.loads(ws.recv(timeout=60)), close - 4000, code)
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=30)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (close, code)
    return error


def refusal(server: Server, path: str, key: str, close: int, code: str, **options) -> dict:
    with connect(server, path, key, **options) as ws:
        return refused(ws, close, code)


def ask(ws, data: bytes) -> dict:
    """One frame, one answer (pacing within the session's 10 frames a second)."""
    time.sleep(0.1)
    ws.send(data)
    return json.loads(ws.recv(timeout=60))


def test_gallery_session_names_the_known_people(server, clip, jpegs):
    known, stranger = set(clip.people[:3]), clip.people[3]
    with connect(server, "/v1/galleries/staff/live", server.admin) as ws:
        limits = ready(ws)["limits"]
        assert limits["max_fps"] == 10 and limits["max_bytes"] > 0 and limits["idle_seconds"] > 0
        named: set[str] = set()
        events: list[dict] = []
        for seq, data in enumerate(jpegs[::2], start=1):
            reply = ask(ws, data)
            assert reply["type"] == "result" and reply["seq"] == seq, reply
            assert (reply["width"], reply["height"]) == (640, 360)
            named |= {t["identity"] for t in reply["tracks"] if t["identity"]}
            events += reply["events"]
        ws.send(json.dumps({"type": "stop"}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert named and named <= known and stranger not in named
    assert {"track_started", "identified"} <= {e["event"] for e in events}
    audit = server.get("/v1/galleries/staff/audit?verify=true", server.admin).json()
    assert audit["verify"]["ok"] is True
    key_id = server.admin.split("_")[1]
    live = [e for e in audit["entries"] if e["action"] == "identify" and e["detail"].get("live")]
    assert live and all(e["actor"].startswith(f"key:{key_id}") for e in live)
    assert sum(e["count"] for e in live) >= len(named)
    assert any(e["action"] == "search" and e["actor"].startswith(f"key:{key_id}") for e in audit["entries"])
    assert not any(name in json.dumps(audit) for name in clip.people)  # pseudonyms only
    assert "WS /v1/galleries/{gallery}/live 1000" in server.log()


def test_detect_session_tracks_without_names(server, jpegs):
    detector = server.key("detector", "--scope", "detect")
    with connect(server, "/v1/live", detector) as ws:
        assert ready(ws)["gallery"] is None
        replies = [ask(ws, data) for data in jpegs[:6]]
    tracks = [t for r in replies for t in r["tracks"]]
    assert tracks and all(t["identity"] is None for t in tracks)
    assert len({t["track_id"] for t in tracks}) >= 3


def test_keys_and_scopes(server):
    refusal(server, "/v1/live", "", 4401, "no_key")
    refusal(server, "/v1/live", "pk_nothere_wrong", 4401, "bad_key")
    detector = server.key("detect-only", "--scope", "detect")
    refusal(server, "/v1/galleries/staff/live", detector, 4403, "scope")
    identifier = server.key("identify-only", "--scope", "identify")
    refusal(server, "/v1/live", identifier, 4403, "scope")
    other = server.key("other-gallery", "--gallery", "other")
    refusal(server, "/v1/galleries/staff/live", other, 4403, "gallery")
    refusal(server, "/v1/galleries/nosuch/live", server.admin, 4404, "not_found")
    refusal(server, "/v1/galleries/bad%20name/live", server.admin, 4422, "bad_parameter")


def test_revoked_key_ends_the_session(server, jpegs):
    leaver = server.key("live-leaver")
    with connect(server, "/v1/galleries/staff/live", leaver) as ws:
        ready(ws)
        assert ask(ws, jpegs[0])["type"] == "result"
        assert cli("keys", "revoke", "live-leaver", "--data", str(server.data)).returncode == 0
        time.sleep(5.5)  # keys are checked again every 5 s during a session
        ws.send(jpegs[1])
        refused(ws, 4401, "bad_key")
    refusal(server, "/v1/galleries/staff/live", leaver, 4401, "bad_key")


def test_garbage_messages(server, jpegs):
    with connect(server, "/v1/live") as ws:
        ws.send(jpegs[0])  # a frame before the start message
        refused(ws, 4400, "bad_message")
    with connect(server, "/v1/live") as ws:
        ws.send("{not json")
        refused(ws, 4400, "bad_message")
    refusal(server, "/v1/live", server.admin, 4422, "invalid_request", surprise=1)
    refusal(server, "/v1/live", server.admin, 4422, "invalid_request", every=0)
    refusal(server, "/v1/galleries/staff/live", server.admin, 4422, "bad_parameter", threshold="fpir=lots")
    with connect(server, "/v1/live", server.admin) as ws:
        ready(ws)
        bad = ask(ws, b"not an image at all")
        assert bad["seq"] == 1
        problem(bad, 400, "bad_image")
        problem(ask(ws, jpegs[0][: len(jpegs[0]) // 3]), 400, "bad_image")
        good = ask(ws, jpegs[0])  # the session goes on after a bad frame
        assert good["type"] == "result" and good["seq"] == 3
        ws.send("hello")
        refused(ws, 4400, "bad_message")


def test_hello_timeout(server):
    with connect(server, "/v1/live") as ws:
        refused(ws, 4408, "idle")


def test_frame_limits(server, jpegs):
    with connect(server, "/v1/live", server.admin) as ws:
        limits = ready(ws)["limits"]
        problem(ask(ws, b"\xff\xd8" + b"\0" * limits["max_bytes"]), 413, "too_large")
        wide = cv2.imencode(".jpg", np.full((1200, 2000, 3), 128, np.uint8))[1].tobytes()
        assert len(wide) < limits["max_bytes"]
        assert "pixels" in problem(ask(ws, wide), 400, "bad_image")["detail"]
        # frames over the session's frame rate are dropped, each answered
        for data in jpegs[:8]:
            ws.send(data)
        replies = [json.loads(ws.recv(timeout=60)) for _ in range(8)]
        assert sorted(r["seq"] for r in replies) == list(range(3, 11))
        assert any(r["type"] == "dropped" and r["reason"] == "max_fps" for r in replies)
        assert any(r["type"] == "result" for r in replies)


def test_session_limit(server):
    with contextlib.ExitStack() as stack:
        for _ in range(4):
            ready(stack.enter_context(connect(server, "/v1/live", server.admin)))
        assert server.get("/health").json()["live"] == {"sessions": 4, "limit": 4}
        refusal(server, "/v1/live", server.admin, 4503, "busy")
    deadline = time.time() + 10
    while server.get("/health").json()["live"]["sessions"] and time.time() < deadline:
        time.sleep(0.1)
    with connect(server, "/v1/live", server.admin) as ws:
        ready(ws)


def crowd(identification) -> bytes:
    """A 1920x1080 frame of 45 faces: embedding each new track takes the server a while."""
    from prosopo.image import load

    paths = [path for photos in identification.values() for path in photos][:45]
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    for i, path in enumerate(paths):
        row, col = divmod(i, 9)
        canvas[row * 216:(row + 1) * 216, col * 213:(col + 1) * 213] = cv2.resize(load(path)[25:225, 25:225],
                                                                                  (213, 216))
    return cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_when_behind_only_the_newest_frame_waits(server, identification):
    """While the server embeds a crowd's new tracks, frames sent within the
    frame rate replace the one waiting; each is answered once."""
    frame = crowd(identification)
    with connect(server, "/v1/live", server.admin) as ws:
        ready(ws)
        for _ in range(6):
            ws.send(frame)
            time.sleep(0.11)
        replies = [json.loads(ws.recv(timeout=120)) for _ in range(6)]
    assert sorted(r["seq"] for r in replies) == list(range(1, 7))
    behind = [r["seq"] for r in replies if r["type"] == "dropped" and r["reason"] == "behind"]
    assert behind, replies
    results = [r for r in replies if r["type"] == "result"]
    assert results[-1]["seq"] == 6 and len(results[-1]["tracks"]) >= 40  # the newest frame is always done


def test_serve_options_set_the_live_limits(tmp_path):
    s = Server(tmp_path, "--live-sessions", "1", "--live-fps", "25", "--live-idle", "5", "--live-max-frame-mb", "0.5",
               "--live-max-pixels", str(640 * 360))
    try:
        key = s.key("one-camera")
        with connect(s, "/v1/live", key) as ws:
            assert ready(ws)["limits"] == {"max_fps": 25, "max_bytes": 2**19, "max_pixels": 640 * 360,
                                           "idle_seconds": 5}
            assert s.get("/health").json()["live"] == {"sessions": 1, "limit": 1}
            refusal(s, "/v1/live", key, 4503, "busy")
    finally:
        s.stop()


@pytest.mark.parametrize(("option", "value"), [("--live-sessions", "0"), ("--live-fps", "0"), ("--live-fps", "nan"),
                                               ("--live-idle", "-1"), ("--live-max-frame-mb", "17"),
                                               ("--live-max-pixels", "100")])
def test_serve_refuses_bad_live_options(tmp_path, option, value):
    out = cli("serve", option, value, "--data", str(tmp_path), "--port", "1")
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"error: {option} must be") and value in out.stderr and "Traceback" not in out.stderr


class SlowCloser:
    """A client on the websockets library's sans-I/O protocol, so the test
    decides when the server's close frame is answered (the threaded client
    answers it at once): a server that closed before its last answer would
    find the socket closing while the frame is still worked on."""

    def __init__(self, server: Server, path: str):
        uri = parse_uri(server.url.replace("http://", "ws://") + path)
        self.protocol = ClientProtocol(uri)
        self.sock = socket.create_connection((uri.host, uri.port), timeout=60)
        self.protocol.send_request(self.protocol.connect())
        self.flush()
        self.events: list = []
        self.next()  # the handshake's response

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def next(self):
        while not self.events:
            data = self.sock.recv(2**20)
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            self.events += self.protocol.events_received()
        return self.events.pop(0)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            self.protocol.send_text(data.encode())
        else:
            self.protocol.send_binary(data)
        self.flush()

    def message(self) -> Frame:
        frame = self.next()
        assert isinstance(frame, Frame), frame
        return frame

    def close(self) -> None:
        self.sock.close()


def test_a_stop_right_after_a_frame_answers_it_then_closes_quietly(server, jpegs):
    """The frame in flight when the client stops is answered before the
    close 1000, however slowly the client answers the close, and a normal
    stop leaves no traceback in the server's log."""
    before = len(server.log())
    for i in range(5):
        ws = SlowCloser(server, "/v1/live")
        try:
            ws.send(json.dumps({"type": "start", "key": server.admin}))
            assert json.loads(ws.message().data)["type"] == "ready"
            ws.send(jpegs[i])
            ws.send(json.dumps({"type": "stop"}))
            answer = ws.message()
            assert answer.opcode == Opcode.TEXT, answer
            reply = json.loads(answer.data)
            assert reply["type"] == "result" and reply["seq"] == 1, reply
            closing = ws.message()
            assert closing.opcode == Opcode.CLOSE and Close.parse(closing.data).code == 1000
            time.sleep(0.5)  # the close is answered late
            ws.flush()
        finally:
            ws.close()
    for i in range(20):  # the threaded client: the frame, at once the stop
        with connect(server, "/v1/live", server.admin) as ws:
            ready(ws)
            ws.send(jpegs[i % len(jpegs)])
            ws.send(json.dumps({"type": "stop"}))
            reply = json.loads(ws.recv(timeout=60))
            assert reply["type"] == "result" and reply["seq"] == 1, reply
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    time.sleep(0.5)
    log = server.log()[before:]
    assert "Traceback" not in log and "unexpected error" not in log, log
    assert log.count("WS /v1/live 1000") == 25, log


def test_idle_counts_only_time_without_a_frame_in_hand(tmp_path, identification):
    """With --live-idle 0.5, frames the server takes longer than that on
    (four sessions each sending 1920x1080 crowds, one at a time) are
    answered, not closed 4408; a client that then sends nothing for 0.5 s
    is closed 4408."""
    frame = crowd(identification)
    s = Server(tmp_path, "--live-idle", "0.5")
    try:
        key = s.key("idle")
        replies: list[dict] = []
        took: list[float] = []

        def one() -> None:
            with connect(s, "/v1/live", key) as ws:
                ready(ws)
                for _ in range(3):
                    start = time.monotonic()
                    ws.send(frame)
                    replies.append(json.loads(ws.recv(timeout=120)))
                    took.append(time.monotonic() - start)
                refused(ws, 4408, "idle")  # nothing more sent

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert len(replies) == 12 and all(r["type"] == "result" for r in replies), replies
        assert max(took) > 0.75, took  # the server did take longer than the idle time on them
        with connect(s, "/v1/live", key) as ws:
            ready(ws)
            start = time.monotonic()
            refused(ws, 4408, "idle")
            assert 0.4 < time.monotonic() - start < 5
        assert "Traceback" not in s.log()
    finally:
        s.stop()
