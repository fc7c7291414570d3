"""The service's settings, as ``prosopo serve`` passes them to each worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..errors import ParameterError


@dataclass
class Settings:
    """How one worker process serves.

    ``timeout`` bounds how long a request may wait for a work slot and run in
    it; past it the request is answered 504. Python cannot stop a thread, so
    a job that times out keeps its slot until it really finishes: at most
    ``concurrency`` jobs compute at once per worker, whatever the timeouts.
    The ``live_*`` settings bound the live camera sessions (see :mod:`.live`).

    The service keeps its API keys and galleries under ``data`` (one server)
    or in the PostgreSQL database at ``db`` (any number of servers, which
    then share keys, rate limits and galleries: see :mod:`.database`); give
    one of them.
    """

    data: Path | None = None        # keys.db and galleries/ live here
    db: str | None = None           # or in this PostgreSQL database (postgresql://user@host/db)
    auth: bool = True               # False only for local development
    allow_urls: bool = False        # fetch images from http(s) URLs
    max_body: int = 25 * 2**20      # bytes per request
    rate: float = 50.0              # requests per second per key (sustained)
    burst: int = 100                # requests per key at once
    timeout: float = 30.0           # seconds a request may wait for and run its work
    concurrency: int = 4            # jobs computing at once per worker (timed-out ones included)
    gallery_model: str = DEFAULT_MODEL        # recognizer of galleries created from now on
    gallery_detector: str = DEFAULT_DETECTOR  # and their detector (existing galleries keep theirs)
    live_sessions: int = 4          # live camera sessions at once per worker
    live_fps: float = 10.0          # frames per second a live session may send; more are dropped
    live_max_bytes: int = 2 * 2**20  # bytes per live frame (an encoded image)
    live_max_pixels: int = 1920 * 1080  # pixels per live frame
    live_idle: float = 30.0         # seconds a live session may stay silent before it is closed

    def __post_init__(self) -> None:
        if (self.data is None) == (self.db is None):
            raise ParameterError("the service keeps its keys and galleries under a data folder or in a PostgreSQL "
                                 "database: give one of data and db")
