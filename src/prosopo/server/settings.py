"""The service's settings, as ``prosopo serve`` passes them to each worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..defaults import DEFAULT_DETECTOR, DEFAULT_MODEL


@dataclass
class Settings:
    """How one worker process serves.

    ``timeout`` bounds how long a request may wait for a work slot and run in
    it; past it the request is answered 504. Python cannot stop a thread, so
    a job that times out keeps its slot until it really finishes: at most
    ``concurrency`` jobs compute at once per worker, whatever the timeouts.
    """

    data: Path                      # keys.db and galleries/ live here
    auth: bool = True               # False only for local development
    allow_urls: bool = False        # fetch images from http(s) URLs
    max_body: int = 25 * 2**20      # bytes per request
    rate: float = 50.0              # requests per second per key (sustained)
    burst: int = 100                # requests per key at once
    timeout: float = 30.0           # seconds a request may wait for and run its work
    concurrency: int = 4            # jobs computing at once per worker (timed-out ones included)
    gallery_model: str = DEFAULT_MODEL        # recognizer of galleries created from now on
    gallery_detector: str = DEFAULT_DETECTOR  # and their detector (existing galleries keep theirs)
