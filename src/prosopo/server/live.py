"""Live camera sessions, without the networking (see :mod:`.routes_live`).

A session is one :func:`prosopo.video` stream fed one frame at a time by a
:class:`LiveSource`: :meth:`LiveSession.step` decodes a frame the client
sent (within the session's byte and pixel limits), pushes it through the
tracker and, against a gallery, the per-track identity votes, and gives the
message to send back. Steps are blocking: the route runs them in the
worker's pool, one at a time per session.

Naming a face is audited like a search: each embedding's gallery search
writes its ``search`` entry with the session's key (the gallery view acts
as that key), and each identity a track is given writes an ``identify``
entry with the pseudonym of that identity, as ``/identify`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..image import Limits, load
from ..streams.sources import FrameSource, RawFrame
from ..streams.stream import video
from .settings import Settings

if TYPE_CHECKING:
    from ..gallery import Gallery


class Start(BaseModel):
    """The first message of a session (text, JSON)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: Literal["start"]
    key: str = Field("", max_length=200, description="the API key (empty when the server runs without keys)")
    threshold: float | str | None = Field(None, description="as for identify: a distance or fpir=...")
    max_faces: int | None = Field(None, ge=1, le=100)
    every: int = Field(1, ge=1, le=10, description="run the detector on every n-th frame; the tracker predicts between")


class LiveSource(FrameSource):
    """Frames handed over one at a time with :meth:`put`, each timestamped
    with the seconds since the session started. ``fps`` is the session's
    frame-rate limit: the tracker sizes its memory in frames from it."""

    name = "live camera"

    def __init__(self, fps: float):
        super().__init__()
        self.fps = fps
        self._next: tuple[float, np.ndarray] | None = None

    def put(self, timestamp: float, rgb: np.ndarray) -> None:
        self._next = (timestamp, rgb)

    def __iter__(self) -> Iterator[RawFrame]:
        while self._next is not None:
            (timestamp, rgb), self._next = self._next, None
            self.frames += 1
            yield RawFrame(self.frames - 1, timestamp, rgb)


class LiveSession:
    """One client's stream: its tracker, its identity votes, its limits."""

    def __init__(self, gallery: Gallery | None, start: Start, settings: Settings):
        self.gallery = gallery
        self.limits = Limits(max_bytes=settings.live_max_bytes, max_pixels=settings.live_max_pixels)
        self.source = LiveSource(settings.live_fps)
        self.stream = video(self.source, gallery, threshold=start.threshold, max_faces=start.max_faces,
                            every=start.every)
        self.started = time.monotonic()

    def step(self, data: bytes, arrived: float) -> dict[str, Any]:
        """The tracks of one encoded frame (received at ``arrived``, a
        ``time.monotonic()``), as the ``result`` message."""
        rgb = load(data, limits=self.limits)
        self.source.put(arrived - self.started, rgb)
        frame = next(self.stream)
        events = [dict(e) for e in frame.events]
        self._audit(events)
        return {"type": "result", **frame.to_dict(), "width": rgb.shape[1], "height": rgb.shape[0],
                "events": events}

    def _audit(self, events: list[dict[str, Any]]) -> None:
        g = self.gallery
        named = sorted({e["identity"] for e in events if e["event"] == "identified" and e["identity"]})
        if g is None or not named:
            return
        from ..gallery.store import AuditEvent

        tracks = sum(1 for e in events if e["event"] == "identified" and e["identity"])
        entry = AuditEvent("identify", g.actor, ",".join(g.pseudonym(n) for n in named), len(named),
                           {"live": True, "tracks": tracks})
        g.store.write(lambda tx: tx.log(entry))

    def close(self) -> None:
        self.stream.close()


class SessionCount:
    """Live sessions open in this worker, at most ``limit``. Used from the
    event loop only."""

    def __init__(self, limit: int):
        self.limit, self.open = limit, 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1
